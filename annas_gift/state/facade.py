"""GatewayState: the one object the gateway talks to for limits, health, in-flight and cache.

It runs on Redis when a URL is configured, else in process. If Redis fails mid-flight, the
failing call and all later ones run on the in-process backend (one warning); a background task
pings Redis every `retry_interval_s` and switches back when it answers (one info log). No Redis
error ever leaves this class. Requests admitted locally during an outage are not replayed into
Redis, so the first window after recovery may admit up to one instance-local window extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from annas_gift.catalog.rate_limits import ClientLimits, client_limit_specs, limits_for
from annas_gift.catalog.registry import CatalogModel
from annas_gift.state.base import Admission, Backend, ModelLiveState, Plan, build_plan
from annas_gift.state.breaker import DEFAULT_POLICY, HealthPolicy, classify
from annas_gift.state.headers import learned_from_headers
from annas_gift.state.memory import MemoryBackend
from annas_gift.state.redis_errors import redis_down

if TYPE_CHECKING:
    from annas_gift.state.redis_backend import RedisBackend

log = logging.getLogger("annas_gift.state")
T = TypeVar("T")


@dataclass(slots=True)
class _SuccessBatch:
    """Successful calls to one subject waiting for the same write."""

    plan: Plan
    latencies: list[float] = field(default_factory=list)
    sent: asyncio.Task[None] = field(init=False)


_Snapshot = dict[str, ModelLiveState]
_ADMIT_ALL = Admission(True)
_SNAPSHOT_CACHE_MAX = 64  # distinct candidate lists (tiers x categories) are few


class GatewayState:
    """Rate limits, cooldowns, health, in-flight counts and the response cache for the gateway."""

    def __init__(
        self,
        memory: MemoryBackend,
        redis: RedisBackend | None,
        *,
        clock: Callable[[], float],
        retry_interval_s: float,
        policy: HealthPolicy,
    ) -> None:
        self._memory = memory
        self._policy = policy
        self._redis = redis
        self._use_redis = False
        self._clock = clock
        self._retry_interval_s = retry_interval_s
        self._recovery: asyncio.Task[None] | None = None
        self._plans: dict[str, tuple[tuple[int | None, ...], Plan]] = {}
        self._client_plans: dict[str, tuple[tuple[int | None, ...], Plan]] = {}
        self._snapshots: dict[tuple[str, ...], tuple[float, dict[str, ModelLiveState]]] = {}
        # A refresh in progress, shared by every request that finds the snapshot stale
        # meanwhile (under load dozens did, each with its own Redis round trip).
        self._snapshot_flights: dict[tuple[str, ...], asyncio.Future[_Snapshot]] = {}
        # Entry ids must be unique across instances sharing a Redis: random prefix + counter.
        # Successes reported in the same loop iteration, per subject, sent to Redis together.
        self._successes: dict[str, _SuccessBatch] = {}
        self._rid_prefix = os.urandom(6).hex()
        self._rid_counter = itertools.count()

    @classmethod
    async def create(  # noqa: PLR0913 - one keyword per state option
        cls,
        redis_url: str | None,
        *,
        namespace: str = "annas",
        cache_max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
        socket_timeout: float = 1.0,
        max_connections: int = 64,
        retry_interval_s: float = 2.0,
        health_policy: HealthPolicy = DEFAULT_POLICY,
    ) -> GatewayState:
        """The state layer: in process when redis_url is None, else shared through Redis."""
        memory = MemoryBackend(clock, cache_max_entries, health_policy)
        if redis_url is None:
            return cls(
                memory, None, clock=clock, retry_interval_s=retry_interval_s, policy=health_policy
            )
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from annas_gift.state.redis_backend import RedisBackend

        # A blocking pool makes a burst of requests queue for a connection; the default pool
        # raises "Too many connections" instead, which would look like an outage.
        pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=max_connections,
            timeout=max(2.0, socket_timeout),
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            # Fail fast and fall back; the recovery task does the retrying, off the request path.
            retry=Retry(NoBackoff(), 0),
        )
        client = Redis.from_pool(pool)
        state = cls(
            memory,
            RedisBackend(client, namespace, health_policy),
            clock=clock,
            retry_interval_s=retry_interval_s,
            policy=health_policy,
        )
        try:
            await client.ping()
        except redis_down() as exc:
            state._lost(exc)
        else:
            state._use_redis = True
        return state

    @property
    def backend(self) -> str:
        """Which store serves calls now: "memory", "redis" or "memory (redis unavailable)"."""
        if self._redis is None:
            return "memory"
        return "redis" if self._use_redis else "memory (redis unavailable)"

    def _lost(self, exc: BaseException) -> None:
        if self._use_redis or self._recovery is None:
            log.warning(
                "Redis unavailable (%s: %s); serving from per-instance state until it returns",
                type(exc).__name__,
                exc,
            )
        self._use_redis = False
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        assert self._redis is not None
        while True:
            await asyncio.sleep(self._retry_interval_s)
            try:
                # Connections pooled before the outage are dead even though Redis is back;
                # without this the first operations on them would declare it lost again.
                await self._redis.reset_connections()
                await self._redis.ping()
            except redis_down():
                continue
            self._use_redis = True
            log.info("Redis is back; shared state resumed")
            return

    async def _run(self, op: Callable[[Backend], Awaitable[T]]) -> T:
        """Run op on Redis while it is up; on any Redis failure, on the in-process backend."""
        redis = self._redis
        if self._use_redis and redis is not None:
            try:
                return await op(redis)
            except redis_down() as exc:
                self._lost(exc)
        return await op(self._memory)

    def _plan(self, model: CatalogModel) -> Plan:
        signature = (model.rpm, model.tpm, model.rpd, model.tpd)
        cached = self._plans.get(model.name)
        if cached is None or cached[0] != signature:
            plan = build_plan("m:" + model.name, limits_for(model), gated=True)
            cached = self._plans[model.name] = (signature, plan)
        return cached[1]

    async def admit(self, model: CatalogModel, est_tokens: int) -> Admission:
        """Atomically reserve one request and est_tokens in every window of the model, or deny."""
        plan = self._plan(model)
        tokens = max(0, int(est_tokens))
        rid = f"{self._rid_prefix}{next(self._rid_counter):x}"
        return await self._run(lambda b: b.admit(plan, tokens, rid))

    async def settle(
        self,
        model: CatalogModel,
        est_tokens: int,
        actual_tokens: int,
        provider_headers: Mapping[str, str],
        *,
        ticket: str | None = None,
    ) -> None:
        """Correct the token windows to actual_tokens; tighten to budgets the provider reports.

        Pass the admission's `ticket` to correct exactly that entry (up or down). Without it
        only an increase (actual > est) is applied, to the newest entry: a decrease could free
        budget that another request still holds.
        """
        plan = self._plan(model)
        learned = learned_from_headers(provider_headers, self._clock())
        actual = max(0, int(actual_tokens))
        est = max(0, int(est_tokens))
        if ticket is not None:
            rid, _, weight = ticket.rpartition(":")
            if not (rid and weight.isdigit()):
                ticket = None  # not one of ours: a bad ticket must not reach the Lua script
            elif int(weight) == actual and learned.empty:
                return
        if ticket is None and actual <= est and learned.empty:
            return
        if not plan.windows and learned.empty:
            return  # no window to correct, no budget to learn: a Redis round trip saved
        return await self._run(lambda b: b.settle(plan, ticket, est, actual, learned))

    async def report(
        self,
        model: CatalogModel,
        *,
        ok: bool,
        latency_ms: float,
        error: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Record an upstream outcome: health EWMA and breaker; a 429 cools the model down."""
        plan = self._plan(model)
        outcome = classify(
            ok=ok,
            status=status,
            latency_ms=latency_ms,
            error=error,
            retry_after=retry_after,
            policy=self._policy,
        )
        if self._use_redis:
            if outcome.kind == "success" and outcome.error is None and not outcome.cooldown_s:
                return await self._report_success(plan, outcome.latency_ms)
            pending = self._successes.get(plan.subject)
            if pending is not None:  # successes reported before this outcome are applied first
                await asyncio.shield(pending.sent)
        return await self._run(lambda b: b.report(plan, outcome))

    async def _report_success(self, plan: Plan, latency_ms: float) -> None:
        """Join this iteration's batch of successes for the subject; return once it is stored.

        With Redis each report was a round trip of its own; under load many calls to one model
        finish in the same loop iteration, and one REPORT folds them in order, with the same
        result (tests/state/test_state_health.py).
        """
        batch = self._successes.get(plan.subject)
        if batch is None:
            batch = _SuccessBatch(plan)
            self._successes[plan.subject] = batch
            batch.sent = asyncio.get_running_loop().create_task(self._send_successes(batch))
        batch.latencies.append(latency_ms)
        await asyncio.shield(batch.sent)

    async def _send_successes(self, batch: _SuccessBatch) -> None:
        await asyncio.sleep(0)  # the reports of this loop iteration join first
        if self._successes.get(batch.plan.subject) is batch:
            del self._successes[batch.plan.subject]
        await self._run(lambda b: b.report_successes(batch.plan, batch.latencies))

    async def snapshot(
        self, models: Sequence[CatalogModel], *, max_age_s: float = 0.0
    ) -> dict[str, ModelLiveState]:
        """Live state of every given model by name (one Redis round trip for all of them).

        With max_age_s > 0 a snapshot of the same models taken less than that long ago is
        reused: ranking can afford a few milliseconds of staleness (admit() stays exact), and
        this takes the round trip off most requests.
        """
        if not models:
            return {}
        names = tuple(m.name for m in models)
        if max_age_s <= 0:
            return await self._fetch_snapshot(names, models)
        hit = self._snapshots.get(names)
        if hit is not None and time.monotonic() - hit[0] < max_age_s:
            return dict(hit[1])
        flight = self._snapshot_flights.get(names)
        if flight is None:
            flight = asyncio.ensure_future(self._fetch_snapshot(names, models, keep=True))
            self._snapshot_flights[names] = flight
            flight.add_done_callback(lambda done: self._landed(names, done))
        # Shielded: a cancelled request does not cancel the refresh the others wait for.
        return dict(await asyncio.shield(flight))

    def _landed(self, names: tuple[str, ...], flight: asyncio.Future[_Snapshot]) -> None:
        self._snapshot_flights.pop(names, None)
        if not flight.cancelled():
            flight.exception()  # retrieved here: every waiter may have gone (cancelled)

    async def _fetch_snapshot(
        self, names: tuple[str, ...], models: Sequence[CatalogModel], *, keep: bool = False
    ) -> dict[str, ModelLiveState]:
        plans = [self._plan(m) for m in models]
        states = await self._run(lambda b: b.snapshot(plans))
        result = dict(zip(names, states, strict=True))
        if keep:
            if len(self._snapshots) >= _SNAPSHOT_CACHE_MAX:
                self._snapshots.clear()
            self._snapshots[names] = (time.monotonic(), result)
        return result

    async def admit_client(self, key_id: str, limits: ClientLimits, est_tokens: int) -> Admission:
        """Atomically count one request of a gateway client key against its rpm/tpm, or deny."""
        if limits.rpm is None and limits.tpm is None:
            return _ADMIT_ALL
        signature = (limits.rpm, limits.tpm)
        cached = self._client_plans.get(key_id)
        if cached is None or cached[0] != signature:
            plan = build_plan("k:" + key_id, client_limit_specs(limits), gated=False)
            cached = self._client_plans[key_id] = (signature, plan)
        plan = cached[1]
        tokens = max(0, int(est_tokens))
        rid = f"{self._rid_prefix}{next(self._rid_counter):x}"
        return await self._run(lambda b: b.admit(plan, tokens, rid))

    async def cache_get(self, key: str) -> bytes | None:
        """A cached response body, or None."""
        return await self._run(lambda b: b.cache_get(key))

    async def cache_set(self, key: str, value: bytes, ttl_s: int) -> None:
        """Cache a (successful) response body for ttl_s seconds."""
        return await self._run(lambda b: b.cache_set(key, value, ttl_s))

    async def inflight(self, model: CatalogModel, delta: int) -> int:
        """Add delta (+1 on send, -1 when done) to the model's in-flight count; return it."""
        subject = "m:" + model.name
        return await self._run(lambda b: b.inflight(subject, delta))

    async def ping(self) -> bool:
        """Whether Redis answers now (always True for the in-process backend)."""
        if self._redis is None:
            return True
        try:
            return await self._redis.ping()
        except redis_down():
            return False

    async def aclose(self) -> None:
        """Stop the recovery task and close Redis connections."""
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        if self._redis is not None:
            await self._redis.aclose()
