"""Redis state backend: state shared by every gateway instance, one atomic script per call.

Key layout (`{ns}` is a Redis Cluster hash tag, so a script's keys always share one slot):
  {ns}:rl:<subject>:<window_s>      sorted set, member "<rid>:<tokens>", score = admitted at µs
  {ns}:rl:<subject>:<window_s>:t    sum of that log's tokens
  {ns}:rl:<subject>:learn:r / :t    provider-reported remaining budget, expires at its reset
  {ns}:cd:<subject>                 cooldown end (µs), expires then
  {ns}:h:<subject>                  health hash (breaker, EWMA, latencies, last error/check)
  {ns}:if:<subject>                 in-flight count
  <ns>:cache:<key>                  cached response (SET EX; no hash tag, so it spreads)
Subjects are "m:<model name>" and "k:<client key id>". Every key carries a TTL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from annas_gift.state import health, lua
from annas_gift.state.base import US, Admission, Learned, ModelLiveState, Outcome, Plan, build_live

INFLIGHT_TTL_MS = 3_600_000  # a crashed instance's in-flight counts vanish within an hour
_HEALTH_ARGS = (
    str(health.FAILURE_THRESHOLD),
    str(int(health.OPEN_BASE_S * US)),
    str(int(health.OPEN_MAX_S * US)),
    repr(health.EWMA_ALPHA),
    str(health.LATENCY_SAMPLES),
    str(int(health.HEALTH_TTL_S * 1000)),
)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


class _Keys:
    """A plan's key names and constant script arguments, built once per plan."""

    __slots__ = ("admit_args", "cooldown", "gates", "health", "logs", "settle_args", "snap_args")

    def __init__(self, tag: str, plan: Plan) -> None:
        base = f"{tag}:rl:{plan.subject}"
        self.logs: list[str] = []
        limits: list[str] = []
        for w in plan.windows:
            self.logs += [f"{base}:{w.window_s}", f"{base}:{w.window_s}:t"]
            limits += [
                str(w.window_us),
                str(w.requests.limit if w.requests else -1),
                str(w.tokens.limit if w.tokens else -1),
            ]
        self.cooldown = f"{tag}:cd:{plan.subject}"
        self.health = f"{tag}:h:{plan.subject}"
        self.gates = [self.cooldown, self.health, f"{base}:learn:r", f"{base}:learn:t"]
        self.admit_args = limits
        self.settle_args = limits
        self.snap_args = [str(len(plan.windows))] + [str(w.window_us) for w in plan.windows]


class RedisBackend:
    """Sliding logs, cooldowns, health and the cache in one Redis shared by all instances."""

    name = "redis"

    def __init__(self, client: Redis, namespace: str) -> None:
        self._client = client
        self._tag = "{" + namespace + "}"
        self._cache_prefix = f"{namespace}:cache:"
        self._admit = client.register_script(lua.ADMIT)
        self._settle = client.register_script(lua.SETTLE)
        self._report = client.register_script(lua.REPORT)
        self._snapshot = client.register_script(lua.SNAPSHOT)
        self._inflight = client.register_script(lua.INFLIGHT)
        self._keys: dict[str, tuple[Plan, _Keys]] = {}

    def _k(self, plan: Plan) -> _Keys:
        cached = self._keys.get(plan.subject)
        if cached is None or cached[0] is not plan:
            cached = self._keys[plan.subject] = (plan, _Keys(self._tag, plan))
        return cached[1]

    async def admit(self, plan: Plan, tokens: int, rid: str) -> Admission:
        """Atomically check every window and gate; add the entry to all windows or to none."""
        k = self._k(plan)
        keys = k.logs + k.gates if plan.gated else k.logs
        args: list[str | int] = [
            len(plan.windows),
            "1" if plan.gated else "0",
            tokens,
            rid,
            int(health.PROBE_TIMEOUT_S * US),
            *k.admit_args,
        ]
        ok, wait, index, unit = await self._admit(keys=keys, args=args)
        if ok:
            return Admission(True, ticket=rid)
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
        if actual == est and learned.empty:
            return
        k = self._k(plan)
        args: list[str | int] = [
            len(plan.windows),
            ticket or "",
            est,
            actual,
            -1 if learned.requests is None else learned.requests,
            round((learned.requests_reset_s or 0) * US),
            -1 if learned.tokens is None else learned.tokens,
            round((learned.tokens_reset_s or 0) * US),
            *k.settle_args,
        ]
        await self._settle(keys=[*k.logs, k.gates[2], k.gates[3]], args=args)

    async def report(self, plan: Plan, outcome: Outcome) -> None:
        """Record one upstream outcome in the health record; apply any cooldown."""
        k = self._k(plan)
        args: list[str | int] = [
            outcome.kind,
            repr(outcome.latency_ms),
            outcome.error or "",
            "0" if outcome.error is None else "1",
            round(outcome.cooldown_s * US) if outcome.cooldown_s else 0,
            *_HEALTH_ARGS,
        ]
        await self._report(keys=[k.health, k.cooldown], args=args)

    async def snapshot(self, plans: Sequence[Plan]) -> list[ModelLiveState]:
        """Live state of each plan's subject, in order, in one round trip."""
        keys: list[str] = []
        args: list[Any] = [len(plans)]
        for plan in plans:
            k = self._k(plan)
            keys += k.logs
            keys += k.gates
            args += k.snap_args
        raw = await self._snapshot(keys=keys, args=args)
        now = int(raw[0])
        out = []
        i = 1
        for plan in plans:
            cd, is_open, ou, er, p50, le, lc, lr, lt = raw[i : i + 9]
            i += 9
            n = 2 * len(plan.windows)
            flat = raw[i : i + n]
            i += n
            out.append(
                build_live(
                    plan,
                    now,
                    cooldown_until_us=int(cd or 0),
                    is_open=is_open == b"1",
                    open_until_us=int(ou or 0),
                    error_rate=float(er or 0),
                    p50_ms=None if p50 is None else float(p50),
                    last_error=None if le is None else le.decode(errors="replace"),
                    last_check_us=_opt_int(lc),
                    usage=list(zip(flat[0::2], flat[1::2], strict=True)),
                    learned_requests=_opt_int(lr),
                    learned_tokens=_opt_int(lt),
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

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        await self._client.aclose()
