"""The OpenAI-compatible API: POST /v1/chat/completions, GET /v1/models and /v1/models/{id}."""

from __future__ import annotations

from fastapi import APIRouter, Request

from annas_gift.api.deps import CatalogDep, ChatCallerDep, KeyId
from annas_gift.api.responses import JSONResponse, SSEResponse
from annas_gift.api.routes.common import (
    OPENAI_ERRORS,
    decision_headers,
    json_body,
    read_body,
    stream_response,
    to_chat_input,
)
from annas_gift.api.schemas.openai import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ModelCard,
    ModelList,
)
from annas_gift.core.errors import ModelNotFound
from annas_gift.core.types import AUTO_MODELS, RequestContext

routes = APIRouter(prefix="/v1", tags=["openai"])


@routes.post(
    "/chat/completions",
    response_model=None,
    responses={200: {"model": ChatCompletionResponse}, **OPENAI_ERRORS},
    openapi_extra=json_body(ChatCompletionRequest),
)
async def chat_completions(request: Request, caller: ChatCallerDep) -> JSONResponse | SSEResponse:
    """Create a chat completion (OpenAI-compatible); `model` may be a catalog name or `auto`."""
    body = await read_body(request, ChatCompletionRequest)
    ctx = RequestContext(request_id=request.state.request_id, key_id=caller.key_id, route="openai")
    inp = to_chat_input(body, body.messages)
    if inp.stream:
        return await stream_response(request, caller.chat, inp, ctx)
    result = await caller.chat.complete(inp, ctx)
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


@routes.get("/models/{model_id:path}", response_model=ModelCard, responses=OPENAI_ERRORS)
async def retrieve_model(model_id: str, _: KeyId, catalog: CatalogDep) -> ModelCard:
    """One model a client can ask for (a routing alias or an available catalog model), or 404."""
    if model_id in AUTO_MODELS:
        return ModelCard(id=model_id, owned_by="annas-gift")
    model = catalog.get(model_id)
    if model is None or model.missing_env():
        why = "does not exist" if model is None else "is not available (its provider key is unset)"
        raise ModelNotFound(
            f"The model '{model_id}' {why} on this gateway (GET /v1/models lists them)",
            param="model",
        )
    return ModelCard(id=model.name, owned_by=model.provider)
