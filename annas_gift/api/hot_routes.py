"""The two chat routes, dispatched without FastAPI's router and dependency resolution.

`POST /v1/chat/completions` and `POST /api/v1/chat` are the gateway's hot path. Through
FastAPI each request walks the exception middleware, the exit-stack middleware, the router's
path matching over every route, `request_response` and `solve_dependencies`: about a sixth of
the CPU an `auto` request costs (py-spy of bench/inproc.py, 2026-12-02). This pure-ASGI
middleware sits just outside that stack and calls the *same* endpoint functions with the
*same* dependency (`deps.get_chat_caller`), so behaviour has one definition; the routes stay
registered with FastAPI for the OpenAPI document and for anything this does not match (other
methods, trailing slashes), which FastAPI answers as before.

Errors leave as `errors.error_response` renders them, as the app's exception handler would;
anything else propagates to `GatewayMiddleware`, which turns it into the logged 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from annas_gift.api.deps import ChatCaller, get_chat_caller
from annas_gift.api.errors import error_response
from annas_gift.api.responses import JSONResponse
from annas_gift.api.routes import native, openai
from annas_gift.core.errors import GatewayError

# Each returns a Response, or (the native route) a pydantic model FastAPI would serialise.
Endpoint = Callable[[Request, ChatCaller], Awaitable[Response | BaseModel]]

HOT_ROUTES: dict[tuple[str, str], Endpoint] = {
    ("POST", "/v1/chat/completions"): openai.chat_completions,
    ("POST", "/api/v1/chat"): native.chat,
}


def _as_response(result: Response | BaseModel) -> Response:
    """What FastAPI makes of an endpoint's return value with `response_model=None`."""
    if isinstance(result, BaseModel):  # FastAPI: jsonable_encoder, i.e. this dump
        return JSONResponse(result.model_dump(mode="json", by_alias=True))
    return result


class HotRoutes:
    """Serves the chat routes directly; passes every other request to the app unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            HOT_ROUTES.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = _as_response(await endpoint(request, await get_chat_caller(request)))
        except GatewayError as exc:
            response = error_response(exc)
        await response(scope, receive, send)
