"""The sandbox's aiohttp application: OpenAI-compatible routes plus a control API for tests."""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

import orjson
from aiohttp import web

from annas_gift.sandbox import embeddings, payloads, replies
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


def _http_error(kind: type[web.HTTPException], status: int, message: str) -> web.HTTPException:
    return kind(text=payloads.error_body(status, message).decode(), content_type=JSON)


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

    def _record(self, request: web.Request, path: str, body: Any) -> None:
        fields = body if isinstance(body, dict) else {}
        model = fields.get("model")
        self.state.record(
            {
                "path": path,
                "model": model if isinstance(model, str) else None,
                "stream": fields.get("stream") is True,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body,
                "time": time.time(),
            }
        )

    def _behavior(self, request: web.Request, model: str) -> Behavior:
        """The header's behaviour (leaving the script queue alone), else the model's next one."""
        header = request.headers.get(BEHAVIOR_HEADER)
        if header is not None:
            try:
                return parse_cached(header)
            except BehaviorError as exc:
                raise _http_error(web.HTTPBadRequest, 400, f"{BEHAVIOR_HEADER}: {exc}") from None
        return self.state.next_behavior(model)

    async def _read(self, request: web.Request, path: str) -> dict[str, Any]:
        """The JSON body, recorded; raises an OpenAI-shaped 401 or 400 response if unusable."""
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        self._record(request, path, body)
        if not self._authorized(request):
            raise _http_error(web.HTTPUnauthorized, 401, "Incorrect API key provided.")
        if not isinstance(body, dict):
            raise _http_error(web.HTTPBadRequest, 400, "The request body must be a JSON object.")
        return body

    async def _scripted_failure(
        self, request: web.Request, behavior: Behavior, stream: bool
    ) -> web.StreamResponse | None:
        """The response a failure behaviour calls for, after any latency; None to answer."""
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
        if behavior.cut is not None and not stream:
            return _abort(request)  # no stream to cut: the connection dies before any reply
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """OpenAI chat completions, streaming or not, shaped by the request's behaviour."""
        fields = await self._read(request, "/v1/chat/completions")
        model = fields.get("model") if isinstance(fields.get("model"), str) else None
        messages = fields.get("messages")
        if not model or not isinstance(messages, list):
            return _error(400, "'model' (string) and 'messages' (array) are required.")
        try:
            max_tokens = _max_tokens(fields)
            options = replies.parse_options(fields)
        except ValueError as exc:
            return _error(400, str(exc))
        behavior = self._behavior(request, model)
        stream = fields.get("stream") is True
        failure = await self._scripted_failure(request, behavior, stream)
        if failure is not None:
            return failure
        reply = replies.plan_reply(model, messages, behavior, options, max_tokens)
        use = payloads.usage(behavior, payloads.prompt_tokens(messages), reply.pieces, options.n)
        shape: dict[str, Any] = {
            "n": options.n,
            "tool_call": reply.tool_call,
            "top_logprobs": options.top_logprobs if options.logprobs else None,
        }
        headers = payloads.extra_headers(behavior)
        if not stream:
            body = payloads.completion(model, reply.pieces, reply.finish, use, **shape)
            return web.Response(body=body, content_type=JSON, headers=headers)
        stream_options = fields.get("stream_options")
        wants_usage = isinstance(stream_options, dict) and stream_options.get("include_usage")
        first, content, closing = payloads.stream_events(
            model, reply.pieces, reply.finish, use if wants_usage is True else None, **shape
        )
        return await self._stream(request, behavior, headers, [first, *content], closing)

    async def _stream(
        self,
        request: web.Request,
        behavior: Behavior,
        headers: dict[str, str],
        opening: list[bytes],
        closing: list[bytes],
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Cache-Control": "no-cache", **headers})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        if behavior.cut is not None:
            # opening[0] holds the role chunks; cut counts content chunks after it.
            events, complete = opening[: behavior.cut + 1], False
        else:
            events, complete = [*opening, *closing], True
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

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        """OpenAI embeddings: deterministic unit vectors of the requested dimensions."""
        fields = await self._read(request, "/v1/embeddings")
        model = fields.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "'model' (string) and 'input' are required.")
        behavior = self._behavior(request, model)
        failure = await self._scripted_failure(request, behavior, stream=False)
        if failure is not None:
            return failure
        try:
            body = embeddings.embeddings_body(fields)
        except embeddings.EmbeddingRequestError as exc:
            return _error(400, str(exc))
        return web.Response(body=body, content_type=JSON, headers=payloads.extra_headers(behavior))

    async def models(self, request: web.Request) -> web.Response:
        """OpenAI's model list: every model configured, scripted or requested so far."""
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.")
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "sandbox"}
            for m in self.state.models()
        ]
        return _json({"object": "list", "data": data})

    async def model(self, request: web.Request) -> web.Response:
        """One model of the list, or OpenAI's 404 for a model the sandbox has not seen."""
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.")
        name = request.match_info["name"]
        if name not in self.state.models():
            return _error(404, f"The model '{name}' does not exist.")
        return _json({"id": name, "object": "model", "created": 0, "owned_by": "sandbox"})

    async def unsupported(self, request: web.Request) -> web.Response:
        """An OpenAI-shaped 404 naming what the sandbox serves, for any other /v1 path."""
        return _json(
            {
                "error": {
                    "message": f"{request.method} {request.path} is not served by the sandbox; "
                    "it serves POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models "
                    "and GET /v1/models/{id}.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "unsupported_endpoint",
                }
            },
            status=404,
        )

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
        """The log of chat and embeddings requests received, oldest first."""
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
    app.router.add_post("/v1/embeddings", sandbox.embeddings)
    app.router.add_get("/v1/models", sandbox.models)
    app.router.add_get("/v1/models/{name:.+}", sandbox.model)
    app.router.add_route("*", "/v1/{tail:.*}", sandbox.unsupported)
    app.router.add_get("/health", sandbox.health)
    app.router.add_post("/sandbox/script", sandbox.script)
    app.router.add_delete("/sandbox/script", sandbox.clear_script)
    app.router.add_get("/sandbox/requests", sandbox.requests)
    app.router.add_delete("/sandbox/requests", sandbox.clear_requests)
    return app
