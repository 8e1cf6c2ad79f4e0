"""Request heads are capped before authentication: 431, and no memory held for oversized heads."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.server.conftest import ServerProcess, closed_by_server, connect, read_reply

HUGE = 32 * 1024 * 1024


def _send_unfinished_head(sock: socket.socket, size: int) -> None:
    """Send a request head with one header value of `size` bytes, never ending the head."""
    try:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: gateway\r\nX-Filler: ")
        block = b"a" * 65536
        for _ in range(size // len(block)):
            sock.sendall(block)
    except OSError:
        pass  # the server answered and closed: that is the point


@pytest.mark.slow
def test_huge_unfinished_head_gets_431_before_auth(gateway_process: ServerProcess) -> None:
    with connect(gateway_process.port) as sock:
        sender = threading.Thread(target=_send_unfinished_head, args=(sock, HUGE))
        sender.start()
        reply = read_reply(sock)
        sender.join(timeout=30)
        assert not sender.is_alive()
    # No Authorization header: a 401 would mean the app ran. 431 means it never saw the request.
    assert reply.status == 431
    assert reply.headers["connection"] == "close"
    assert reply.headers["content-type"] == "application/json"
    error = reply.error()
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "headers_too_large"
    assert "65536" in error["message"]

    with connect(gateway_process.port) as sock:  # the gateway itself still answers
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: gateway\r\n\r\n")
        assert read_reply(sock).status == 401


@pytest.mark.slow
def test_complete_head_over_the_limit_in_one_write_gets_431(
    gateway_process: ServerProcess,
) -> None:
    head = (
        b"GET /v1/models HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer sk-test-key\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
        + b"\r\n"
    )
    with connect(gateway_process.port) as sock:
        sock.sendall(head)
        reply = read_reply(sock)
        assert reply.status == 431
        assert reply.error()["code"] == "headers_too_large"
        assert closed_by_server(sock)

    just_under = (
        b"GET /v1/models HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer sk-test-key\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(60))
        + b"\r\n"
    )
    with connect(gateway_process.port) as sock:
        sock.sendall(just_under)
        assert read_reply(sock).status == 200


@pytest.mark.slow
def test_oversized_head_pipelined_behind_a_normal_request_gets_431(
    gateway_process: ServerProcess,
) -> None:
    small = b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n"
    big = b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n"
    with connect(gateway_process.port) as sock:
        sock.sendall(small + big)  # one write: the second head arrives in the same read
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"HTTP/1.1 431 Request Header Fields Too Large" in data
    assert data.endswith(b'"code":"headers_too_large","param":null}}')


@pytest.mark.slow
def test_ten_huge_heads_do_not_grow_the_server(gateway_process: ServerProcess) -> None:
    def wave(count: int) -> list[socket.socket]:
        socks = [connect(gateway_process.port) for _ in range(count)]
        senders = [threading.Thread(target=_send_unfinished_head, args=(s, HUGE)) for s in socks]
        for t in senders:
            t.start()
        for t in senders:
            t.join(timeout=60)
        return socks

    for sock in wave(1):  # warm-up: first use of the reply path allocates a little
        sock.close()
    time.sleep(0.2)
    rss_before, peak_before = gateway_process.memory_kib()

    socks = wave(10)  # the clients keep their connections open while we measure
    try:
        replies = [read_reply(s) for s in socks]
        rss_after, peak_after = gateway_process.memory_kib()
    finally:
        for sock in socks:
            sock.close()

    assert [r.status for r in replies] == [431] * 10
    print(
        f"ten 32 MiB heads: RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MiB, "
        f"peak {peak_before / 1024:.1f} -> {peak_after / 1024:.1f} MiB"
    )
    assert rss_after - rss_before < 4 * 1024
    assert peak_after - peak_before < 4 * 1024
