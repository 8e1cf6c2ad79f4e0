"""Idle and half-sent connections are released on time; the connection cap refuses the excess."""

from __future__ import annotations

import selectors
import socket
import time
from typing import Any

import httpx
import pytest

from tests.server.conftest import closed_by_server, connect, eventually, read_reply


def _wait_all_closed(
    socks: list[socket.socket], seconds: float
) -> tuple[dict[socket.socket, float], dict[socket.socket, bytes]]:
    """When the server closed each socket (monotonic time; absent: never), and what it sent."""
    started = time.monotonic()
    closed: dict[socket.socket, float] = {}
    buffers: dict[socket.socket, bytes] = {s: b"" for s in socks}
    with selectors.DefaultSelector() as sel:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        while len(closed) < len(socks) and time.monotonic() - started < seconds:
            for key, _ in sel.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    buffers[sock] += chunk
                    continue
                closed[sock] = time.monotonic()
                sel.unregister(sock)
    return closed, buffers


@pytest.mark.slow
def test_idle_and_half_sent_connections_are_released_within_the_timeouts(
    serve_tiny: Any,
) -> None:
    server = serve_tiny(keepalive_timeout_s=2.0, header_timeout_s=3.0, max_connections=1024)
    started = time.monotonic()
    idle = [connect(server.port) for _ in range(500)]
    half = [connect(server.port) for _ in range(200)]
    for s in half:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-")
    connected = time.monotonic() - started
    try:
        assert eventually(lambda: server.open_connections == 700, seconds=1.5)
        closed, received = _wait_all_closed(idle + half, 8)
        idle_times = [closed[s] - started for s in idle if s in closed]
        half_times = [closed[s] - started for s in half if s in closed]
        print(
            f"700 connected in {connected:.2f} s; 500 idle released by "
            f"{max(idle_times, default=-1):.2f} s, 200 half-sent by "
            f"{max(half_times, default=-1):.2f} s"
        )
        assert len(idle_times) == 500
        assert len(half_times) == 200
        assert max(idle_times) < 2.0 + connected + 1.5  # keep-alive timeout 2 s
        assert min(idle_times) > 1.9
        assert max(half_times) < 3.0 + connected + 1.5  # header timeout 3 s
        assert min(half_times) > 2.9
        # Idle connections are closed silently; a half-sent request is told why.
        assert all(received[s] == b"" for s in idle)
        assert all(received[s].startswith(b"HTTP/1.1 408 ") for s in half)
        assert eventually(lambda: server.open_connections == 0)
    finally:
        for s in idle + half:
            s.close()


@pytest.mark.slow
def test_connection_cap_refuses_the_excess_with_503(serve_tiny: Any) -> None:
    server = serve_tiny(max_connections=20, keepalive_timeout_s=30.0)
    held = [connect(server.port) for _ in range(20)]
    try:
        assert eventually(lambda: server.open_connections == 20)
        with connect(server.port) as extra:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reply = read_reply(extra)
            assert reply.status == 503
            assert reply.headers["retry-after"] == "1"
            assert reply.error()["type"] == "service_unavailable"
            assert reply.error()["code"] == "too_many_connections"
            assert closed_by_server(extra)
        # The connections within the cap are served normally.
        held[0].sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_reply(held[0]).status == 200
        # Once one closes, a new connection gets in.
        held.pop().close()
        assert eventually(lambda: server.open_connections == 19)
        with connect(server.port) as again:
            again.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_reply(again).status == 200
    finally:
        for s in held:
            s.close()


@pytest.mark.slow
def test_normal_requests_keep_alive_and_pipelining_still_work(serve_tiny: Any) -> None:
    server = serve_tiny(keepalive_timeout_s=1.0, header_timeout_s=1.0, body_timeout_s=1.0)
    url = f"http://127.0.0.1:{server.port}"
    with httpx.Client(base_url=url) as client:
        replies = [client.post("/echo", content=b"z" * 100_000) for _ in range(3)]
        replies.append(client.get("/", headers={"X-Big-But-Fine": "v" * 30_000}))
    assert [r.status_code for r in replies] == [200] * 4
    assert [r.json()["bytes"] for r in replies] == [100_000] * 3 + [0]
    assert len({r.json()["client_port"] for r in replies}) == 1  # one kept-alive connection

    with connect(server.port) as sock:  # two pipelined requests in one write
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        data = b""
        while chunk := sock.recv(65536):  # until the server closes the idle connection
            data += chunk
        idle_for = time.monotonic() - started
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b'"/a"') < data.index(b'"/b"')
    assert 0.8 < idle_for < 1.8  # closed at the keep-alive timeout, not before
