"""The chat service: plan the models to try, call them in order, price and record each attempt.

Routes stay thin: they turn a request into a `ChatInput` and call `ChatService.complete`, or
`services.streaming.open_stream` for a streamed answer; both record through `AttemptRecorder`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.core import errors
from annas_gift.core.types import AUTO_MODELS, Attempt, ChatInput, RequestContext
from annas_gift.egress.policies import ProxyChoice
from annas_gift.services.attempts import AttemptRecorder
from annas_gift.services.collaborators import CachedAnswer, ChatCollaborators
from annas_gift.services.limits import estimate_request_tokens
from annas_gift.services.types import AttemptSuccess, ChatConfig, ChatResult, RoutePlan, T
from annas_gift.state import ModelLiveState
from annas_gift.state.budgets import Reservation
from annas_gift.upstream.base import Upstream, UpstreamCall


class _Skipped(Exception):
    """A model the attempt loop passes over before calling it: no key, no budget or no room."""

    def __init__(self, attempt: Attempt, error: errors.GatewayError) -> None:
        super().__init__(error.message)
        self.attempt = attempt
        self.error = error


class ChatService:
    """Runs chat requests against the catalog through one upstream."""

    def __init__(
        self,
        catalog: Catalog,
        upstream: Upstream,
        parts: ChatCollaborators,
        config: ChatConfig | None = None,
    ) -> None:
        self.catalog = catalog
        self.upstream = upstream
        self.parts = parts
        self.config = config or ChatConfig()

    def recorder_for(self, inp: ChatInput, ctx: RequestContext) -> AttemptRecorder:
        """The bookkeeping of one request."""
        return AttemptRecorder(self.parts, ctx, inp)

    # -- planning ---------------------------------------------------------------------------

    async def prepare(self, inp: ChatInput, ctx: RequestContext) -> RoutePlan:
        """Admit the client, then plan with the live model state (for auto requests)."""
        try:
            self.parts.budgets.check_request(ctx.key_id, inp)
            est = estimate_request_tokens(inp.messages, inp.params)
            await self.parts.limits.admit_client(ctx.key_id, est)
            live = await self.live_state() if inp.model in AUTO_MODELS else None
            return await self.parts.budgets.shape(ctx.key_id, inp, self.plan(inp, live))
        except errors.GatewayError as exc:  # refused before any model: still a finished request
            self.recorder_for(inp, ctx).observe(
                None, [], None, status=exc.status, error_type=exc.code
            )
            raise

    async def live_state(self) -> Mapping[str, ModelLiveState] | None:
        """Every model's shared health/headroom snapshot (None without a state backend)."""
        return await self.parts.limits.snapshot(
            self.catalog.all(), max_age_s=self.config.snapshot_max_age_s
        )

    def plan(
        self,
        inp: ChatInput,
        live: Mapping[str, ModelLiveState] | None = None,
        *,
        mode: str = "chat",
    ) -> RoutePlan:
        """The ordered models for a request; raises for unknown models before any call.

        `mode` is what the route serves ("chat" or "embedding"): a model of the other mode is
        refused, in `model` and in `fallbacks`.
        """
        if inp.model in AUTO_MODELS:
            return self.parts.planner.plan(inp, self.catalog, live)
        first = self._lookup(inp.model, "model", mode)
        models = [first]
        for i, name in enumerate(inp.fallbacks):
            fallback = self._lookup(name, f"fallbacks[{i}]", mode)
            if fallback not in models:
                models.append(fallback)
        return RoutePlan(models=models, explicit=True, tier=first.tier)

    def _lookup(self, name: str, param: str, mode: str) -> CatalogModel:
        model = self.catalog.get(name)
        where = "" if param == "model" else f" (in {param})"
        if model is None:
            raise errors.ModelNotFound(
                f"The model '{name}'{where} does not exist in this gateway's catalog "
                "(GET /v1/models lists them; use 'auto' to let the gateway choose)",
                param=param,
            )
        if model.mode != mode:
            route = "/v1/embeddings" if model.mode == "embedding" else "/v1/chat/completions"
            raise errors.InvalidRequest(
                f"The model '{name}'{where} is a {model.mode} model: call POST {route} with it",
                param=param,
                code="model_not_supported",
            )
        return model

    # -- calling ----------------------------------------------------------------------------

    def deadline(self, ctx: RequestContext) -> float:
        """When the request's time budget runs out, on the service clock."""
        return ctx.started + self.config.request_timeout_s

    def call_for(
        self,
        model: CatalogModel,
        inp: ChatInput,
        ctx: RequestContext,
        proxy_url: str | None = None,
    ) -> UpstreamCall:
        """The upstream call for one attempt, its timeout bounded by the request deadline."""
        remaining = self.deadline(ctx) - self.parts.clock()
        return UpstreamCall(
            model=model,
            messages=inp.messages,
            params=inp.params,
            timeout_s=max(0.05, min(self.config.attempt_timeout_s, remaining)),
            request_id=ctx.request_id,
            metadata={"request_id": ctx.request_id, "route": ctx.route},
            proxy_url=proxy_url,
        )

    async def _attempt(
        self,
        model: CatalogModel,
        rec: AttemptRecorder,
        call: Callable[[UpstreamCall], Awaitable[T]],
    ) -> T:
        """One model attempt, through the VPN when it routes this provider.

        A dead egress endpoint costs one failed try: the same attempt moves to the next
        endpoint (counted in the VPN's failovers, not as a model fallback).
        """
        egress = self.parts.egress
        if not egress.routes(model.provider):
            return await call(self.call_for(model, rec.inp, rec.ctx))

        async def through(choice: ProxyChoice | None) -> T:
            proxy = choice.url if choice is not None else None
            return await call(self.call_for(model, rec.inp, rec.ctx, proxy))

        value, _failovers = await egress.call_with_failover(model.provider, through)
        return value

    def missing_credentials(self, model: CatalogModel) -> errors.ProviderNotConfigured | None:
        """The 503 for a model whose provider key is unset, or None when it can be called."""
        missing = model.missing_env(self.config.env)
        if not missing:
            return None
        names = ", ".join(missing)
        return errors.ProviderNotConfigured(
            f"model '{model.name}' is not available: set {names} in the gateway's environment",
            provider=model.provider,
            model=model.name,
            details={"missing_env": missing},
        )

    @staticmethod
    def failure(attempts: list[Attempt], last: errors.GatewayError) -> errors.GatewayError:
        """What the client sees when no attempt succeeded."""
        if len(attempts) <= 1 or all(a.error == errors.BudgetExceeded.code for a in attempts):
            return last  # its own error (429 keeps Retry-After; budgets their reset) says most
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

    async def run(
        self,
        plan: RoutePlan,
        rec: AttemptRecorder,
        call: Callable[[UpstreamCall], Awaitable[T]],
        *,
        stream: bool,
        est_tokens: int | None = None,
    ) -> AttemptSuccess[T]:
        """The attempt loop: try the plan's models in order until `call` succeeds.

        Each failed attempt is recorded; a retryable failure moves to the next model while the
        request deadline allows; anything else is raised at once. `est_tokens` overrides the
        chat estimate (embeddings count their input, not messages).
        """
        attempts: list[Attempt] = []
        last: errors.GatewayError | None = None
        est = est_tokens
        if est is None:
            est = estimate_request_tokens(rec.inp.messages, rec.inp.params)
        for model in plan.models:
            if rec.now() >= self.deadline(rec.ctx):
                break
            try:
                ticket, hold = await self._admit(model, rec, est, stream=stream)
            except _Skipped as skipped:
                attempts.append(skipped.attempt)
                last = skipped.error
                continue
            began = rec.now()
            try:
                value = await self._attempt(model, rec, call)
            except BaseException as exc:
                await self.parts.budgets.release(hold)
                if not isinstance(exc, errors.GatewayError):
                    raise
                took = (rec.now() - began) * 1000
                attempts.append(await rec.failed(model, exc, took, stream=stream))
                last = exc
                if not exc.retryable:
                    self._failed(rec, plan, attempts, exc, stream=stream)
                    raise
                continue
            took = (rec.now() - began) * 1000
            attempts.append(Attempt(model.name, model.provider, 200, latency_ms=took))
            return AttemptSuccess(model, value, attempts, began, took, est, ticket, hold)
        if last is None:
            last = errors.UpstreamTimeout("the request deadline passed before any model answered")
        failure = self.failure(attempts, last)
        self._failed(rec, plan, attempts, failure, stream=stream)
        raise failure

    async def _admit(
        self, model: CatalogModel, rec: AttemptRecorder, est: int, *, stream: bool
    ) -> tuple[str | None, Reservation | None]:
        """Reserve what one attempt at `model` needs (budget, then limits), or raise _Skipped."""
        missing = self.missing_credentials(model)
        if missing is not None:
            attempt = Attempt(model.name, model.provider, missing.status, missing.code)
            raise _Skipped(attempt, missing)
        try:  # a budget too full for this model may still fit a cheaper fallback
            hold = await self.parts.budgets.reserve(rec.ctx.key_id, model, rec.inp)
        except errors.BudgetExceeded as exc:
            raise _Skipped(rec.denied(model, exc, stream=stream), exc) from None
        ticket, denied = await self.parts.limits.admit_model(model, est)
        if denied is not None:  # over a limit, cooling down or circuit open: skip it
            await self.parts.budgets.release(hold)
            raise _Skipped(rec.denied(model, denied, stream=stream), denied)
        return ticket, hold

    def _failed(
        self,
        rec: AttemptRecorder,
        plan: RoutePlan,
        attempts: list[Attempt],
        exc: errors.GatewayError,
        *,
        stream: bool,
    ) -> None:
        """Record the decision and trace a request that ends in an error (last model named)."""
        rec.decision(plan, attempts, None)
        last_model = self.catalog.get(attempts[-1].model) if attempts else None
        rec.trace(plan, attempts, last_model, status=exc.status, stream=stream, error_type=exc.code)

    async def complete(self, inp: ChatInput, ctx: RequestContext) -> ChatResult:
        """Answer from the cache, or try the plan's models in order until one answers."""
        rec = self.recorder_for(inp, ctx)
        cache = self.parts.cache
        key = cache.key_for(inp.model, inp.messages, inp.params, cache=inp.cache, stream=False)
        if key is not None:
            hit = await cache.get(key)
            model = self.catalog.get(hit.model_name) if hit else None
            if hit is not None and model is not None:
                return self._from_cache(hit, model, rec)
            rec.cache = "miss"
        plan = await self.prepare(inp, ctx)
        done = await self.run(plan, rec, self.upstream.complete, stream=False)
        completion = done.value
        cost = rec.usage(
            done.model, completion.usage, status=200, latency_ms=done.took_ms, stream=False,
            decided=(plan, done.attempts),
        )  # fmt: skip
        await self.parts.budgets.settle(done.hold, cost)
        rec.settled(done, completion.usage, completion.provider_headers, done.took_ms)
        if key is not None:
            await cache.put(key, completion, done.model.name, cost)
        rec.trace(
            plan, done.attempts, done.model, status=200, usage=completion.usage, cost_usd=cost,
            response=completion.body,
        )  # fmt: skip
        return ChatResult(completion, done.model, plan, done.attempts, cost, done.took_ms)

    @staticmethod
    def _from_cache(hit: CachedAnswer, model: CatalogModel, rec: AttemptRecorder) -> ChatResult:
        """A cache hit: free, recorded with the cost it saved."""
        took = rec.elapsed_ms()
        rec.usage(
            model, hit.completion.usage, status=200, latency_ms=took, stream=False,
            saved_cost_usd=hit.cost_usd,
        )  # fmt: skip
        plan = RoutePlan(models=[model], explicit=True, tier=model.tier)
        rec.cache = "hit"
        rec.observe(plan, [], model, status=200, usage=hit.completion.usage, saved_usd=hit.cost_usd)
        return ChatResult(hit.completion, model, plan, [], 0.0, took, cache="hit")
