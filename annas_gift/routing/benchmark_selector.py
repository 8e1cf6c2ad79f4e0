"""Pick the best available model for a (tier, category) request: pure, deterministic, fast.

Each eligible candidate gets a weighted sum of components, each normalised to 0..1:

- benchmark_rank  30%  rank on the category's benchmark among eligible candidates (best = 1)
- benchmark_score 20%  the category's benchmark score / 100
- headroom        20%  rate-limit headroom (1 = untouched budget)
- cost            15%  cheapest price / this price (free = 1, unknown = neutral)
- latency          7.5% fastest p50 / this p50 (unknown = neutral)
- health           7.5% 1 - error_rate

The last 30% is split 15/7.5/7.5 because for students price decides more often than a few
hundred milliseconds, and health is already enforced by excluding unhealthy models. Unknown
benchmark scores count as neutral (0.5), not zero: most current models no longer publish these
four benchmarks, and treating that as failure would route everything to older models.

Ordering: models of the requested tier always come before the other tier, so a powerful
request falls back to a fast model only after every powerful one; within a tier, models whose
catalog entry lists the category come first (a code model stays a fallback for an essay but is
never its first choice); then by total score; ties by name, then provider. The whole ranking
is the fallback order.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from annas_gift.core.names import COMPONENTS
from annas_gift.routing.categorization import benchmark_label, benchmark_score_for
from annas_gift.routing.types import CATEGORIES, TIERS, Category, ModelProfile, Tier

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
    benchmark_score: float | None = None
    in_category: bool = True  # the catalog lists the requested category for this model

    @property
    def components(self) -> dict[str, float]:
        """The per-component breakdown (each 0..1) by component name."""
        return dict(zip(COMPONENTS, self.parts, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = self._asdict()
        del out["parts"]
        out["components"] = self.components
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
        }


def _unit(value: float) -> float:
    """Clamp to 0..1; NaN (garbage live data) counts as neutral."""
    if math.isnan(value):
        return NEUTRAL
    return min(1.0, max(0.0, value))


def _exclusion_reasons(candidate: Candidate, required_context: int, now: float) -> list[str]:
    reasons = []
    if not candidate.available:
        reasons.append("not available: provider credentials not configured")
    if not candidate.healthy:
        reasons.append("unhealthy")
    until = candidate.cooled_down_until
    # `not until <= now` also treats a NaN timestamp as still cooling: the safe reading.
    if until is not None and not until <= now:
        left = until - now
        reasons.append("cooling down" + (f" ({left:.0f}s left)" if math.isfinite(left) else ""))
    window = candidate.profile.context_window
    if window and window < required_context:  # 0 = unknown: let the provider be the judge
        reasons.append(f"context window {window} tokens < required {required_context}")
    return reasons


def _price(profile: ModelProfile) -> float | None:
    inp, out = profile.input_cost_per_token, profile.output_cost_per_token
    if inp is None or out is None or not (0 <= inp < math.inf and 0 <= out < math.inf):
        return None  # unknown or garbage (NaN, negative): neutral
    return inp + out


def _ratio_scores(values: Sequence[float | None]) -> list[float]:
    """Lower is better: best known value / value (0 is best); unknown → neutral."""
    known = [v for v in values if v is not None]
    if not known:
        return [NEUTRAL] * len(values)
    best = min(known)
    out = []
    for v in values:
        if v is None:
            out.append(NEUTRAL)
        elif v == best:
            out.append(1.0)
        else:
            out.append(_unit(best / v))  # v > best >= 0 here, so no division by zero
    return out


def _rank_scores(values: Sequence[float | None]) -> list[float]:
    """Higher is better: 1 - rank/(n-1) with ties sharing the better rank; unknown → neutral."""
    known = sorted(v for v in values if v is not None)
    n = len(known)
    out = []
    for v in values:
        if v is None:
            out.append(NEUTRAL)
        elif n == 1:
            out.append(1.0)
        else:
            better = n - bisect.bisect_right(known, v)
            out.append(1.0 - better / (n - 1))
    return out


class BenchmarkSelector:
    """Ranks candidates by the weighted score; holds only its weights (no I/O, no clock)."""

    def __init__(self, weights: SelectionWeights | None = None) -> None:
        self.weights = weights if weights is not None else SelectionWeights()
        self._weights = tuple(self.weights.as_dict().values())  # in COMPONENTS order

    def select_model(
        self,
        candidates: Sequence[Candidate],
        *,
        tier: Tier,
        category: Category,
        required_context: int,
        now: float,
    ) -> Selection:
        """Choose the best qualifying model for the request; the ranking is the fallback order."""
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; expected one of {TIERS}")
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
        eligible: list[Candidate] = []
        excluded: list[tuple[str, str]] = []
        for candidate in candidates:
            reasons = _exclusion_reasons(candidate, required_context, now)
            if reasons:
                excluded.append((candidate.name, "; ".join(reasons)))
            else:
                eligible.append(candidate)
        excluded.sort()
        ranking = self._rank(eligible, tier, category)
        return Selection(
            model=ranking[0].name if ranking else None,
            reason=_explain(ranking, excluded, tier, category, len(candidates)),
            tier=tier,
            category=category,
            ranking=tuple(ranking),
            excluded=tuple(excluded),
        )

    def _rank(
        self, eligible: Sequence[Candidate], tier: Tier, category: Category
    ) -> list[RankedCandidate]:
        bench: list[float | None] = []
        for c in eligible:
            b = benchmark_score_for(c.profile.benchmarks, category)
            bench.append(None if b is None or math.isnan(b) else min(100.0, max(0.0, b)))
        rank = _rank_scores(bench)
        cost = _ratio_scores([_price(c.profile) for c in eligible])
        lats = [c.latency_p50_ms for c in eligible]
        latency = _ratio_scores([x if x is not None and 0 <= x < math.inf else None for x in lats])
        weights = self._weights
        ranked: list[RankedCandidate] = []
        for i, c in enumerate(eligible):
            b = bench[i]
            parts = (
                rank[i],
                NEUTRAL if b is None else b / 100.0,
                _unit(c.headroom),
                cost[i],
                latency[i],
                1.0 - _unit(c.error_rate),
            )
            total = min(1.0, max(0.0, sum(map(operator.mul, weights, parts))))
            p = c.profile
            row = (p.name, p.provider, p.tier, total, parts, b, category in p.categories)
            ranked.append(RankedCandidate(*row))
        ranked.sort(key=lambda r: (r.tier != tier, not r.in_category, -r.score, r.name, r.provider))
        return ranked


def _explain(
    ranking: Sequence[RankedCandidate],
    excluded: Sequence[tuple[str, str]],
    tier: Tier,
    category: Category,
    offered: int,
) -> str:
    if offered == 0:
        return "no candidate models were offered"
    if not ranking:
        # First two words of the first reason: "not available", "cooling down", "context window".
        kinds = Counter(" ".join(why.split(":")[0].split()[:2]) for _, why in excluded)
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        return f"no model qualifies: all {len(excluded)} excluded ({summary})"
    best = ranking[0]
    label = benchmark_label(category)
    bench = "unknown" if best.benchmark_score is None else f"{best.benchmark_score:.1f}"
    in_tier = sum(1 for r in ranking if r.tier == tier)
    detail = f"score {best.score:.3f}, {label} {bench}; {len(excluded)} excluded"
    if not best.in_category:
        detail += f"; no qualifying model lists {category}"
    if best.tier == tier:
        return f"{best.name} ranks first of {in_tier} {tier} models for {category} ({detail})"
    return f"no {tier} model qualifies; falling back to {best.tier} model {best.name} ({detail})"
