"""The chat service: plan the models to try, call them in order, price and record each attempt.

Routes stay thin: they turn a request into a `ChatInput` and call `ChatService.complete` or
`ChatService.open_stream`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.monitoring.events import UsageEvent
from annas_gift.services.decisions import decision_events
from annas_gift.services.limits import Limits, estimate_request_tokens
from annas_gift.services.response_cache import CachedAnswer, ResponseCache
from annas_gift.services.tracing import trace_request
from annas_gift.services.types import (
    AUTO_MODELS,
    Attempt,
    ChatInput,
    ChatResult,
    Outcome,
    Recorder,
    RequestContext,
    RoutePlan,
    Router,
    T,
)
from annas_gift.upstream import errors
from annas_gift.upstream.base import Upstream, UpstreamCall, Usage
from annas_gift.upstream.portkey_client import PortkeyTracer
from annas_gift.upstream.vpn_manager import VPNManager
from annas_gift.upstream.vpn_policies import ProxyChoice


class ChatService:
    """Runs chat requests against the catalog through one upstream."""

    def __init__(
        self,
        catalog: Catalog,
        upstream: Upstream,
        recorder: Recorder,
        *,
        router: Router | None = None,
        attempt_timeout_s: float = 60.0,
        request_timeout_s: float = 120.0,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        tracer: PortkeyTracer | None = None,
        limits: Limits | None = None,
        cache: ResponseCache | None = None,
        vpn: VPNManager | None = None,
        snapshot_max_age_s: float = 0.05,
    ) -> None:
        self.catalog = catalog
        self.upstream = upstream
        self.recorder = recorder
        self.router = router
        self.attempt_timeout_s = attempt_timeout_s
        self.request_timeout_s = request_timeout_s
        self._env = env
        self._clock = clock
        self.tracer = tracer
        self.limits = limits
        self.cache = cache
        self.vpn = vpn
        self.snapshot_max_age_s = snapshot_max_age_s

    # -- planning ---------------------------------------------------------------------------

    async def prepare(self, inp: ChatInput, ctx: RequestContext) -> RoutePlan:
        """Admit the client, then plan with the live model state (for auto requests)."""
        if self.limits is None:
            return self.plan(inp)
        await self.limits.admit_client(
            ctx.key_id, estimate_request_tokens(inp.messages, inp.params)
        )
        live = await self.live_state() if inp.model in AUTO_MODELS else None
        return self.plan(inp, live)

    async def live_state(self) -> Mapping[str, Any] | None:
        """Every model's shared health/headroom snapshot (None without a state backend)."""
        if self.limits is None:
            return None
        return await self.limits.state.snapshot(
            self.catalog.all(), max_age_s=self.snapshot_max_age_s
        )

    def plan(self, inp: ChatInput, live: Mapping[str, Any] | None = None) -> RoutePlan:
        """The ordered models for a request; raises for unknown models before any call."""
        if inp.model in AUTO_MODELS:
            if self.router is None:
                raise errors.ModelNotFound(
                    f"model {inp.model!r} needs the router, which is not configured",
                    param="model",
                )
            return self.router.plan(inp, self.catalog, live)
        first = self._lookup(inp.model, "model")
        models = [first]
        for i, name in enumerate(inp.fallbacks):
            fallback = self._lookup(name, f"fallbacks[{i}]")
            if fallback not in models:
                models.append(fallback)
        return RoutePlan(models=models, explicit=True, tier=first.tier)

    def _lookup(self, name: str, param: str) -> CatalogModel:
        model = self.catalog.get(name)
        if model is None:
            where = "" if param == "model" else f" (in {param})"
            raise errors.ModelNotFound(
                f"The model '{name}'{where} does not exist in this gateway's catalog "
                "(GET /v1/models lists them; use 'auto' to let the gateway choose)",
                param=param,
            )
        return model

    # -- calling ----------------------------------------------------------------------------

    def now(self) -> float:
        """The service clock (monotonic seconds)."""
        return self._clock()

    def deadline(self, ctx: RequestContext) -> float:
        """When the request's time budget runs out, on the service clock."""
        return ctx.started + self.request_timeout_s

    def call_for(
        self,
        model: CatalogModel,
        inp: ChatInput,
        ctx: RequestContext,
        proxy_url: str | None = None,
    ) -> UpstreamCall:
        """The upstream call for one attempt, its timeout bounded by the request deadline."""
        remaining = self.deadline(ctx) - self._clock()
        return UpstreamCall(
            model=model,
            messages=inp.messages,
            params=inp.params,
            timeout_s=max(0.05, min(self.attempt_timeout_s, remaining)),
            request_id=ctx.request_id,
            metadata={"request_id": ctx.request_id, "route": ctx.route},
            proxy_url=proxy_url,
        )

    async def _attempt(
        self,
        model: CatalogModel,
        inp: ChatInput,
        ctx: RequestContext,
        call: Callable[[UpstreamCall], Awaitable[T]],
    ) -> T:
        """One model attempt, through the VPN when it routes this provider.

        A dead egress endpoint costs one failed try: the same attempt moves to the next
        endpoint (counted in the VPN's failovers, not as a model fallback).
        """
        if self.vpn is None or not self.vpn.routes(model.provider):
            return await call(self.call_for(model, inp, ctx))

        async def through(choice: ProxyChoice | None) -> T:
            proxy = choice.url if choice is not None else None
            return await call(self.call_for(model, inp, ctx, proxy))

        value, _failovers = await self.vpn.call_with_failover(model.provider, through)
        return value

    def missing_credentials(self, model: CatalogModel) -> errors.ProviderNotConfigured | None:
        """The 503 for a model whose provider key is unset, or None when it can be called."""
        missing = model.missing_env(self._env)
        if not missing:
            return None
        names = ", ".join(missing)
        return errors.ProviderNotConfigured(
            f"model '{model.name}' is not available: set {names} in the gateway's environment",
            provider=model.provider,
            model=model.name,
            details={"missing_env": missing},
        )

    def failure(self, attempts: list[Attempt], last: errors.GatewayError) -> errors.GatewayError:
        """What the client sees when no attempt succeeded."""
        if len(attempts) <= 1:
            return last  # one model tried: its own error (429 keeps Retry-After) says most
        listed = "; ".join(f"{a.model}: {a.error}" for a in attempts)
        details = {"attempts": [a.to_dict() for a in attempts]}
        if all(a.status == 429 for a in attempts):
            waits = [a.retry_after for a in attempts if a.retry_after is not None]
            return errors.RateLimited(
                f"every candidate model is rate limited ({listed})",
                retry_after=min(waits) if waits else None,
                details=details,
            )
        return errors.AllAttemptsFailed(
            f"all {len(attempts)} models failed ({listed})", details=details
        )

    @staticmethod
    def failed_attempt(model: CatalogModel, exc: errors.GatewayError, took_ms: float) -> Attempt:
        """The attempt entry for a failed call."""
        return Attempt(
            model.name, model.provider, exc.status, exc.code, exc.message, took_ms, exc.retry_after
        )

    def record(
        self,
        ctx: RequestContext,
        model: CatalogModel,
        *,
        usage: Usage,
        status: int,
        latency_ms: float,
        stream: bool,
        error_type: str | None = None,
        cached: bool = False,
        saved_cost_usd: float = 0.0,
    ) -> float:
        """Record one attempt (off the request path) and return its cost."""
        cost = 0.0 if cached else model.cost_usd(usage.prompt_tokens, usage.completion_tokens)
        self.recorder.record_request(
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
                saved_cost_usd=saved_cost_usd,
            )
        )
        return cost

    def record_decision(
        self,
        ctx: RequestContext,
        plan: RoutePlan,
        attempts: list[Attempt],
        served: CatalogModel | None,
    ) -> None:
        """Persist an auto-routing decision (classification + selection), linked by request id."""
        events = decision_events(ctx.request_id, plan, attempts, served)
        if events is not None:
            self.recorder.record_decision(*events)

    async def run(
        self,
        plan: RoutePlan,
        inp: ChatInput,
        ctx: RequestContext,
        call: Callable[[UpstreamCall], Awaitable[T]],
        *,
        stream: bool,
    ) -> Outcome[T]:
        """The attempt loop: try the plan's models in order until `call` succeeds.

        Each failed attempt is recorded; a retryable failure moves to the next model while the
        request deadline allows; anything else is raised at once.
        """
        attempts: list[Attempt] = []
        last: errors.GatewayError | None = None
        est = estimate_request_tokens(inp.messages, inp.params)
        for model in plan.models:
            if self._clock() >= self.deadline(ctx):
                break
            missing = self.missing_credentials(model)
            if missing is not None:
                attempts.append(Attempt(model.name, model.provider, missing.status, missing.code))
                last = missing
                continue
            ticket = None
            if self.limits is not None:
                ticket, denied = await self.limits.admit_model(model, est)
                if denied is not None:  # over a limit, cooling down or circuit open: skip it
                    attempts.append(self.failed_attempt(model, denied, 0.0))
                    self.record(
                        ctx, model, usage=Usage(), status=denied.status, latency_ms=0.0,
                        stream=stream, error_type=denied.code,
                    )  # fmt: skip
                    last = denied
                    continue
            began = self._clock()
            try:
                value = await self._attempt(model, inp, ctx, call)
            except errors.GatewayError as exc:
                took = (self._clock() - began) * 1000
                attempts.append(self.failed_attempt(model, exc, took))
                self.record(
                    ctx, model, usage=Usage(), status=exc.status, latency_ms=took,
                    stream=stream, error_type=exc.code,
                )  # fmt: skip
                if self.limits is not None:
                    await self.limits.failed(model, exc, took)
                last = exc
                if not exc.retryable:
                    self.record_decision(ctx, plan, attempts, None)
                    self.trace_failure(ctx, inp, plan, attempts, exc, stream=stream)
                    raise
                continue
            took = (self._clock() - began) * 1000
            attempts.append(Attempt(model.name, model.provider, 200, latency_ms=took))
            self.record_decision(ctx, plan, attempts, model)
            return Outcome(model, value, attempts, began, took, est, ticket)
        self.record_decision(ctx, plan, attempts, None)
        if last is None:
            last = errors.UpstreamTimeout("the request deadline passed before any model answered")
        failure = self.failure(attempts, last)
        self.trace_failure(ctx, inp, plan, attempts, failure, stream=stream)
        raise failure

    def trace_failure(
        self,
        ctx: RequestContext,
        inp: ChatInput,
        plan: RoutePlan,
        attempts: list[Attempt],
        exc: errors.GatewayError,
        *,
        stream: bool,
    ) -> None:
        """Trace a request that ends in an error (the last model tried, if any, is named)."""
        last_model = self.catalog.get(attempts[-1].model) if attempts else None
        trace_request(
            self.tracer, ctx, inp, plan, attempts, last_model, status=exc.status,
            latency_ms=(self._clock() - ctx.started) * 1000, stream=stream, error_type=exc.code,
        )  # fmt: skip

    async def complete(self, inp: ChatInput, ctx: RequestContext) -> ChatResult:
        """Answer from the cache, or try the plan's models in order until one answers."""
        key = None
        if self.cache is not None:
            key = self.cache.key_for(
                inp.model, inp.messages, inp.params, cache=inp.cache, stream=False
            )
            hit = await self.cache.get(key) if key else None
            model = self.catalog.get(hit.model_name) if hit else None
            if hit is not None and model is not None:
                return self._from_cache(hit, model, ctx)
        plan = await self.prepare(inp, ctx)
        done = await self.run(plan, inp, ctx, self.upstream.complete, stream=False)
        completion = done.value
        cost = self.record(
            ctx, done.model, usage=completion.usage, status=200, latency_ms=done.took_ms,
            stream=False,
        )  # fmt: skip
        if self.limits is not None:
            self.limits.succeeded(
                done.model, est_tokens=done.est_tokens, usage=completion.usage,
                headers=completion.provider_headers, latency_ms=done.took_ms, ticket=done.ticket,
            )  # fmt: skip
        if key is not None and self.cache is not None:
            await self.cache.put(key, completion, done.model.name, cost)
        trace_request(
            self.tracer, ctx, inp, plan, done.attempts, done.model, status=200,
            latency_ms=(self._clock() - ctx.started) * 1000, usage=completion.usage,
            cost_usd=cost, response=completion.body,
        )  # fmt: skip
        return ChatResult(completion, done.model, plan, done.attempts, cost, done.took_ms)

    def _from_cache(
        self, hit: CachedAnswer, model: CatalogModel, ctx: RequestContext
    ) -> ChatResult:
        """A cache hit: free, recorded with the cost it saved."""
        took = (self._clock() - ctx.started) * 1000
        self.record(
            ctx, model, usage=hit.completion.usage, status=200, latency_ms=took, stream=False,
            cached=True, saved_cost_usd=hit.cost_usd,
        )  # fmt: skip
        plan = RoutePlan(models=[model], explicit=True, tier=model.tier)
        return ChatResult(hit.completion, model, plan, [], 0.0, took, cache="hit")
