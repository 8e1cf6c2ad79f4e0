"""Passive health: error-rate EWMA, recent-latency median and a circuit breaker (pure logic).

The memory backend runs these functions; the Redis backend runs the same rules in Lua
(`lua.REPORT`, `lua.ADMIT`), and the backend-parametrized tests hold the two to one behaviour.

Breaker rules (thresholds below):
- closed: `failure_threshold` (3) consecutive failures (5xx, timeouts, connection errors; status
  None or >= 500, or 408) open it for `open_base_s` (30 s).
- open: admissions are denied until the cool-off ends; then it is half-open.
- half-open: one probe request at a time is admitted (a probe claim lapses after
  `probe_timeout_s` (30 s) if it never reports); a success closes the breaker, a failure
  re-opens it with the cool-off doubled (capped at `open_max_s`, 300 s).
- 429s are not failures: they set a cooldown (retry-after, default 30 s) and count in the error
  rate. Other 4xx are the client's fault: they touch neither. A retry-after given with any
  other failure also cools the model down.
- error rate: EWMA (alpha 0.1) of failures and 429s; p50: median of the last 16 successes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annas_gift.state.base import US, CallOutcome, OutcomeKind

HEALTH_TTL_S = 7 * 86_400  # a model with no traffic for a week starts afresh
ERROR_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """Breaker thresholds and averaging constants (defaults documented in the module doc)."""

    failure_threshold: int = 3
    open_base_s: float = 30.0
    open_max_s: float = 300.0
    probe_timeout_s: float = 30.0
    ewma_alpha: float = 0.1  # about the last 10-20 calls dominate the error rate
    latency_samples: int = 16  # the p50 is the median of the last 16 successful latencies
    default_429_cooldown_s: float = 30.0


DEFAULT_POLICY = HealthPolicy()


def classify(
    *,
    ok: bool,
    status: int | None,
    latency_ms: float,
    error: str | None,
    retry_after: float | None,
    policy: HealthPolicy = DEFAULT_POLICY,
) -> CallOutcome:
    """Turn a report() call into a CallOutcome: what it means for the breaker and cooldowns."""
    kind: OutcomeKind
    if ok:
        kind = "success"
    elif status == 429:
        kind = "rate_limited"
    elif status is not None and 400 <= status < 500 and status != 408:
        kind = "neutral"
    else:
        kind = "failure"
    cooldown = retry_after
    if kind == "rate_limited" and cooldown is None:
        cooldown = policy.default_429_cooldown_s
    if error is not None:
        error = error[:ERROR_MAX_CHARS]
    elif not ok:
        error = f"HTTP {status}" if status is not None else "error"
    return CallOutcome(
        kind=kind,
        latency_ms=max(0.0, latency_ms),
        error=error,
        cooldown_s=cooldown if cooldown and cooldown > 0 else None,
    )


def median(values: list[float]) -> float | None:
    """The median of a short list (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(slots=True)
class Health:
    """One model's passive-health record (the memory backend's copy of the Redis hash)."""

    is_open: bool = False
    open_until_us: int = 0
    probe_until_us: int = 0
    fails: int = 0
    trips: int = 0
    error_rate: float = 0.0
    latencies: list[float] = field(default_factory=list)
    p50_ms: float | None = None
    last_error: str | None = None
    last_check_us: int | None = None


def open_for_us(trips: int, policy: HealthPolicy) -> int:
    """Cool-off for the n-th consecutive trip: doubles each time, capped."""
    base, cap = int(policy.open_base_s * US), int(policy.open_max_s * US)
    grown: int = base * 2 ** max(0, trips - 1)
    return min(grown, cap)


def gate(h: Health, now_us: int) -> tuple[int, bool]:
    """(µs to wait, 0 if admissible; whether admitting claims the half-open probe)."""
    if not h.is_open:
        return 0, False
    if now_us < h.open_until_us:
        return h.open_until_us - now_us, False
    if now_us < h.probe_until_us:
        return h.probe_until_us - now_us, False
    return 0, True


def claim_probe(h: Health, now_us: int, policy: HealthPolicy) -> None:
    """Reserve the single half-open probe slot."""
    h.probe_until_us = now_us + int(policy.probe_timeout_s * US)


def apply(h: Health, outcome: CallOutcome, now_us: int, policy: HealthPolicy) -> None:
    """Fold one outcome into the record (EWMA, latency window, breaker transitions)."""
    kind = outcome.kind
    alpha = policy.ewma_alpha
    if kind == "success":
        h.fails = 0
        h.error_rate *= 1 - alpha
        h.latencies.append(outcome.latency_ms)
        if len(h.latencies) > policy.latency_samples:
            del h.latencies[0]
        h.p50_ms = median(h.latencies)
        # Any success proves the provider answers again: close (the half-open probe's job).
        h.is_open = False
        h.trips = 0
        h.open_until_us = 0
    elif kind == "failure":
        h.fails += 1
        h.error_rate = h.error_rate * (1 - alpha) + alpha
        if h.is_open:
            # Only a failure after the cool-off is a failed probe; earlier ones are stragglers.
            if now_us >= h.open_until_us:
                h.trips += 1
                h.open_until_us = now_us + open_for_us(h.trips, policy)
        elif h.fails >= policy.failure_threshold:
            h.is_open = True
            h.trips = 1
            h.open_until_us = now_us + open_for_us(1, policy)
    elif kind == "rate_limited":
        h.error_rate = h.error_rate * (1 - alpha) + alpha
    # Whatever the outcome, the probe (if this was it) has reported: free the slot.
    h.probe_until_us = 0
    if outcome.error is not None:
        h.last_error = outcome.error
    h.last_check_us = now_us
