"""A fake Portkey log-ingestion API on loopback, true to its documented contract.

Contract (https://portkey.ai/docs/api-reference/admin-api/data-plane/logs/insert-a-log):
`POST /v1/logs`, API key in the `x-portkey-api-key` header, JSON body that is one CustomLog or
an array of them; a CustomLog needs `request` (with `url` and an object `body`) and `response`
(with an object `body`); `headers` and `metadata` values are strings; success is HTTP 200.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from annas_gift.settings import PortkeySettings
from annas_gift.upstream.portkey_client import PortkeyTracer, TraceEvent, TracerOptions

API_KEY = "pk-live-7f3a9c1e5b2d4f6a8c0e-do-not-leak"


@dataclass
class Received:
    """One request as the fake saw it, and what it answered."""

    headers: dict[str, str]
    raw: bytes
    status: int
    entries: list[dict[str, Any]]


def _contract_error(  # noqa: C901 - one branch per documented contract rule
    body: Any,
) -> str | None:
    """Why a body breaks the documented CustomLog schema, or None when it conforms."""
    logs = body if isinstance(body, list) else [body]
    if not logs:
        return "empty array"
    for entry in logs:
        if not isinstance(entry, dict):
            return "entry is not an object"
        request, response = entry.get("request"), entry.get("response")
        if not isinstance(request, dict) or not isinstance(response, dict):
            return "request and response are required objects"
        if not isinstance(request.get("url"), str) or not isinstance(request.get("body"), dict):
            return "request.url (string) and request.body (object) are required"
        if not isinstance(response.get("body"), dict):
            return "response.body (object) is required"
        if not isinstance(response.get("status", 200), int):
            return "response.status must be an integer"
        if not isinstance(response.get("response_time", 0), int):
            return "response.response_time must be an integer"
        for part in (request.get("headers", {}), response.get("headers", {})):
            if not all(isinstance(v, str) for v in part.values()):
                return "header values must be strings"
        if not all(isinstance(v, str) for v in entry.get("metadata", {}).values()):
            return "metadata values must be strings"
    return None


class FakePortkey:
    """Serves `POST /v1/logs`; records every request; fails, stalls or refuses on demand."""

    api_key = API_KEY

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._arrived = asyncio.Event()
        self._script: deque[tuple[int, float, str | None]] = deque()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0

    async def start(self) -> None:
        """Bind an ephemeral loopback port and serve."""
        app = web.Application()
        app.router.add_post("/v1/logs", self._logs)
        # handler_cancellation: a client that times out ends its stalled request here too.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1
        )
        await self._runner.setup()
        await self.accept()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def refuse(self) -> None:
        """Close the listening socket and open connections: refused until `accept`."""
        assert self._site is not None and self._runner is not None
        await self._site.stop()
        self._site = None
        assert self._runner.server is not None
        for connection in self._runner.server.connections:  # else keep-alive would carry on
            connection.force_close()

    async def accept(self) -> None:
        """Listen again (on the same port after `refuse`)."""
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()

    def fail_next(self, count: int, status: int = 500, retry_after: str | None = None) -> None:
        """Answer the next `count` requests with `status`."""
        self._script.extend([(status, 0.0, retry_after)] * count)

    def stall_next(self, count: int, seconds: float) -> None:
        """Hold the next `count` requests for `seconds` before answering 200."""
        self._script.extend([(200, seconds, None)] * count)

    @property
    def base_url(self) -> str:
        """What `portkey.base_url` should be set to."""
        return f"http://127.0.0.1:{self.port}/v1"

    def accepted(self) -> list[dict[str, Any]]:
        """Every CustomLog answered with 200, oldest first."""
        return [e for r in self.received if r.status == 200 for e in r.entries]

    async def wait_for(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        """Wait until `count` entries were accepted."""
        async with asyncio.timeout(within):
            while len(self.accepted()) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.accepted()

    async def wait_requests(self, count: int, within: float = 5.0) -> list[Received]:
        """Wait until `count` requests arrived, whatever they were answered."""
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received

    async def _logs(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, delay, retry_after = self._script.popleft() if self._script else (200, 0.0, None)
        entries: list[dict[str, Any]] = []
        problem = None
        if headers.get("x-portkey-api-key") != API_KEY:
            status, problem = 401, "invalid x-portkey-api-key"
        elif not headers.get("content-type", "").startswith("application/json"):
            status, problem = 400, "content-type must be application/json"
        else:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            problem = _contract_error(body)
            if problem is not None:
                status = 400
            else:
                entries = body if isinstance(body, list) else [body]
        # A stalled request counts as answered only once its answer is on the way.
        got = Received(headers, raw, 0 if delay else status, entries)
        self.received.append(got)
        self._arrived.set()
        if delay:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                got.status = 499  # the client hung up first: nothing was acknowledged
                raise
            got.status = status
        extra = {"retry-after": retry_after} if retry_after else None
        if status == 200:
            return web.json_response({"success": True}, headers=extra)
        message = problem or "scripted failure"
        return web.json_response({"error": {"message": message}}, status=status, headers=extra)


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until `check()` holds (the tracer works in the background), else fail the test."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.005)


@pytest.fixture
async def portkey() -> AsyncIterator[FakePortkey]:
    """The fake Portkey API, serving on loopback for one test."""
    server = FakePortkey()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def make_tracer(portkey: FakePortkey) -> AsyncIterator[Callable[..., PortkeyTracer]]:
    """Build tracers aimed at the fake (fast timings); each is stopped after the test."""
    made: list[PortkeyTracer] = []

    def make(
        *, enabled: bool = True, api_key: str | None = API_KEY, **tuning: Any
    ) -> PortkeyTracer:
        # model_construct: settings validation rejects enabled-without-key at start-up; the
        # tracer must still be safe if handed such settings some other way.
        settings = PortkeySettings.model_construct(
            enabled=enabled,
            api_key=SecretStr(api_key) if api_key is not None else None,
            base_url=portkey.base_url,
        )
        fast = {"flush_interval_s": 0.02, "backoff_s": 0.01, "max_backoff_s": 0.05}
        tracer = PortkeyTracer(settings, TracerOptions.from_settings(settings, **fast | tuning))
        made.append(tracer)
        return tracer

    yield make
    for tracer in made:
        await tracer.stop()


def _event(request_id: str = "req-1", **overrides: Any) -> TraceEvent:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "trace_id": PortkeyTracer.trace_id_for(request_id),
        "created_at": datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        "provider": "groq",
        "model": "llama-fast",
        "upstream_model": "groq/llama-3.1-8b-instant",
        "route": "openai",
        "status": 200,
        "latency_ms": 123.4,
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "cost_usd": 0.0000123,
        "tier": "fast",
        "category": "code",
        "attempts": [{"model": "llama-fast", "provider": "groq", "status": 200}],
        "request_body": {"messages": [{"role": "user", "content": "SECRET-PROMPT thesis draft"}]},
        "response_body": {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "SECRET-ANSWER"}}],
        },
        "metadata": {"experiment": "ablation-3"},
        "key_id": "alice",
    }
    fields.update(overrides)
    return TraceEvent(**fields)


@pytest.fixture
def make_event() -> Callable[..., TraceEvent]:
    """Build a TraceEvent for a successful non-streaming request; keywords override fields."""
    return _event
