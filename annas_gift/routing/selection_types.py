"""The selector's value types: weights, candidates, ranked rows, the decision, live-state views.

Split from `benchmark_selector` so that module holds only the ranking itself.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from annas_gift.core.names import COMPONENTS as COMPONENTS  # settings checks weight names
from annas_gift.routing.imputation import BenchmarkPart
from annas_gift.routing.types import Category, ModelProfile, SelectionExplanation, Tier

NEUTRAL = 0.5


@dataclass(frozen=True, slots=True)
class SelectionWeights:
    """Component weights; must be >= 0 and are normalised to sum to 1 on construction."""

    benchmark_rank: float = 0.30
    benchmark_score: float = 0.20
    headroom: float = 0.20
    cost: float = 0.15
    latency: float = 0.075
    health: float = 0.075

    def __post_init__(self) -> None:
        values = {name: getattr(self, name) for name in COMPONENTS}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"selection weight {name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"selection weight {name} must be finite and >= 0, got {value}")
        total = math.fsum(values.values())
        if total <= 0:
            raise ValueError("selection weights must not all be zero")
        for name, value in values.items():
            object.__setattr__(self, name, float(value) / total)

    def as_dict(self) -> dict[str, float]:
        """The normalised weights by component name."""
        return {name: getattr(self, name) for name in COMPONENTS}


class LiveState(Protocol):
    """What the selector reads of a model's live state (`state.ModelLiveState` fits)."""

    @property
    def healthy(self) -> bool: ...
    @property
    def cooled_down_until(self) -> float | None: ...
    @property
    def headroom(self) -> float: ...
    @property
    def latency_p50_ms(self) -> float | None: ...
    @property
    def error_rate(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """A catalog model plus its live state at decision time."""

    profile: ModelProfile
    available: bool = True  # credentials present
    healthy: bool = True
    cooled_down_until: float | None = None  # epoch seconds
    headroom: float = 1.0  # 0..1, 1 = rate-limit budget untouched
    latency_p50_ms: float | None = None
    error_rate: float = 0.0  # 0..1

    @property
    def name(self) -> str:
        """The model name."""
        return self.profile.name


class RankedCandidate(NamedTuple):
    """One eligible model with its total score and the per-component breakdown."""

    # NamedTuple, not a frozen dataclass: as immutable, ~4x cheaper to build per candidate.
    name: str
    provider: str
    tier: Tier
    score: float
    parts: tuple[float, ...]  # component values in COMPONENTS order
    benchmark_score: float | None = None  # category score, 0..100 (None = nothing known)
    in_category: bool = True  # the catalog lists the requested category for this model
    benchmark_imputed: bool = False  # no published number in this category: estimated
    benchmark_parts: tuple[BenchmarkPart, ...] = ()
    benchmark_id: str | None = None  # entries serving the same weights share it

    @property
    def components(self) -> dict[str, float]:
        """The per-component breakdown (each 0..1) by component name."""
        return dict(zip(COMPONENTS, self.parts, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = self._asdict()
        del out["parts"]
        out["components"] = self.components
        out["benchmark_parts"] = [p._asdict() for p in self.benchmark_parts]
        return out


@dataclass(frozen=True, slots=True)
class Selection:
    """The decision: chosen model (None if nothing qualifies), why, full ranking, exclusions."""

    model: str | None
    reason: str
    tier: Tier
    category: Category
    ranking: tuple[RankedCandidate, ...] = ()
    excluded: tuple[tuple[str, str], ...] = ()
    explanation: SelectionExplanation | None = None

    @property
    def fallback_order(self) -> list[str]:
        """Model names to try, in order (the winner first)."""
        return [r.name for r in self.ranking]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model": self.model,
            "reason": self.reason,
            "tier": self.tier,
            "category": self.category,
            "ranking": [r.to_dict() for r in self.ranking],
            "excluded": [{"model": name, "reason": why} for name, why in self.excluded],
            "explanation": self.explanation.to_dict() if self.explanation else None,
        }


# The live fields that change a decision, read in one C-level call per model.
SIGNATURE = operator.attrgetter(
    "healthy", "cooled_down_until", "headroom", "latency_p50_ms", "error_rate"
)
UNTIL = operator.itemgetter(1)


class _Quantized(NamedTuple):
    """A live state rounded to what can change a decision (and hashable, for the cache)."""

    healthy: bool
    cooled_down_until: float | None
    headroom: float
    latency_p50_ms: float | None
    error_rate: float


def quantize(state: LiveState | None) -> _Quantized:
    # Budgets and latencies drift on every request; rounding them (headroom and error rate to
    # 0.05 and 0.01, latency to 10 ms) moves a total by at most ~0.01 and lets the next request
    # reuse the decision instead of re-ranking.
    if state is None:
        state = IDLE
    headroom, latency, errors = state.headroom, state.latency_p50_ms, state.error_rate
    if not math.isnan(headroom):
        headroom = round(min(1.0, max(0.0, headroom)) * 20.0) / 20.0
    if latency is not None and math.isfinite(latency):
        latency = round(latency, -1)
    if not math.isnan(errors):
        errors = round(min(1.0, max(0.0, errors)), 2)
    return _Quantized(state.healthy, state.cooled_down_until, headroom, latency, errors)


@dataclass(frozen=True, slots=True)
class _Idle:
    """A model the shared state has not reported on: healthy, idle, whole budget."""

    healthy: bool = True
    cooled_down_until: float | None = None
    headroom: float = 1.0
    latency_p50_ms: float | None = None
    error_rate: float = 0.0


IDLE = _Idle()
