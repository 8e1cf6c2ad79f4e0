"""A streaming client that goes away: the gateway stops the stream at once and records a 499."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from annas_gift.sandbox import RunningSandbox
from annas_gift.storage.models import UsageRecord
from tests.api.conftest import KEY

# The direct path only (the conftest default): through LiteLLM the cut is not reliable, also on
# main before the relay (LiteLLM closes its stream behind a shielded cancel scope).


async def _stream_then_leave(app: FastAPI) -> tuple[list[bytes], float]:
    """Start a stream, hang up after its first bytes; the pieces seen and how long it ran."""
    body = orjson.dumps(
        {
            "model": "sandbox/fast-small",
            "stream": True,
            "messages": [{"role": "user", "content": "Tell a long story."}],
        }
    )
    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("gateway", 80),
    }  # fmt: skip
    pieces: list[bytes] = []
    first = asyncio.Event()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": body, "more_body": False}
        await first.wait()  # the client leaves once it has the first bytes
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message.get("body"):
            pieces.append(message["body"])
            first.set()

    began = time.monotonic()
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return pieces, time.monotonic() - began


async def test_a_client_leaving_mid_stream_stops_it_and_is_recorded_as_499(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("fast-small", ["chunk_delay=400"])  # a stream of several seconds
    app = client._transport.app  # type: ignore[attr-defined]
    pieces, took = await _stream_then_leave(app)
    assert pieces and pieces[0].startswith(b"data: {")
    assert b"[DONE]" not in b"".join(pieces)
    assert took < 2  # not the whole stream: the gateway stopped when the client left
    tracker = app.state.gateway.tracker
    await tracker.flush()
    async with tracker._sessions() as session:
        rows = (await session.execute(select(UsageRecord.status, UsageRecord.error_type))).all()
    assert [tuple(r) for r in rows] == [(499, "client_disconnected")]
