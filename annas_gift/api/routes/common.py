"""Helpers both chat routes share: request → ChatInput, SSE framing, decision headers."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from annas_gift.api.deps import check_json_content
from annas_gift.api.errors import validation_error
from annas_gift.api.responses import SSEResponse
from annas_gift.api.schemas.openai import ChatMessage, ErrorResponse, StreamOptions
from annas_gift.catalog.registry import CatalogModel
from annas_gift.core.errors import InvalidRequest
from annas_gift.core.types import Attempt, ChatInput, RequestContext
from annas_gift.services.chat import ChatService
from annas_gift.services.streaming import OpenStream, open_stream
from annas_gift.services.types import RoutePlan

Body = TypeVar("Body", bound=BaseModel)

# The error statuses the OpenAI-compatible routes document (all OpenAI-shaped bodies).
OPENAI_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 429, 502, 503, 504)
}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a body that the route parses itself (see `read_body`)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


# The provider APIs (and the JSON encoder on the way to them) take 64-bit integers at most.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
# Every integer beyond 64 bits has 19 digits or more (2**63 has 19); a body without such a run
# of digits cannot hold one, and most bodies skip the walk over the dumped request.
_LONG_DIGIT_RUN = re.compile(rb"[0-9]{19}")


def _oversized_int(value: Any, path: str = "") -> str | None:
    """The path of the first integer in `value` beyond 64 bits, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return path if not _INT_MIN <= value <= _INT_MAX else None
    if isinstance(value, dict):
        items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for sub, item in items:
        if (found := _oversized_int(item, sub)) is not None:
            return found
    return None


async def read_body(request: Request, model: type[Body]) -> Body:
    """Parse and validate the JSON body; routes call it after auth, so 401 precedes 400."""
    check_json_content(request)
    raw = await request.body()
    try:
        # Strict like the OpenAI API: `true` is not a number, "0.5" is not a temperature.
        body = model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None
    if _LONG_DIGIT_RUN.search(raw) is None:
        return body
    if (param := _oversized_int(body.model_dump(exclude_none=True))) is not None:
        raise InvalidRequest(
            f"Invalid value for '{param}': integer outside the 64-bit range", param=param
        )
    return body


# Fields that steer the gateway itself; everything else is passed to the provider.
_GATEWAY_FIELDS = {"model", "messages", "stream", "stream_options", "fallbacks", "cache"}


# Call options of LiteLLM and the HTTP layer that only the catalog may set: passed through from
# a client, `api_base` would send the gateway's provider key to a server of the client's choice.
_CALL_OPTIONS = frozenset(
    {
        "api_base", "base_url", "api_key", "api_version", "organization", "client",
        "shared_session", "http_client", "custom_llm_provider", "extra_headers", "headers",
        "proxy", "timeout", "request_timeout", "num_retries", "max_retries", "model_list",
        "input_cost_per_token", "output_cost_per_token", "deployment_id", "mock_response",
        "extra_body", "extra_query",
    }
)  # fmt: skip
_CALL_OPTION_PREFIXES = ("litellm_", "mock_", "aws_", "vertex_", "azure_", "watsonx_")


def _reject_call_options(params: dict[str, Any]) -> None:
    for name in params:
        if name in _CALL_OPTIONS or name.startswith(_CALL_OPTION_PREFIXES):
            raise InvalidRequest(
                f"Unrecognized request argument supplied: {name} (provider settings are the "
                "gateway's; see GET /api/v1/models)",
                param=name,
            )


def to_chat_input(body: Any, messages: list[ChatMessage]) -> ChatInput:
    """Normalise a validated request body into the service's input."""
    params = body.model_dump(exclude_none=True, exclude=_GATEWAY_FIELDS)
    _reject_call_options(params)
    options = getattr(body, "stream_options", None)
    if isinstance(options, dict):  # the native schema passes it through unvalidated
        options = StreamOptions.model_validate(options)
    return ChatInput(
        model=body.model,
        messages=[m.model_dump(exclude_none=True) for m in messages],
        params=params,
        stream=body.stream,
        include_usage=bool(options and options.include_usage),
        fallbacks=list(body.fallbacks or ()),
        cache=getattr(body, "cache", None),
    )


def decision_headers(
    *,
    request_id: str,
    served: CatalogModel,
    plan: RoutePlan,
    attempts: list[Attempt],
    cost_usd: float | None = None,
    latency_ms: float | None = None,
) -> dict[str, str]:
    """The `x-annas-*` headers that make the gateway's choice visible on the OpenAI route."""
    headers = {
        "x-annas-request-id": request_id,
        "x-annas-trace-id": request_id,
        "x-annas-provider": served.provider,
        "x-annas-model": served.name,
        "x-annas-attempts": str(len(attempts)),
    }
    if tier := plan.tier_of(served):
        headers["x-annas-tier"] = tier
    if plan.category:
        headers["x-annas-category"] = plan.category
    if cost_usd is not None:
        headers["x-annas-cost-usd"] = f"{cost_usd:.8f}"
    if latency_ms is not None:
        headers["x-annas-latency-ms"] = f"{latency_ms:.1f}"
    return headers


async def stream_response(
    request: Request, chat: ChatService, inp: ChatInput, ctx: RequestContext
) -> SSEResponse:
    """Open the stream (falling back until a model answers) and relay it with its headers."""
    stream = await open_stream(chat, inp, ctx)
    request.state.model = stream.model.name
    headers = decision_headers(
        request_id=ctx.request_id,
        served=stream.model,
        plan=stream.plan,
        attempts=stream.attempts,
    )
    return sse_response(stream, headers)


def sse_response(stream: OpenStream, headers: dict[str, str]) -> SSEResponse:
    """Relay a stream as Server-Sent Events, unbuffered (events already here share a write)."""
    return SSEResponse(stream, {**headers, "cache-control": "no-cache", "x-accel-buffering": "no"})
