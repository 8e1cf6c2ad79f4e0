"""Portkey trace entries for finished requests (queued off the request path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from annas_gift.upstream.base import Usage
from annas_gift.upstream.portkey_client import PortkeyTracer, TraceEvent

if TYPE_CHECKING:
    from annas_gift.catalog.registry import CatalogModel
    from annas_gift.services.types import Attempt, ChatInput, RequestContext, RoutePlan


def trace_request(
    tracer: PortkeyTracer | None,
    ctx: RequestContext,
    inp: ChatInput,
    plan: RoutePlan | None,
    attempts: list[Attempt],
    model: CatalogModel | None,
    *,
    status: int,
    latency_ms: float,
    usage: Usage | None = None,
    cost_usd: float = 0.0,
    response: dict[str, Any] | None = None,
    stream: bool = False,
    error_type: str | None = None,
) -> None:
    """Queue one Portkey log entry for a finished request; a no-op when tracing is off."""
    if tracer is None or not tracer.enabled:
        return
    usage = usage or Usage()
    tracer.record(
        TraceEvent(
            request_id=ctx.request_id,
            trace_id=tracer.trace_id_for(ctx.request_id),
            created_at=datetime.now(UTC),
            route=ctx.route,
            key_id=ctx.key_id,
            status=status,
            provider=model.provider if model else "",
            model=model.name if model else inp.model,
            upstream_model=model.litellm_model if model else None,
            latency_ms=latency_ms,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=cost_usd,
            tier=plan.tier if plan else None,
            category=plan.category if plan else None,
            attempts=[a.to_dict() for a in attempts],
            request_body={"messages": inp.messages, **inp.params},
            response_body=response,
            stream=stream,
            error_type=error_type,
        )
    )
