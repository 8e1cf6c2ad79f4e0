"""USD budgets: reserve an estimate before a call, reconcile with the real cost after it.

A budget line is (subject, period, limit): `key:<id>`, `team:<label>` or `global`, per UTC day,
UTC month or in total. Every line of a request is counted, limited or not, so raising a limit
later starts from the true spend. Within one process the in-memory store is exact (asyncio:
no operation awaits in the middle); across instances the Redis store is exact (one Lua script
per operation). If Redis fails, calls run on the in-process store (one warning) and Redis is
tried again after `retry_interval_s`; spend counted locally meanwhile is not replayed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from annas_gift.state.budget_stores import Counter, MemoryBudgetStore, RedisBudgetStore
from annas_gift.state.redis_errors import redis_down

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("annas_gift.state")
T = TypeVar("T")
Period = Literal["day", "month", "total"]
PERIODS: tuple[Period, ...] = ("day", "month", "total")
MICRO = 1_000_000  # counters hold integer micro-USD
# Counter names carry their period; TTLs only clean up (a day's counter outlives its day).
_TTL_MS: dict[Period, int] = {"day": 3 * 86_400_000, "month": 63 * 86_400_000, "total": 0}


def to_micro(usd: float, *, up: bool = False) -> int:
    """USD as integer micro-USD; estimates round up (never under-reserve), costs to nearest."""
    value = max(0.0, usd) * MICRO
    # The epsilon keeps 0.01 * 1e6 (10000.000000000002) from rounding up to 10001.
    return math.ceil(value - 1e-6) if up else round(value)


def period_start(period: Period, now: datetime) -> datetime | None:
    """Start of the UTC day or month containing `now` (None for the total)."""
    now = now.astimezone(UTC)
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


def period_reset(period: Period, now: datetime) -> datetime | None:
    """When the period containing `now` ends, i.e. the budget resets (None: never)."""
    start = period_start(period, now)
    if start is None:
        return None
    if period == "day":
        return start + timedelta(days=1)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def period_label(period: Period, now: datetime) -> str:
    """The period's name in counter keys: '2026-12-02', '2026-12' or 'all'."""
    now = now.astimezone(UTC)
    if period == "day":
        return now.strftime("%Y-%m-%d")
    if period == "month":
        return now.strftime("%Y-%m")
    return "all"


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget a request counts against; `limit_usd` None means count only."""

    subject: str  # "key:<id>", "team:<label>" or "global"
    period: Period
    limit_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """What an admitted request holds: the exact counters it charged and the amount."""

    counters: tuple[Counter, ...]
    amount: int  # µUSD


@dataclass(frozen=True, slots=True)
class BudgetDenial:
    """The budget that refused a request, what was spent, and when it resets."""

    line: BudgetLine
    spent_usd: float
    reset_at: datetime | None


class _Store(Protocol):
    name: str

    async def reserve(self, counters: Sequence[Counter], amount: int) -> tuple[int, int]: ...
    async def reconcile(self, counters: Sequence[Counter], delta: int) -> None: ...
    async def seed(self, counters: Sequence[Counter], values: Sequence[int]) -> int: ...
    async def values(self, counters: Sequence[Counter]) -> list[int]: ...
    async def ping(self) -> bool: ...


class BudgetLedger:
    """Reserve, reconcile, seed and read USD budget counters (memory or Redis)."""

    def __init__(
        self,
        redis: Redis | None = None,
        *,
        namespace: str = "annas",
        clock: Callable[[], float] = time.time,
        retry_interval_s: float = 2.0,
    ) -> None:
        self._clock = clock
        self._memory = MemoryBudgetStore(clock)
        self._redis = None if redis is None else RedisBudgetStore(redis, namespace)
        self._retry_interval_s = retry_interval_s
        self._redis_retry_at = 0.0  # 0: Redis is believed up

    @property
    def backend(self) -> str:
        """Which store serves calls now: "memory", "redis" or "memory (redis unavailable)"."""
        if self._redis is None:
            return "memory"
        return "redis" if self._redis_retry_at == 0.0 else "memory (redis unavailable)"

    async def _run(self, op: Callable[[_Store], Awaitable[T]]) -> T:
        redis = self._redis
        if redis is not None:
            now = time.monotonic()
            if self._redis_retry_at == 0.0 or now >= self._redis_retry_at:
                try:
                    if self._redis_retry_at:  # a retry: connections pooled before it are dead
                        await redis.reset_connections()
                    result = await op(redis)
                except redis_down() as exc:
                    if self._redis_retry_at == 0.0:
                        log.warning(
                            "Redis unavailable for budgets (%s); counting per instance",
                            type(exc).__name__,
                        )
                    self._redis_retry_at = now + self._retry_interval_s
                else:
                    if self._redis_retry_at:
                        log.info("Redis is back; budgets shared again")
                    self._redis_retry_at = 0.0
                    return result
        return await op(self._memory)

    def _counters(self, lines: Sequence[BudgetLine], now: datetime) -> tuple[Counter, ...]:
        return tuple(
            Counter(
                name=f"{line.subject}:{line.period}:{period_label(line.period, now)}",
                limit=-1 if line.limit_usd is None else to_micro(line.limit_usd),
                ttl_ms=_TTL_MS[line.period],
            )
            for line in lines
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def reserve(
        self, lines: Sequence[BudgetLine], estimate_usd: float
    ) -> Reservation | BudgetDenial:
        """Hold estimate_usd on every line if all stay within their limits, else deny."""
        now = self._now()
        counters = self._counters(lines, now)
        amount = to_micro(estimate_usd, up=True)
        index, value = await self._run(lambda s: s.reserve(counters, amount))
        if index == 0:
            return Reservation(counters, amount)
        line = lines[index - 1]
        return BudgetDenial(line, value / MICRO, period_reset(line.period, now))

    async def reconcile(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the reservation's estimate by the real cost (higher or lower)."""
        delta = to_micro(actual_usd) - reservation.amount
        if delta and reservation.counters:
            await self._run(lambda s: s.reconcile(reservation.counters, delta))

    async def release(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the call failed and cost nothing)."""
        await self.reconcile(reservation, 0.0)

    async def charge(self, lines: Sequence[BudgetLine], cost_usd: float) -> None:
        """Add a cost that was never reserved (e.g. a call admitted while budgets were off)."""
        counters = self._counters(lines, self._now())
        amount = to_micro(cost_usd)
        if amount and counters:
            await self._run(lambda s: s.reconcile(counters, amount))

    async def seed(self, lines: Sequence[BudgetLine], spent_usd: Sequence[float]) -> int:
        """Start counters that do not exist yet from spend read back from the database."""
        counters = self._counters(lines, self._now())
        values = [to_micro(v) for v in spent_usd]
        return await self._run(lambda s: s.seed(counters, values))

    async def spent(self, lines: Sequence[BudgetLine]) -> list[float]:
        """USD counted on each line in its current period (reservations included)."""
        counters = self._counters(lines, self._now())
        return [v / MICRO for v in await self._run(lambda s: s.values(counters))]
