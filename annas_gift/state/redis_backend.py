"""Redis state backend: state shared by every gateway instance, one atomic script per call.

Key layout (`{ns}` is a Redis Cluster hash tag, so a script's keys always share one slot):
  {ns}:h:<subject>              hash: cooldown end, breaker, error EWMA, recent latencies and
                                p50, last error/check, provider-learned budgets, and per log
                                its count, token sum and oldest entry (c<w>, t<w>, o<w>)
  {ns}:rl:<subject>:<window_s>  sorted set (the sliding log): member "<rid>:<tokens>",
                                score = admission time in µs
  {ns}:if:<subject>             in-flight count
  <ns>:cache:<key>              cached response (SET EX; no hash tag, so it spreads)
Subjects are "m:<model name>" and "k:<client key id>". Every key carries a TTL: logs their window
+ 1 s, model hashes 7 days, client hashes 62 s, in-flight counts 1 h.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from annas_gift.state import breaker, lua, lua_health
from annas_gift.state.base import (
    US,
    Admission,
    CallOutcome,
    Learned,
    ModelLiveState,
    Plan,
    build_live,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

INFLIGHT_TTL_MS = 3_600_000  # a crashed instance's in-flight counts vanish within an hour
HEALTH_TTL_MS = int(breaker.HEALTH_TTL_S * 1000)


def _b(value: object) -> bytes:
    return str(value).encode()


class _Keys:
    """A plan's key names and constant script arguments, encoded once per plan.

    redis-py re-encodes every str/int argument on every call; bytes pass straight through,
    which takes a visible share off each round trip.
    """

    __slots__ = ("gated", "hash", "keys", "nwin", "snap_spec", "ttl_ms", "windows")

    def __init__(self, tag: str, plan: Plan) -> None:
        self.hash = _b(f"{tag}:h:{plan.subject}")
        self.keys = [self.hash] + [
            _b(f"{tag}:rl:{plan.subject}:{w.window_s}") for w in plan.windows
        ]
        self.windows: list[bytes] = []
        for w in plan.windows:
            self.windows += [
                _b(w.window_s),
                _b(w.requests.limit if w.requests else -1),
                _b(w.tokens.limit if w.tokens else -1),
            ]
        self.nwin = _b(len(plan.windows))
        self.gated = b"1" if plan.gated else b"0"
        longest = max((w.window_s for w in plan.windows), default=0)
        # Client hashes only hold log summaries, so they may go soon after the logs (which
        # live window + 1 s), but never before them; model hashes also hold health.
        self.ttl_ms = _b(HEALTH_TTL_MS if plan.gated else (longest + 2) * 1000)
        self.snap_spec: list[str | int] = [plan.subject, *(w.window_s for w in plan.windows)]


class RedisBackend:
    """Sliding logs, cooldowns, health and the cache in one Redis shared by all instances."""

    name = "redis"

    def __init__(
        self, client: Redis, namespace: str, policy: breaker.HealthPolicy = breaker.DEFAULT_POLICY
    ) -> None:
        self._client = client
        self._probe_timeout_us = _b(int(policy.probe_timeout_s * US))
        self._health_args = tuple(
            _b(value)
            for value in (
                policy.failure_threshold,
                int(policy.open_base_s * US),
                int(policy.open_max_s * US),
                repr(policy.ewma_alpha),
                policy.latency_samples,
                HEALTH_TTL_MS,
            )
        )
        self._tag = "{" + namespace + "}"
        self._cache_prefix = f"{namespace}:cache:"
        self._admit = client.register_script(lua.ADMIT)
        self._settle = client.register_script(lua.SETTLE)
        self._report = client.register_script(lua_health.REPORT)
        self._snapshot = client.register_script(lua_health.SNAPSHOT)
        self._inflight = client.register_script(lua_health.INFLIGHT)
        self._keys: dict[str, tuple[Plan, _Keys]] = {}
        self._memo: dict[str, tuple[tuple[object, ...], ModelLiveState]] = {}

    def _k(self, plan: Plan) -> _Keys:
        cached = self._keys.get(plan.subject)
        if cached is None or cached[0] is not plan:
            cached = self._keys[plan.subject] = (plan, _Keys(self._tag, plan))
        return cached[1]

    async def admit(self, plan: Plan, tokens: int, rid: str) -> Admission:
        """Atomically check every window and gate; add the entry to all windows or to none."""
        k = self._k(plan)
        args: list[bytes | str | int] = [
            k.nwin,
            k.gated,
            tokens,
            rid,
            self._probe_timeout_us,
            k.ttl_ms,
            *k.windows,
        ]
        ok, wait, index, unit = await self._admit(keys=k.keys, args=args)
        if ok:
            return Admission(True, ticket=f"{rid}:{tokens}")
        unit = unit.decode()
        if index == 0:
            name = unit
        else:
            window = plan.windows[index - 1]
            spec = window.requests if unit == "r" else window.tokens
            name = spec.name if spec else unit
        return Admission(False, None if wait < 0 else wait / US, name)

    async def settle(
        self, plan: Plan, ticket: str | None, est: int, actual: int, learned: Learned
    ) -> None:
        """Correct the entry's token weight and tighten budgets the provider reported."""
        k = self._k(plan)
        args: list[bytes | str | int] = [
            k.nwin,
            ticket or "",
            est,
            actual,
            -1 if learned.requests is None else learned.requests,
            round((learned.requests_reset_s or 0) * US),
            -1 if learned.tokens is None else learned.tokens,
            round((learned.tokens_reset_s or 0) * US),
            k.ttl_ms,
            *k.windows,
        ]
        await self._settle(keys=k.keys, args=args)

    async def report(self, plan: Plan, outcome: CallOutcome) -> None:
        """Record one upstream outcome in the health record; apply any cooldown."""
        k = self._k(plan)
        args: list[bytes | str | int] = [
            outcome.kind,
            repr(outcome.latency_ms),
            outcome.error or "",
            "0" if outcome.error is None else "1",
            round(outcome.cooldown_s * US) if outcome.cooldown_s else 0,
            *self._health_args,
        ]
        await self._report(keys=[k.hash], args=args)

    async def report_successes(self, plan: Plan, latencies_ms: Sequence[float]) -> None:
        """Record successful calls, in order, in one round trip (REPORT folds each latency)."""
        latencies = ",".join(map(repr, latencies_ms))
        args: list[bytes | str | int] = ["success", latencies, "", "0", 0, *self._health_args]
        await self._report(keys=[self._k(plan).hash], args=args)

    async def snapshot(self, plans: Sequence[Plan]) -> list[ModelLiveState]:
        """Live state of each plan's subject, in order, in one round trip."""
        spec = orjson.dumps([self._k(plan).snap_spec for plan in plans])
        raw = await self._snapshot(keys=[self._k(plans[0]).hash], args=[self._tag, spec])
        data = orjson.loads(raw)
        now = int(data[0])
        out = []
        for plan, row in zip(plans, data[1:], strict=True):
            cd, is_open, ou, er, p50, le, lc, lr, lt = row[:9]
            out.append(
                build_live(
                    plan,
                    now,
                    cooldown_until_us=int(cd) if cd else 0,
                    is_open=is_open == "1",
                    open_until_us=int(ou) if ou else 0,
                    error_rate=float(er) if er else 0.0,
                    p50_ms=float(p50) if p50 else None,
                    last_error=le or None,
                    last_check_us=int(lc) if lc else None,
                    usage=row[9:],
                    learned=(int(lr) if lr else None, int(lt) if lt else None),
                    memo=self._memo,
                )
            )
        return out

    async def inflight(self, subject: str, delta: int) -> int:
        """Add delta to the subject's in-flight count (never below 0) and return it."""
        key = f"{self._tag}:if:{subject}"
        return int(await self._inflight(keys=[key], args=[delta, INFLIGHT_TTL_MS]))

    async def cache_get(self, key: str) -> bytes | None:
        """The cached value, or None when absent or expired."""
        value = await self._client.get(self._cache_prefix + key)
        if value is None or isinstance(value, bytes):
            return value
        return str(value).encode()

    async def cache_set(self, key: str, value: bytes, ttl_s: int) -> None:
        """Store a value for ttl_s seconds."""
        if ttl_s > 0:
            await self._client.set(self._cache_prefix + key, value, ex=ttl_s)

    async def ping(self) -> bool:
        """True when Redis answers PING."""
        return bool(await self._client.ping())

    async def reset_connections(self) -> None:
        """Drop every pooled connection: after a Redis restart they are all dead."""
        await self._client.connection_pool.disconnect(inuse_connections=True)

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        await self._client.aclose()
