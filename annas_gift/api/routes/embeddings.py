"""POST /v1/embeddings (OpenAI-compatible), served by catalog models of `mode: embedding`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from annas_gift.api.deps import Embeddings, KeyId
from annas_gift.api.responses import JSONResponse
from annas_gift.api.routes.common import OPENAI_ERRORS, decision_headers, json_body, read_body
from annas_gift.api.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from annas_gift.core.types import RequestContext
from annas_gift.services.embeddings import embedding_input

routes = APIRouter(prefix="/v1", tags=["openai"])


@routes.post(
    "/embeddings",
    response_model=None,
    responses={200: {"model": EmbeddingResponse}, **OPENAI_ERRORS},
    openapi_extra=json_body(EmbeddingRequest),
)
async def create_embeddings(request: Request, key_id: KeyId, service: Embeddings) -> JSONResponse:
    """Embed `input` with an embedding model of the catalog (and its `fallbacks`, if any)."""
    body = await read_body(request, EmbeddingRequest)
    ctx = RequestContext(request_id=request.state.request_id, key_id=key_id, route="embeddings")
    inp = embedding_input(body.model, body.model_dump(exclude_none=True), body.fallbacks)
    result = await service.embed(inp, ctx)
    request.state.model = result.model.name
    headers = decision_headers(
        request_id=ctx.request_id,
        served=result.model,
        plan=result.plan,
        attempts=result.attempts,
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
    )
    headers.pop("x-annas-tier", None)  # tiers rank chat models; an embedding model has none
    return JSONResponse(result.completion.body, headers=headers)
