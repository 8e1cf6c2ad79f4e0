"""Issue 10 item 8: a client that disconnects mid-upload is an INFO line and a 499, not an ERROR."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from tests.api.conftest import KEY, LiveGateway


def _abandon_upload(port: int, path: str) -> None:
    """Send the head and part of the body, then close the connection."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode() + b'{"model":"sandbox/fast-small","messages":[')
        time.sleep(0.3)  # the app is now waiting for the rest of the body


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/v1/chat"])
def test_a_disconnect_mid_upload_is_logged_as_client_disconnected(
    live_gateway: LiveGateway, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.INFO):
        _abandon_upload(live_gateway.port, path)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any("client_disconnected" in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.05)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # an ERROR line always means a gateway bug
    notes = [r for r in caplog.records if "client_disconnected" in r.getMessage()]
    assert notes and all(r.levelno == logging.INFO for r in notes)
    access = [json.loads(r.getMessage()) for r in caplog.records if r.name == "annas_gift.access"]
    assert [a["status"] for a in access if a["path"] == path] == [499]
