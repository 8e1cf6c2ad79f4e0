"""A tiny ASGI app, and the real uvicorn server around it (thread or subprocess), for the tests."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn

from annas_gift.server import ServerLimits, build_config

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def tiny_app(scope: Scope, receive: Receive, send: Send) -> None:
    """`/` and `/echo` read the body and report its size; `/sse?seconds=N` streams for N s."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    if path == "/sse":
        seconds = float(scope["query_string"].decode().partition("=")[2] or 1)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            await send(
                {"type": "http.response.body", "body": b"data: %d\n\n" % i, "more_body": True}
            )
            i += 1
            await asyncio.sleep(0.1)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        return
    body = json.dumps({"path": path, "bytes": size, "client_port": scope["client"][1]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServerThread:
    """`app` under the real uvicorn server (guarded protocol) on a free loopback port."""

    def __init__(self, app: Any, limits: ServerLimits) -> None:
        config = build_config(app, host="127.0.0.1", port=0, log_level="warning", limits=limits)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)
        self.port = 0

    @property
    def open_connections(self) -> int:
        """Connections the server currently holds."""
        return len(self.server.server_state.connections)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def _gateway_app(workdir: Path) -> Any:
    from annas_gift.api.app import create_app
    from annas_gift.catalog.demo import demo_catalog
    from annas_gift.settings import load_settings

    settings = load_settings(
        auth={"api_keys": ["sk-test-key"]},
        storage={
            "database_url": f"sqlite+aiosqlite:///{workdir / 'gw.db'}",
            "spool_path": str(workdir / "spool.jsonl"),
        },
        server={"access_log": False},
    )
    # The upstream is never called: these tests are about what happens before any route runs.
    return create_app(settings, catalog=demo_catalog("http://127.0.0.1:9/v1"))


def main() -> None:
    """Serve the gateway (or the tiny app) with default limits; print the port once listening."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", type=Path, help="serve the real gateway, data in this folder")
    args = parser.parse_args()
    app = _gateway_app(args.gateway) if args.gateway else tiny_app
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = build_config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    print(sock.getsockname()[1], flush=True)
    sys.stdout.close()
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
