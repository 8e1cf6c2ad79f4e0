"""Exception handlers: every error leaves as an OpenAI-shaped body, never as a stack trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from annas_gift.api.responses import JSONResponse
from annas_gift.core.errors import GatewayError, InvalidRequest, NotFound


def error_response(exc: GatewayError) -> JSONResponse:
    """The JSON response for a gateway error, with its headers (e.g. Retry-After)."""
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


def _param(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "messages", 0, "role") -> "messages[0].role", as OpenAI names parameters.
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_error(errors: Sequence[Any]) -> InvalidRequest:
    """Turn pydantic's first complaint into one readable 400 that names the field."""
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return InvalidRequest(
            "We could not parse the JSON body of your request: "
            f"{first.get('ctx', {}).get('error', 'invalid JSON')}",
            code="invalid_json",
        )
    param = _param(first.get("loc", ()))
    if first.get("type") == "missing" and not param:
        return InvalidRequest(
            "The request body is missing; send a JSON object.", code="invalid_json"
        )
    msg = str(first.get("msg", "invalid value"))
    return InvalidRequest(f"Invalid value for '{param}': {msg}", param=param or None)


# What the OpenAI-compatible surface serves, named in the 404 for anything else under /v1.
SUPPORTED_V1 = (
    "POST /v1/chat/completions",
    "POST /v1/embeddings",
    "GET /v1/models",
    "GET /v1/models/{model}",
)


def unsupported_endpoint(method: str, path: str) -> NotFound:
    """The 404 for a /v1 path the gateway does not serve, naming the ones it does."""
    hint = ""
    if path.rstrip("/") == "/v1/completions":
        hint = " (legacy text completions: send the prompt as a user message to chat/completions)"
    return NotFound(
        f"This gateway does not serve {method} {path}{hint}. It serves {', '.join(SUPPORTED_V1)}.",
        code="unsupported_endpoint",
    )


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""

    @app.exception_handler(GatewayError)
    async def _gateway(_: Request, exc: GatewayError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404 and request.url.path.startswith("/v1/"):
            return error_response(unsupported_endpoint(request.method, request.url.path))
        kinds = {404: "not_found", 405: "method_not_allowed"}
        err = GatewayError(str(exc.detail), code=kinds.get(exc.status_code, "http_error"))
        err.status = exc.status_code
        err.type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return JSONResponse(err.body(), status_code=exc.status_code, headers=exc.headers)
