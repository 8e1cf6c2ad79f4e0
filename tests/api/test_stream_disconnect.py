"""A streaming client that goes away: the gateway stops the stream at once and records a 499."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from annas_gift.api.app import create_app
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import Settings
from annas_gift.storage.models import UsageRecord
from annas_gift.upstream import sse
from tests.api.conftest import KEY, make_catalog

# The sandbox test below runs on the direct path (the conftest default; its time bound would
# include loading LiteLLM); the test after it covers both paths against an endless provider.


async def _exchange(app: FastAPI, leave_at: int | None, write: str = "done") -> list[bytes]:
    """One streamed chat; the client leaves once it has body piece `leave_at` (None: never).

    `write` is what becomes of that piece's write: "done" (the gateway then waits for the
    provider), "blocked" (it never completes: a client that stopped reading, the gateway stopped
    inside `send`) or "fails" (an ASGI 2.4 server's OSError for a closed connection).
    """
    limit = {} if leave_at else {"max_tokens": 3}
    body = orjson.dumps(
        {"model": "sandbox/fast-small", "stream": True,
         "messages": [{"role": "user", "content": "Tell a long story."}], **limit}
    )  # fmt: skip
    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("gateway", 80),
    }  # fmt: skip
    pieces: list[bytes] = []
    leaving, never = asyncio.Event(), asyncio.Event()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": body, "more_body": False}
        await leaving.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message.get("body"):
            pieces.append(message["body"])
            if len(pieces) == leave_at:
                leaving.set()
                if write == "blocked":
                    await never.wait()
                if write == "fails":
                    raise OSError("the connection is closed")

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    return pieces


async def _usage_rows(app: FastAPI) -> list[tuple[int, str | None, int]]:
    """Every usage row, oldest first: status, error type, completion tokens."""
    tracker = app.state.gateway.tracker
    await tracker.flush()
    query = select(UsageRecord.status, UsageRecord.error_type, UsageRecord.completion_tokens)
    async with tracker._sessions() as session:
        rows = (await session.execute(query.order_by(UsageRecord.id))).all()
    return [(r[0], r[1], r[2]) for r in rows]


async def test_a_client_leaving_mid_stream_stops_it_and_is_recorded_as_499(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("fast-small", ["chunk_delay=400"])  # a stream of several seconds
    app = client._transport.app  # type: ignore[attr-defined]
    began = time.monotonic()
    pieces = await _exchange(app, 1)
    took = time.monotonic() - began
    assert pieces and pieces[0].startswith(b"data: {")
    assert b"[DONE]" not in b"".join(pieces)
    assert took < 2  # not the whole stream: the gateway stopped when the client left
    assert await _usage_rows(app) == [(499, "client_disconnected", 0)]


# -- Both paths, against a provider whose stream never ends on its own --------------------------


class EndlessProvider:
    """An OpenAI-wire provider on a loopback port, in its own thread and event loop.

    A request with `max_tokens` gets that many chunks, usage and [DONE]; one without streams
    until the gateway hangs up, which it notes in `hung_up` (from the server's side).
    """

    def __init__(self) -> None:
        self.hung_up = threading.Event()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self.base_url = ""

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        limit = (await request.json()).get("max_tokens")
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        sent = 0
        try:
            while limit is None or sent < limit:
                delta = {"content": f"word{sent} "}
                await response.write(sse.event(_chunk([{"index": 0, "delta": delta}])))
                sent += 1
                await asyncio.sleep(0.01)  # the provider's pace, not a wait for the gateway
        except (asyncio.CancelledError, ConnectionError):
            self.hung_up.set()  # the gateway closed the connection: generation stops here
            raise
        usage = {"prompt_tokens": 3, "completion_tokens": sent, "total_tokens": sent + 3}
        await response.write(sse.event({**_chunk([]), "usage": usage}) + sse.DONE_EVENT)
        await response.write_eof()
        return response

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        # handler_cancellation: a connection the gateway closes cancels its handler at once.
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def __enter__(self) -> EndlessProvider:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the provider did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": choices}  # fmt: skip


@pytest.fixture
def endless() -> Iterator[EndlessProvider]:
    with EndlessProvider() as provider:
        yield provider


@pytest.fixture
async def endless_app(settings: Settings, endless: EndlessProvider) -> AsyncIterator[FastAPI]:
    """The gateway with the demo models served by `endless`, its lifespan running."""
    app = create_app(settings, catalog=make_catalog(endless.base_url))
    async with app.router.lifespan_context(app):
        yield app


def _running(before: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """Tasks started since `before` that are still running (but the VPN manager's tick, which
    wraps its one-second wait in a task of its own: egress/manager.py)."""
    new = asyncio.all_tasks() - before
    return [t for t in new if not t.done() and t.get_coro().__qualname__ != "Event.wait"]


@contextlib.contextmanager
def _left_to_gc() -> Iterator[list[str]]:
    """The gateway's async generators that reach the garbage collector unfinished meanwhile.

    asyncio would close such a generator in a task of its own, whenever the collector gets to
    it: a stream that relied on that stops its provider at no time the gateway controls.
    """
    hooks = sys.get_asyncgen_hooks()
    left: list[str] = []

    def finalizer(agen: Any) -> None:
        if "annas_gift" in agen.ag_code.co_filename:
            left.append(agen.ag_code.co_qualname)
        hooks.finalizer(agen)

    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
    try:
        yield left
    finally:
        sys.set_asyncgen_hooks(*hooks)


@pytest.mark.parametrize("upstream_path", ["direct", "litellm"])
@pytest.mark.parametrize(
    ("leave_at", "write"),
    [(3, "done"), (1, "blocked"), (3, "blocked"), (1, "fails"), (3, "fails")],
    ids=[
        "while-it-waits-for-the-provider", "in-the-first-write", "in-a-later-write",
        "the-first-write-fails", "a-later-write-fails",
    ],
)  # fmt: skip
async def test_a_client_leaving_closes_the_provider_stream_on_both_paths(
    endless_app: FastAPI, endless: EndlessProvider, leave_at: int, write: str
) -> None:
    whole = await _exchange(endless_app, None)  # also loads LiteLLM
    assert whole[-1].endswith(sse.DONE_EVENT)
    before = set(asyncio.all_tasks())
    with _left_to_gc() as left:
        pieces = await _exchange(endless_app, leave_at, write)
        assert len(pieces) == leave_at
        assert _running(before) == []  # nothing of the stream goes on behind the response
        # The provider sees its connection closed (a hung-up handler; an endless one otherwise).
        assert await asyncio.to_thread(endless.hung_up.wait, 10)
        gc.collect()
    assert left == []  # the gateway closed its stream itself, not the garbage collector
    # The whole stream, then the cut one once (no usage chunk came before the client left).
    assert await _usage_rows(endless_app) == [(200, None, 3), (499, "client_disconnected", 0)]
