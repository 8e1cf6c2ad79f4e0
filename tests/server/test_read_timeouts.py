"""Read timeouts: slow heads and trickled bodies are cut; responses (SSE) are never timed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.server.conftest import closed_by_server, connect, eventually, read_reply


@pytest.mark.slow
def test_head_sent_line_by_line_is_cut_at_the_header_timeout(serve_tiny: Any) -> None:
    server = serve_tiny(header_timeout_s=1.0)
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        sent = 1
        sock.settimeout(0.3)
        reply = None
        while time.monotonic() - started < 5:
            try:
                reply = read_reply(sock)
                break
            except TimeoutError:
                sock.sendall(b"X-Line-%d: still coming\r\n" % sent)  # one header line per 0.3 s
                sent += 1
        elapsed = time.monotonic() - started
        assert reply is not None, "the slow head was never cut"
        assert reply.status == 408
        assert reply.error() == {
            "message": "The request headers were not received within 1 s.",
            "type": "invalid_request_error",
            "code": "request_timeout",
            "param": None,
        }
        assert 0.9 < elapsed < 2.0
        assert sent >= 3  # the client kept sending: progress does not extend the deadline
        sock.settimeout(5)
        assert closed_by_server(sock)


@pytest.mark.slow
def test_chunked_body_at_one_byte_per_second_is_cut(serve_tiny: Any) -> None:
    server = serve_tiny(body_timeout_s=1.0, body_min_rate=1024)
    with connect(server.port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        started = time.monotonic()
        sock.settimeout(1.0)
        reply = None
        while time.monotonic() - started < 6:
            sock.sendall(b"1\r\nx\r\n")
            try:
                reply = read_reply(sock)
                break
            except TimeoutError:
                continue
        elapsed = time.monotonic() - started
        assert reply is not None, "the trickled body was never cut"
        assert reply.status == 408
        assert reply.error()["code"] == "request_timeout"
        assert "body" in reply.error()["message"]
        assert elapsed < 2.5
    assert eventually(lambda: server.open_connections == 0)


@pytest.mark.slow
def test_body_that_keeps_the_minimum_rate_is_not_cut(serve_tiny: Any) -> None:
    # 2.5 s of body, well past the 1 s window, but at ~20 KiB/s (minimum 1 KiB/s).
    server = serve_tiny(body_timeout_s=1.0, body_min_rate=1024)
    pieces = 25
    with connect(server.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (pieces * 2048)
        )
        for _ in range(pieces):
            sock.sendall(b"y" * 2048)
            time.sleep(0.1)
        reply = read_reply(sock)
    assert reply.status == 200
    assert b'"bytes": 51200' in reply.body


@pytest.mark.slow
def test_slow_but_short_body_finishing_within_the_window_is_served(serve_tiny: Any) -> None:
    server = serve_tiny(body_timeout_s=1.0, body_min_rate=1024)
    with connect(server.port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n")
        for byte in (b"a", b"b", b"c"):
            time.sleep(0.2)
            sock.sendall(byte)
        reply = read_reply(sock)
    assert reply.status == 200
    assert b'"bytes": 3' in reply.body


@pytest.mark.slow
def test_streamed_response_longer_than_every_timeout_is_not_cut(serve_tiny: Any) -> None:
    server = serve_tiny(
        header_timeout_s=0.5, body_timeout_s=0.5, keepalive_timeout_s=0.5, body_min_rate=1 << 20
    )
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /sse?seconds=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}")
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, f"stream cut after {time.monotonic() - started:.2f} s"
            data += chunk
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"data: [DONE]" in data
    assert data.count(b"data: ") >= 15
    assert elapsed >= 1.9
