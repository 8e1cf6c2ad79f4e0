"""Value types and the backend interface shared by the in-process and Redis state backends.

Both backends implement the same semantics (tests run every behaviour against both):

- Sliding log: every admitted request is one entry (timestamp in integer microseconds, token
  weight) in one log per window length; a request is admitted only if *every* window stays
  within its limits after adding it, and then it is added to all of them at once. An entry
  stops counting exactly `window_s` seconds after it was admitted (t=0 frees at t=60.000000,
  not at 59.999999). This is the strictest common model: a sequence it admits is also admitted
  by a provider that uses fixed clock-aligned windows or a token bucket, so we never trip a
  provider's limit that we have declared correctly, and totals are exact across instances.
- Timestamps: the Redis backend uses the Redis server clock (`TIME`), so instances with skewed
  clocks agree; the memory backend uses the injected clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from annas_gift.catalog.rate_limits import LIMIT_NAMES, LimitSpec

US = 1_000_000
_NO_LIMITS: dict[str, int | None] = dict.fromkeys(LIMIT_NAMES)
Breaker = Literal["closed", "open", "half_open"]
OutcomeKind = Literal["success", "failure", "rate_limited", "neutral"]


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a request may go ahead; if not, which limit said no and when to retry.

    `retry_after` is None on a denial only when the request can never fit (its token estimate
    exceeds the window's whole limit). `ticket` identifies the admitted entry so `settle` can
    correct exactly its token weight.
    """

    ok: bool
    retry_after: float | None = None
    limit: str | None = None
    ticket: str | None = None


@dataclass(frozen=True, slots=True)
class ModelLiveState:
    """What every instance currently knows about a model's health and remaining budget."""

    healthy: bool
    breaker: Breaker
    cooled_down_until: float | None
    headroom: float
    latency_p50_ms: float | None
    error_rate: float
    remaining: dict[str, int | None]
    last_error: str | None
    last_check: float | None


@dataclass(frozen=True, slots=True)
class Window:
    """The limits that share one sliding log (e.g. rpm and tpm share the 60 s log)."""

    window_s: int
    window_us: int
    requests: LimitSpec | None
    tokens: LimitSpec | None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a backend needs to check one subject (a model or a client key)."""

    subject: str  # "m:<model name>" or "k:<key id>"
    windows: tuple[Window, ...]
    gated: bool  # models also check cooldown, breaker and provider-learned budgets
    # (name, limit, index into the flat usage list, 0 = requests / 1 = tokens), for snapshots.
    specs: tuple[tuple[str, int, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Learned:
    """Budgets a provider reported in its response headers (None = header absent)."""

    requests: int | None = None
    requests_reset_s: float | None = None
    tokens: int | None = None
    tokens_reset_s: float | None = None

    @property
    def empty(self) -> bool:
        """True when the provider sent no remaining-budget headers."""
        return self.requests is None and self.tokens is None


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One observed upstream call, already classified for the breaker."""

    kind: OutcomeKind
    latency_ms: float
    error: str | None
    cooldown_s: float | None


def build_plan(subject: str, specs: Sequence[LimitSpec], *, gated: bool) -> Plan:
    """Group limit specs by window length (one log per length)."""
    by_window: dict[int, list[LimitSpec | None]] = {}
    for spec in specs:
        slot = by_window.setdefault(spec.window_s, [None, None])
        index = 0 if spec.unit == "requests" else 1
        current = slot[index]
        # Two specs of one unit and window: the tighter one is the one that matters.
        if current is None or spec.limit < current.limit:
            slot[index] = spec
    windows = tuple(
        Window(window_s=w, window_us=w * US, requests=r, tokens=t)
        for w, (r, t) in sorted(by_window.items())
    )
    flat = tuple(
        (spec.name, spec.limit, 2 * i + unit, unit)
        for i, window in enumerate(windows)
        for unit, spec in enumerate((window.requests, window.tokens))
        if spec is not None
    )
    return Plan(subject=subject, windows=windows, gated=gated, specs=flat)


def build_live(  # noqa: PLR0913 - the raw values of one backend read, each by name
    plan: Plan,
    now_us: int,
    *,
    cooldown_until_us: int,
    is_open: bool,
    open_until_us: int,
    error_rate: float,
    p50_ms: float | None,
    last_error: str | None,
    last_check_us: int | None,
    usage: Sequence[int],
    learned: tuple[int | None, int | None],
    memo: dict[str, tuple[tuple[object, ...], ModelLiveState]] | None = None,
) -> ModelLiveState:
    """Assemble a ModelLiveState from raw backend values (same code for both backends).

    `usage` is flat: request count and token sum of each plan window in turn; `learned` is the
    provider-reported (requests, tokens) budget still in force. With `memo`, an unchanged
    subject (most models between two requests) gets its previous, equal, object back, which
    is 10x cheaper than building one; callers must treat states (and `remaining`) as read-only.
    """
    if memo is not None:
        key = (
            plan,
            cooldown_until_us > now_us and cooldown_until_us,
            is_open,
            is_open and now_us < open_until_us,
            error_rate,
            p50_ms,
            last_error,
            last_check_us,
            *usage,
            *learned,
        )
        hit = memo.get(plan.subject)
        if hit is not None and hit[0] == key:
            return hit[1]
        state = build_live(
            plan,
            now_us,
            cooldown_until_us=cooldown_until_us,
            is_open=is_open,
            open_until_us=open_until_us,
            error_rate=error_rate,
            p50_ms=p50_ms,
            last_error=last_error,
            last_check_us=last_check_us,
            usage=usage,
            learned=learned,
        )
        memo[plan.subject] = (key, state)
        return state
    remaining: dict[str, int | None] = _NO_LIMITS.copy()
    headroom = 1.0
    for name, limit, index, unit in plan.specs:
        left = limit - usage[index]
        if left < 0:
            left = 0
        cap = learned[unit]
        if cap is not None and cap < left:
            left = max(0, cap)
        remaining[name] = left
        ratio = left / limit if limit else 0.0
        if ratio < headroom:
            headroom = ratio
    # A provider-reported exhausted budget counts even when we declared no limit ourselves.
    if (learned[0] is not None and learned[0] <= 0) or (learned[1] is not None and learned[1] <= 0):
        headroom = 0.0
    if is_open:
        breaker: Breaker = "open" if now_us < open_until_us else "half_open"
    else:
        breaker = "closed"
    return ModelLiveState(
        healthy=breaker != "open",
        breaker=breaker,
        cooled_down_until=cooldown_until_us / US if cooldown_until_us > now_us else None,
        headroom=headroom,
        latency_p50_ms=p50_ms,
        error_rate=error_rate,
        remaining=remaining,
        last_error=last_error,
        last_check=last_check_us / US if last_check_us else None,
    )


class Backend(Protocol):
    """The operations both state backends implement with identical semantics."""

    async def admit(self, plan: Plan, tokens: int, rid: str) -> Admission:
        """Atomically check every window and gate; add the entry to all windows or to none."""
        ...

    async def settle(
        self, plan: Plan, ticket: str | None, est: int, actual: int, learned: Learned
    ) -> None:
        """Correct the entry's token weight and tighten budgets the provider reported."""
        ...

    async def report(self, plan: Plan, outcome: CallOutcome) -> None:
        """Record one upstream outcome in the health record; apply any cooldown."""
        ...

    async def report_successes(self, plan: Plan, latencies_ms: Sequence[float]) -> None:
        """Record successful calls, in order: the same record as one `report` for each."""
        ...

    async def snapshot(self, plans: Sequence[Plan]) -> list[ModelLiveState]:
        """Live state of each plan's subject, in order."""
        ...

    async def inflight(self, subject: str, delta: int) -> int:
        """Add delta to the subject's in-flight count (never below 0) and return it."""
        ...

    async def cache_get(self, key: str) -> bytes | None:
        """The cached value, or None when absent or expired."""
        ...

    async def cache_set(self, key: str, value: bytes, ttl_s: int) -> None:
        """Store a value for ttl_s seconds."""
        ...

    async def ping(self) -> bool:
        """True when the backend's store answers."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
