"""The native API under /api/v1: chat with the decision in the body, models, providers, usage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query, Request

from annas_gift.api.deps import CatalogDep, ChatCallerDep, KeyId, PrincipalDep, State, Tracker
from annas_gift.api.responses import SSEResponse
from annas_gift.api.routes.common import (
    json_body,
    read_body,
    stream_response,
    to_chat_input,
)
from annas_gift.api.schemas.native import (
    AttemptInfo,
    ChatRequest,
    ChatResponse,
    DecisionExplanation,
    ModelInfo,
    ModelStatus,
    ProviderStatus,
    TokenUsage,
    UsageMetrics,
    UsageReport,
)
from annas_gift.catalog.registry import CatalogModel
from annas_gift.core.errors import InsufficientPermissions, InvalidRequest, NotFound
from annas_gift.core.types import RequestContext
from annas_gift.services.auto_routing import explain_plan
from annas_gift.services.types import RoutePlan
from annas_gift.state import GatewayState

routes = APIRouter(prefix="/api/v1", tags=["native"])


@routes.post(
    "/chat",
    response_model=None,
    responses={200: {"model": ChatResponse}},
    openapi_extra=json_body(ChatRequest),
)
async def chat(request: Request, caller: ChatCallerDep) -> ChatResponse | SSEResponse:
    """Chat with routing; the response carries the classification, selection, cost and attempts."""
    body = await read_body(request, ChatRequest)
    ctx = RequestContext(request_id=request.state.request_id, key_id=caller.key_id, route="native")
    inp = to_chat_input(body, body.messages)
    if inp.stream:
        return await stream_response(request, caller.chat, inp, ctx)
    result = await caller.chat.complete(inp, ctx)
    request.state.model = result.model.name
    body_out = result.completion.body
    choice = (body_out.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = result.completion.usage
    plan = result.plan
    return ChatResponse(
        id=str(body_out.get("id", ctx.request_id)),
        request_id=ctx.request_id,
        trace_id=ctx.request_id,
        model=result.model.name,
        provider=result.model.provider,
        upstream_model=result.model.litellm_model,
        tier=result.plan.tier_of(result.model),
        category=result.plan.category,
        content=message.get("content"),
        message=message,
        finish_reason=choice.get("finish_reason"),
        usage=TokenUsage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.prompt_tokens + usage.completion_tokens,
        ),
        cost_usd=result.cost_usd,
        latency_ms=round(result.latency_ms, 2),
        cache=result.cache,
        attempts=[AttemptInfo(**a.to_dict()) for a in result.attempts],
        classification=plan.classification.to_dict() if plan.classification else None,
        selection=plan.selection.to_dict() if plan.selection else None,
        explanation=_explanation(plan),
    )


def _explanation(plan: RoutePlan) -> DecisionExplanation | None:
    explained = explain_plan(plan)
    return DecisionExplanation.model_validate(explained.to_dict()) if explained else None


def _model_info(model: CatalogModel) -> ModelInfo:
    return ModelInfo(
        name=model.name,
        provider=model.provider,
        litellm_model=model.litellm_model,
        tier=model.tier,
        categories=list(model.categories),
        context_window=model.context_window,
        max_output_tokens=model.max_output_tokens,
        limits={"rpm": model.rpm, "tpm": model.tpm, "rpd": model.rpd, "tpd": model.tpd},
        input_cost_per_token=model.input_cost_per_token,
        output_cost_per_token=model.output_cost_per_token,
        available=not model.missing_env(),
        missing_env=model.missing_env(),
        description=model.description,
    )


@routes.get("/models", response_model=list[ModelInfo])
async def models(_: KeyId, catalog: CatalogDep) -> list[ModelInfo]:
    """Every catalog model with its routing metadata and availability."""
    return [_model_info(m) for m in catalog.all()]


@routes.get("/models/{provider}", response_model=list[ModelInfo])
async def provider_models(provider: str, _: KeyId, catalog: CatalogDep) -> list[ModelInfo]:
    """The catalog models of one provider."""
    found = catalog.by_provider(provider)
    if not found:
        raise NotFound(
            f"no provider '{provider}' in the catalog (known: {', '.join(catalog.providers())})",
            param="provider",
        )
    return [_model_info(m) for m in found]


def _epoch(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


async def _statuses(state: GatewayState, models: list[CatalogModel]) -> list[ModelStatus]:
    live = await state.snapshot(models)
    out = []
    for model in models:
        now = live[model.name]
        missing = model.missing_env()
        out.append(
            ModelStatus(
                name=model.name,
                provider=model.provider,
                available=not missing,
                missing_env=missing,
                healthy=now.healthy,
                breaker=now.breaker,
                cooled_down_until=_epoch(now.cooled_down_until),
                latency_p50_ms=now.latency_p50_ms,
                error_rate=now.error_rate,
                headroom=now.headroom,
                limits={"rpm": model.rpm, "tpm": model.tpm, "rpd": model.rpd, "tpd": model.tpd},
                remaining=now.remaining,
                last_error=now.last_error,
                last_check=_epoch(now.last_check),
            )
        )
    return out


@routes.get("/providers/status", response_model=list[ProviderStatus])
async def providers_status(_: KeyId, catalog: CatalogDep, state: State) -> list[ProviderStatus]:
    """Per provider: availability, missing env vars, and every model's live health and headroom."""
    out = []
    for provider in catalog.providers():
        models = catalog.by_provider(provider)
        statuses = await _statuses(state, models)
        out.append(
            ProviderStatus(
                provider=provider,
                models=len(models),
                available_models=sum(1 for s in statuses if s.available),
                healthy_models=sum(1 for s in statuses if s.healthy and not s.cooled_down_until),
                missing_env=sorted({name for s in statuses for name in s.missing_env}),
                model_status=statuses,
            )
        )
    return out


@routes.get("/models/{provider}/{model:path}/status", response_model=ModelStatus)
async def model_status(
    provider: str, model: str, _: KeyId, catalog: CatalogDep, state: State
) -> ModelStatus:
    """Live health and headroom of one model (`/models/groq/gpt-oss-120b/status`)."""
    found = catalog.get(f"{provider}/{model}") or catalog.get(model)
    if found is None or found.provider != provider:
        raise NotFound(f"no model '{model}' of provider '{provider}' in the catalog", param="model")
    return (await _statuses(state, [found]))[0]


def _in_utc(moment: datetime | None, param: str) -> datetime | None:
    """The moment in UTC; 400 when it has none (0001-01-01T00:00:00+23:59 is before year 1)."""
    if moment is None or moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(
            f"Invalid value for '{param}': outside the representable range in UTC", param=param
        ) from None


@routes.get("/usage", response_model=UsageReport)
async def usage(
    caller: PrincipalDep,
    tracker: Tracker,
    since: datetime | None = Query(default=None, description="ISO 8601 start (inclusive)"),
    until: datetime | None = Query(default=None, description="ISO 8601 end (exclusive)"),
    group_by: Literal["provider", "model", "day", "key", "category", "tier"] | None = Query(
        default=None
    ),
    key: str | None = Query(default=None, max_length=128, description="one key id (admin only)"),
) -> UsageReport:
    """Requests, tokens, errors, rate-limit hits and cost; a client key sees only its own."""
    since, until = _in_utc(since, "since"), _in_utc(until, "until")
    if since and until and since >= until:
        raise InvalidRequest("'since' must be before 'until'", param="since")
    if not caller.is_admin:
        if key not in (None, caller.key_id):
            raise InsufficientPermissions("This API key may read only its own usage.")
        key = caller.key_id
    totals = await tracker.get_stats(since=since, until=until, group_by=None, key_id=key)
    groups = (
        await tracker.get_stats(since=since, until=until, group_by=group_by, key_id=key)
        if group_by
        else []
    )

    def _metrics(stat: object) -> UsageMetrics:
        return UsageMetrics.model_validate(stat, from_attributes=True)

    empty = UsageMetrics(
        key=None, requests=0, prompt_tokens=0, completion_tokens=0, errors=0,
        rate_limit_hits=0, cost_usd=0.0, saved_cost_usd=0.0, avg_latency_ms=None,
    )  # fmt: skip
    return UsageReport(
        since=since,
        until=until,
        group_by=group_by,
        totals=_metrics(totals[0]) if totals else empty,
        groups=[_metrics(s) for s in groups],
    )
