"""One request's bookkeeping, shared by whole and streamed chats.

Every attempt's usage row, the limits' settling, the routing decision and the Portkey trace go
through one `AttemptRecorder`, so the two chat paths cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.core.events import UsageEvent
from annas_gift.core.types import Attempt, ChatInput, RequestContext
from annas_gift.services.collaborators import ChatCollaborators
from annas_gift.services.decisions import decision_events
from annas_gift.services.types import AttemptSuccess, RoutePlan
from annas_gift.upstream.base import Usage
from annas_gift.upstream.portkey_client import TraceEvent


def failed_attempt(model: CatalogModel, exc: errors.GatewayError, took_ms: float) -> Attempt:
    """The attempt entry for a failed call."""
    return Attempt(
        model.name, model.provider, exc.status, exc.code, exc.message, took_ms, exc.retry_after
    )


class AttemptRecorder:
    """Records what happens to one request: usage rows, limit bookkeeping, decision, trace."""

    def __init__(self, parts: ChatCollaborators, ctx: RequestContext, inp: ChatInput) -> None:
        self.parts = parts
        self.ctx = ctx
        self.inp = inp
        self.cache: str | None = None  # "hit"/"miss" once the response cache was consulted
        self.ttft_s: float | None = None  # streams: request start to the first chunk
        self._excerpt: tuple[str | None] | None = None  # taken once, for every attempt's row

    def prompt_excerpt(self) -> str | None:
        """What `logging.store_prompts` keeps of the prompt (None when it is off)."""
        if self._excerpt is None:
            self._excerpt = (self.parts.prompt_excerpt(self.inp),)
        return self._excerpt[0]

    def now(self) -> float:
        """The service clock (monotonic seconds)."""
        return self.parts.clock()

    def elapsed_ms(self) -> float:
        """Milliseconds since the request started."""
        return (self.parts.clock() - self.ctx.started) * 1000

    def usage(  # noqa: PLR0913 - a row's fields, and the decision it served
        self,
        model: CatalogModel,
        usage: Usage,
        *,
        status: int,
        latency_ms: float,
        stream: bool,
        error_type: str | None = None,
        saved_cost_usd: float | None = None,
        decided: tuple[RoutePlan, list[Attempt]] | None = None,
    ) -> float:
        """Record one attempt's usage row (off the request path) and return its cost.

        `saved_cost_usd` marks a cache hit: the answer was free and saved that much. `decided`
        (the plan and its attempts) records the routing decision that `model` served with the
        row: the request's three events then cost one journal write instead of three.
        """
        cached = saved_cost_usd is not None
        cost = 0.0 if cached else model.cost_usd(usage.prompt_tokens, usage.completion_tokens)
        ctx = self.ctx
        decision = decision_events(ctx.request_id, *decided, model) if decided else None
        self.parts.recorder.record_request(
            UsageEvent(
                request_id=ctx.request_id,
                created_at=datetime.now(UTC),
                key_id=ctx.key_id,
                route=ctx.route,
                provider=model.provider,
                model=model.name,
                upstream_model=model.litellm_model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=cost,
                latency_ms=latency_ms,
                status=status,
                error_type=error_type,
                stream=stream,
                cached=cached,
                saved_cost_usd=saved_cost_usd or 0.0,
                prompt_excerpt=self.prompt_excerpt(),
            ),
            decision,
        )
        return cost

    def denied(self, model: CatalogModel, exc: errors.GatewayError, *, stream: bool) -> Attempt:
        """A model the limits kept us from calling (over a limit, cooling down, circuit open)."""
        self.usage(
            model, Usage(), status=exc.status, latency_ms=0.0, stream=stream, error_type=exc.code
        )
        return failed_attempt(model, exc, 0.0)

    async def failed(
        self, model: CatalogModel, exc: errors.GatewayError, took_ms: float, *, stream: bool
    ) -> Attempt:
        """A call that failed: its usage row, and its outcome reported to the shared health."""
        self.usage(
            model, Usage(), status=exc.status, latency_ms=took_ms, stream=stream,
            error_type=exc.code,
        )  # fmt: skip
        await self.parts.limits.failed(model, exc, took_ms)
        return failed_attempt(model, exc, took_ms)

    async def interrupted(self, model: CatalogModel, exc: errors.GatewayError) -> None:
        """A stream the provider broke after its first chunk: counts against the model's health."""
        await self.parts.limits.failed(model, exc, 0.0)

    def settled(
        self,
        done: AttemptSuccess[Any],
        usage: Usage,
        headers: Mapping[str, str],
        latency_ms: float,
    ) -> None:
        """Settle the answering model's token estimate and report it healthy."""
        self.parts.limits.succeeded(
            done.model, est_tokens=done.est_tokens, usage=usage, headers=headers,
            latency_ms=latency_ms, ticket=done.ticket,
        )  # fmt: skip

    def decision(
        self, plan: RoutePlan, attempts: list[Attempt], served: CatalogModel | None
    ) -> None:
        """Persist an auto-routing decision (classification + selection), linked by request id.

        For a request that failed; a served one records it with its usage row (`usage`)."""
        events = decision_events(self.ctx.request_id, plan, attempts, served)
        if events is not None:
            self.parts.recorder.record_decision(*events)

    def observe(  # noqa: PLR0913 - the outcome fields a caller may know
        self,
        plan: RoutePlan | None,
        attempts: list[Attempt],
        model: CatalogModel | None,
        *,
        status: int,
        usage: Usage | None = None,
        cost_usd: float = 0.0,
        error_type: str | None = None,
        saved_usd: float = 0.0,
    ) -> None:
        """Count one finished request in the metrics: call once per request, at its end."""
        upstream_ms = 0.0
        for attempt in attempts:
            upstream_ms += attempt.latency_ms
        ctx = self.ctx
        self.parts.metrics.observe_request(
            route=ctx.route,
            provider=model.provider if model else None,
            model=model.name if model else None,
            status=status,
            latency_s=self.parts.clock() - ctx.started,
            tier=plan.tier_of(model) if plan and model else None,
            category=plan.category if plan else None,
            upstream_s=upstream_ms / 1000,
            ttft_s=self.ttft_s,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cost_usd=cost_usd,
            error_code=error_type,
            key_alias=ctx.key_id,
            cache=self.cache,
            saved_usd=saved_usd,
            attempts=len(attempts),
            fell_back=bool(plan and model and plan.models and model is not plan.models[0]),
        )

    def trace(  # noqa: PLR0913 - one keyword per trace field a caller may know
        self,
        plan: RoutePlan | None,
        attempts: list[Attempt],
        model: CatalogModel | None,
        *,
        status: int,
        usage: Usage | None = None,
        cost_usd: float = 0.0,
        response: dict[str, Any] | None = None,
        stream: bool = False,
        error_type: str | None = None,
    ) -> None:
        """Count the finished request; queue its Portkey entry (a no-op when tracing is off)."""
        self.observe(
            plan, attempts, model, status=status, usage=usage, cost_usd=cost_usd,
            error_type=error_type,
        )  # fmt: skip
        tracer = self.parts.tracer
        if not tracer.enabled:
            return
        usage = usage or Usage()
        ctx, inp = self.ctx, self.inp
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
                latency_ms=self.elapsed_ms(),
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
