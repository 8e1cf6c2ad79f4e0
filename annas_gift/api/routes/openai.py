"""The OpenAI-compatible API: POST /v1/chat/completions and GET /v1/models."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from annas_gift.api.deps import CatalogDep, Chat, KeyId
from annas_gift.api.responses import JSONResponse
from annas_gift.api.routes.common import (
    decision_headers,
    json_body,
    read_body,
    stream_response,
    to_chat_input,
)
from annas_gift.api.schemas.openai import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from annas_gift.core.types import AUTO_MODELS, RequestContext

routes = APIRouter(prefix="/v1", tags=["openai"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 429, 502, 503, 504)
}


@routes.post(
    "/chat/completions",
    response_model=None,
    responses={200: {"model": ChatCompletionResponse}, **_ERRORS},
    openapi_extra=json_body(ChatCompletionRequest),
)
async def chat_completions(
    request: Request, key_id: KeyId, chat: Chat
) -> JSONResponse | StreamingResponse:
    """Create a chat completion (OpenAI-compatible); `model` may be a catalog name or `auto`."""
    body = await read_body(request, ChatCompletionRequest)
    ctx = RequestContext(request_id=request.state.request_id, key_id=key_id, route="openai")
    inp = to_chat_input(body, body.messages)
    if inp.stream:
        return await stream_response(request, chat, inp, ctx)
    result = await chat.complete(inp, ctx)
    request.state.model = result.model.name
    headers = decision_headers(
        request_id=ctx.request_id,
        served=result.model,
        plan=result.plan,
        attempts=result.attempts,
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
    )
    headers["x-annas-cache"] = result.cache
    return JSONResponse(result.completion.body, headers=headers)


@routes.get("/models", response_model=ModelList)
async def list_models(_: KeyId, catalog: CatalogDep) -> ModelList:
    """The models a client can ask for right now: the routing aliases and every available model."""
    cards = [ModelCard(id=alias, owned_by="annas-gift") for alias in AUTO_MODELS]
    cards += [
        ModelCard(id=m.name, owned_by=m.provider) for m in catalog.all() if not m.missing_env()
    ]
    return ModelList(data=cards)
