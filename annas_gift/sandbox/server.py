"""The sandbox's aiohttp application: OpenAI-compatible routes plus a control API for tests."""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

import orjson
from aiohttp import web

from annas_gift.sandbox import payloads
from annas_gift.sandbox.behavior import Behavior, BehaviorError, parse_cached
from annas_gift.sandbox.state import SandboxState

BEHAVIOR_HEADER = "x-sandbox-behavior"
HOLD_SECONDS = 600.0
JSON = "application/json"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=payloads.error_body(status, message), status=status, content_type=JSON, headers=headers
    )


def _abort(request: web.Request) -> web.Response:
    """Drop the connection without finishing the response, as a crashed upstream would."""
    if request.transport is not None:
        request.transport.close()
    # aiohttp's write of this response fails on the closed transport and is ignored.
    return web.Response(status=500)


def _max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("max_tokens must be a positive integer")
    return value


class _Sandbox:
    """Route handlers sharing the state, the API key and the shutdown signal."""

    def __init__(self, state: SandboxState, api_key: str | None) -> None:
        self.state = state
        self.expected_auth = f"Bearer {api_key}".encode() if api_key is not None else None
        # Set on shutdown so held or delayed responses end at once instead of stalling stop().
        self.closing = asyncio.Event()

    async def _pause(self, seconds: float) -> bool:
        """Sleep; True if the server began shutting down meanwhile."""
        try:
            async with asyncio.timeout(seconds):
                await self.closing.wait()
        except TimeoutError:
            return False
        return True

    def _authorized(self, request: web.Request) -> bool:
        if self.expected_auth is None:
            return True
        given = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, self.expected_auth)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """OpenAI chat completions, streaming or not, shaped by the request's behaviour."""
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        fields = body if isinstance(body, dict) else {}
        model = fields.get("model") if isinstance(fields.get("model"), str) else None
        self.state.record(
            {
                "model": model,
                "stream": fields.get("stream") is True,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body,
                "time": time.time(),
            }
        )
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        messages = fields.get("messages")
        if not model or not isinstance(messages, list):
            return _error(400, "'model' (string) and 'messages' (array) are required.")
        try:
            max_tokens = _max_tokens(fields)
        except ValueError as exc:
            return _error(400, str(exc))
        header = request.headers.get(BEHAVIOR_HEADER)
        try:
            behavior = parse_cached(header) if header is not None else None
        except BehaviorError as exc:
            return _error(400, f"{BEHAVIOR_HEADER}: {exc}")
        # The header wins and leaves the script queue untouched for the next request.
        if behavior is None:
            behavior = self.state.next_behavior(model)
        return await self._respond(request, behavior, fields, max_tokens)

    async def _respond(
        self, request: web.Request, behavior: Behavior, body: dict[str, Any], max_tokens: int | None
    ) -> web.StreamResponse:
        if behavior.latency_ms and await self._pause(behavior.latency_ms / 1000):
            return _abort(request)
        if behavior.timeout:
            await self._pause(HOLD_SECONDS)
            return _abort(request)
        headers = payloads.extra_headers(behavior)
        if behavior.status is not None:
            return _error(behavior.status, f"Sandbox: scripted HTTP {behavior.status}.", headers)
        if behavior.malformed:
            return web.Response(body=payloads.MALFORMED_BODY, content_type=JSON, headers=headers)
        stream = body.get("stream") is True
        if behavior.cut is not None and not stream:
            return _abort(request)  # no stream to cut: the connection dies before any reply
        model, messages = body["model"], body["messages"]
        text = (
            behavior.reply
            if behavior.reply is not None
            else payloads.default_reply(model, messages)
        )
        pieces, finish = payloads.split_reply(text, max_tokens)
        use = payloads.usage(behavior, payloads.prompt_tokens(messages), pieces)
        if not stream:
            reply = payloads.completion(model, pieces, finish, use)
            return web.Response(body=reply, content_type=JSON, headers=headers)
        options = body.get("stream_options")
        wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        first, content, closing = payloads.stream_events(
            model, pieces, finish, use if wants_usage else None
        )
        response = web.StreamResponse(headers={"Cache-Control": "no-cache", **headers})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        if behavior.cut is not None:
            events, complete = [first, *content[: behavior.cut]], False
        else:
            events, complete = [first, *content, *closing], True
        delay = behavior.chunk_delay_ms / 1000
        if not delay:
            await response.write(b"".join(events))  # one write: the fast path benchmarks hit
        else:
            for i, event in enumerate(events):
                if i and await self._pause(delay):
                    return _abort(request)
                await response.write(event)
        if not complete:
            return _abort(request)
        await response.write_eof()
        return response

    async def models(self, request: web.Request) -> web.Response:
        """OpenAI's model list: every model configured, scripted or requested so far."""
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.")
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "sandbox"}
            for m in self.state.models()
        ]
        return _json({"object": "list", "data": data})

    async def health(self, request: web.Request) -> web.Response:
        """Liveness."""
        return _json({"status": "ok"})

    async def script(self, request: web.Request) -> web.Response:
        """Queue one-shot behaviours: {"model": name, "behaviors": [behaviour, ...]}."""
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        behaviors = body.get("behaviors") if isinstance(body, dict) else None
        if (
            not isinstance(model, str)
            or not isinstance(behaviors, list)
            or not all(isinstance(b, str) for b in behaviors)
        ):
            return _error(400, 'Expected {"model": string, "behaviors": [string, ...]}.')
        try:
            queued = self.state.script(model, behaviors)
        except BehaviorError as exc:
            return _error(400, str(exc))
        return _json({"model": model, "queued": queued})

    async def clear_script(self, request: web.Request) -> web.Response:
        """Drop every queued behaviour."""
        self.state.clear_scripts()
        return _json({"cleared": True})

    async def requests(self, request: web.Request) -> web.Response:
        """The log of chat requests received, oldest first."""
        return _json({"requests": self.state.requests()})

    async def clear_requests(self, request: web.Request) -> web.Response:
        """Empty the request log."""
        self.state.clear_requests()
        return _json({"cleared": True})


def build_app(state: SandboxState, api_key: str | None = None) -> web.Application:
    """The sandbox as an aiohttp application over `state`."""
    sandbox = _Sandbox(state, api_key)

    async def wake_held(_app: web.Application) -> None:
        sandbox.closing.set()

    # Prompts in benchmarks and long-context tests can exceed aiohttp's 1 MiB default.
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.on_shutdown.append(wake_held)
    app.router.add_post("/v1/chat/completions", sandbox.chat)
    app.router.add_get("/v1/models", sandbox.models)
    app.router.add_get("/health", sandbox.health)
    app.router.add_post("/sandbox/script", sandbox.script)
    app.router.add_delete("/sandbox/script", sandbox.clear_script)
    app.router.add_get("/sandbox/requests", sandbox.requests)
    app.router.add_delete("/sandbox/requests", sandbox.clear_requests)
    return app
