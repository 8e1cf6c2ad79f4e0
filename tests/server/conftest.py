"""Fixtures for the server-limit tests: raw loopback sockets against the real uvicorn server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from annas_gift.server import ServerLimits
from tests.server.apps import ServerThread, tiny_app

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    """One HTTP response as read off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        """The OpenAI-shaped error object of the body."""
        return dict(json.loads(self.body)["error"])


def connect(port: int, timeout: float = 10) -> socket.socket:
    """A blocking client socket to the server."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def read_reply(sock: socket.socket) -> Reply:
    """Read one response (head, then content-length bytes or until EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    else:
        while chunk := sock.recv(65536):
            body += chunk
    return Reply(status, headers, body)


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server has closed the connection (EOF or reset), without sending more."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def eventually(check: Any, seconds: float = 3.0) -> bool:
    """Poll `check` until it holds or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


@pytest.fixture
def serve_tiny() -> Iterator[Any]:
    """Start the tiny app under the guarded server with the given limits."""
    servers: list[ServerThread] = []

    def start(**limits: Any) -> ServerThread:
        server = ServerThread(tiny_app, ServerLimits(**limits))
        servers.append(server.__enter__())
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


class ServerProcess:
    """The app in its own process, so its memory can be measured apart from the test's."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests/server/apps.py"), *args],
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        deadline = time.monotonic() + 60
        while True:
            try:
                with connect(self.port) as sock:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                    read_reply(sock)
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("server process did not start") from None
                time.sleep(0.1)

    def memory_kib(self) -> tuple[int, int]:
        """(current RSS, peak RSS) of the server process, in KiB."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def stop(self) -> None:
        """Stop the process and wait for it."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """The real gateway app (SQLite, one API key) under the guarded server, in a subprocess."""
    server = ServerProcess("--gateway", str(tmp_path))
    yield server
    server.stop()
