"""The two budget counter stores: in process (default) and Redis (shared by every instance).

Both work on resolved counters (name, limit in µUSD or -1, TTL in ms) and keep the same
semantics, which the tests run against both: `reserve` checks every limited counter and adds
the amount to all of them or to none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from annas_gift.state import lua_budgets

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Counter:
    """One budget counter: its name (period included), limit in µUSD (-1: count only), TTL."""

    name: str
    limit: int
    ttl_ms: int


class MemoryBudgetStore:
    """Counters in a dict. No method awaits, so each is atomic under asyncio: no lock needed."""

    name = "memory"

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._values: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._next_sweep = 0.0

    def _value(self, name: str, now: float) -> int:
        expires = self._expires.get(name)
        if expires is not None and expires <= now:
            self._values.pop(name, None)
            self._expires.pop(name, None)
        return self._values.get(name, 0)

    def _touch(self, counter: Counter, now: float) -> None:
        if counter.ttl_ms > 0:
            self._expires[counter.name] = now + counter.ttl_ms / 1000

    def _sweep(self, now: float) -> None:
        # Old days' counters would otherwise stay forever in a long-running process.
        if now < self._next_sweep:
            return
        self._next_sweep = now + 3600
        for name in [n for n, t in self._expires.items() if t <= now]:
            self._values.pop(name, None)
            self._expires.pop(name, None)

    async def reserve(self, counters: Sequence[Counter], amount: int) -> tuple[int, int]:
        """(0, 0) when admitted (all incremented), else (1-based index of the refusal, value)."""
        now = self._clock()
        self._sweep(now)
        for i, counter in enumerate(counters, start=1):
            value = self._value(counter.name, now)
            if counter.limit >= 0 and (value >= counter.limit or value + amount > counter.limit):
                return i, value
        for counter in counters:
            self._values[counter.name] = self._value(counter.name, now) + amount
            self._touch(counter, now)
        return 0, 0

    async def reconcile(self, counters: Sequence[Counter], delta: int) -> None:
        """Add delta (real cost minus estimate) to every counter, never below zero."""
        now = self._clock()
        for counter in counters:
            self._values[counter.name] = max(0, self._value(counter.name, now) + delta)
            self._touch(counter, now)

    async def seed(self, counters: Sequence[Counter], values: Sequence[int]) -> int:
        """Set counters that do not exist yet; returns how many were set."""
        now = self._clock()
        set_count = 0
        for counter, value in zip(counters, values, strict=True):
            self._value(counter.name, now)  # drop it first if expired
            if counter.name not in self._values:
                self._values[counter.name] = value
                self._touch(counter, now)
                set_count += 1
        return set_count

    async def values(self, counters: Sequence[Counter]) -> list[int]:
        """Each counter's current value (0 when absent)."""
        now = self._clock()
        return [self._value(c.name, now) for c in counters]

    async def ping(self) -> bool:
        """Always reachable."""
        return True


class RedisBudgetStore:
    """Counters in Redis, one atomic script per operation (one round trip)."""

    name = "redis"

    def __init__(self, client: Redis, namespace: str) -> None:
        self._client = client
        # One hash tag for every budget counter: a script's keys must share a Cluster slot.
        self._prefix = "{" + namespace + "}:b:"
        self._reserve = client.register_script(lua_budgets.RESERVE)
        self._reconcile = client.register_script(lua_budgets.RECONCILE)
        self._seed = client.register_script(lua_budgets.SEED)

    def _keys(self, counters: Sequence[Counter]) -> list[str]:
        return [self._prefix + c.name for c in counters]

    async def reserve(self, counters: Sequence[Counter], amount: int) -> tuple[int, int]:
        """(0, 0) when admitted (all incremented), else (1-based index of the refusal, value)."""
        args: list[int] = [amount]
        for c in counters:
            args += [c.limit, c.ttl_ms]
        ok, index, value = await self._reserve(keys=self._keys(counters), args=args)
        return (0, 0) if ok else (int(index), int(value))

    async def reconcile(self, counters: Sequence[Counter], delta: int) -> None:
        """Add delta (real cost minus estimate) to every counter, never below zero."""
        args = [delta, *(c.ttl_ms for c in counters)]
        await self._reconcile(keys=self._keys(counters), args=args)

    async def seed(self, counters: Sequence[Counter], values: Sequence[int]) -> int:
        """Set counters that do not exist yet; returns how many were set."""
        args: list[int] = []
        for c, v in zip(counters, values, strict=True):
            args += [v, c.ttl_ms]
        return int(await self._seed(keys=self._keys(counters), args=args))

    async def values(self, counters: Sequence[Counter]) -> list[int]:
        """Each counter's current value (0 when absent)."""
        raw = await self._client.mget(self._keys(counters))
        return [int(v) if v is not None else 0 for v in raw]

    async def ping(self) -> bool:
        """True when Redis answers PING."""
        return bool(await self._client.ping())

    async def reset_connections(self) -> None:
        """Drop the idle pooled connections: after a Redis restart they are all dead."""
        await self._client.connection_pool.disconnect(inuse_connections=False)
