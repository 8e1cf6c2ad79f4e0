"""Pick the best available model for a (tier, category) request: pure, deterministic, fast.

Each eligible candidate gets a weighted sum of components, each normalised to 0..1:

- benchmark_rank  30%  rank of the category score among the offered models (best = 1)
- benchmark_score 20%  the category score / 100
- headroom        20%  rate-limit headroom (1 = untouched budget)
- cost            15%  cheapest price / this price (free = 1, unknown = neutral)
- latency          7.5% fastest p50 / this p50 among the eligible (unknown = neutral)
- health           7.5% 1 - error_rate

The category score blends the category's benchmarks (`categorization.CATEGORY_BENCHMARKS`);
a number a model does not publish is imputed with a penalty (`imputation`), so an estimate
never beats a published good score. A category with nothing known anywhere is neutral (0.5).

Ordering: models of the requested tier always come before the other tier, so a powerful
request falls back to a fast model only after every powerful one; within a tier, models whose
catalog entry lists the category come first; then by total score. Equal totals are broken by,
in order: the category score, the number of published benchmarks (evidence), price (cheaper
first, unknown last), live p50 latency (faster first, unknown last), name, provider. Never by
input order. The whole ranking is the fallback order.

Speed: `prepare(profiles)` computes everything that depends only on the catalog (category
scores, ranks, cost ratios) once; `PreparedCatalog.select` applies the live state and caches
the result per (tier, category, live-state signature, availability, context bucket), so a
request whose live state did not change since the last one costs a signature and a lookup
(while a model cools down, only its "Ns left" reason is refreshed).
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from itertools import repeat
from typing import Any, NamedTuple

from annas_gift.routing.categorization import catalog_category_scores
from annas_gift.routing.selection_explain import explain_choice, reason_text
from annas_gift.routing.selection_types import (
    COMPONENTS,
    IDLE,
    NEUTRAL,
    SIGNATURE,
    UNTIL,
    Candidate,
    LiveState,
    RankedCandidate,
    Selection,
    SelectionWeights,
    quantize,
)
from annas_gift.routing.types import CATEGORIES, TIERS, Category, ModelProfile, Tier

__all__ = [
    "COMPONENTS",
    "NEUTRAL",
    "BenchmarkSelector",
    "Candidate",
    "LiveState",
    "PreparedCatalog",
    "RankedCandidate",
    "Selection",
    "SelectionWeights",
]

_CACHE_LIMIT = 4096


def _unit(value: float) -> float:
    """Clamp to 0..1; NaN (garbage live data) counts as neutral."""
    if math.isnan(value):
        return NEUTRAL
    return min(1.0, max(0.0, value))


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
    return [
        NEUTRAL if v is None else 1.0 if v == best else _unit(best / v)  # v > best >= 0
        for v in values
    ]


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
            out.append(1.0 - (n - bisect.bisect_right(known, v)) / (n - 1))
    return out


def _latency(state: LiveState | None) -> float | None:
    x = None if state is None else state.latency_p50_ms
    return x if x is not None and 0 <= x < math.inf else None


class _Static(NamedTuple):
    """Everything about one catalog entry that does not change between requests."""

    profile: ModelProfile
    price: float | None
    evidence: int  # number of published benchmarks


class PreparedCatalog:
    """The static half of the ranking for one set of profiles; `select` adds the live state."""

    def __init__(self, profiles: Sequence[ModelProfile], weights: SelectionWeights) -> None:
        self.profiles = tuple(profiles)
        self.names = tuple(p.name for p in self.profiles)
        self._weights = tuple(weights.as_dict().values())  # in COMPONENTS order
        prices = [_price(p) for p in self.profiles]
        self._static = tuple(
            _Static(p, prices[i], len(p.benchmarks.known()) if p.benchmarks else 0)
            for i, p in enumerate(self.profiles)
        )
        self._cost = _ratio_scores(prices)
        scores = catalog_category_scores(self.profiles)
        self._scores = {c: tuple(s[c] for s in scores) for c in CATEGORIES}
        self._rank = {c: _rank_scores([s.value for s in self._scores[c]]) for c in CATEGORIES}
        self._windows = sorted({p.context_window for p in self.profiles if p.context_window > 0})
        self._cache: dict[tuple[Any, ...], Selection] = {}

    def select(
        self,
        tier: Tier,
        category: Category,
        *,
        live: Mapping[str, LiveState] | None = None,
        unavailable: Collection[str] = frozenset(),
        required_context: int = 0,
        now: float,
    ) -> Selection:
        """Rank the catalog for one request; `live` by model name (missing = healthy, idle).

        Pass the same `unavailable` frozenset object each time (e.g. computed once per
        environment): its hash is cached, which keeps the lookup cheap.
        """
        states = None if not live else tuple(map(live.get, self.names, repeat(IDLE)))
        available = unavailable if isinstance(unavailable, frozenset) else frozenset(unavailable)
        return self._select(tier, category, states, available, None, required_context, now)

    def select_indexed(
        self,
        tier: Tier,
        category: Category,
        states: Sequence[LiveState | None],
        available: Sequence[bool],
        *,
        required_context: int,
        now: float,
    ) -> Selection:
        """Like `select` with live state and availability given per profile position."""
        return self._select(
            tier, category, tuple(states), frozenset(), tuple(available), required_context, now
        )

    def _select(
        self,
        tier: Tier,
        category: Category,
        states: tuple[LiveState | None, ...] | None,
        unavailable: frozenset[str],
        available: tuple[bool, ...] | None,
        required_context: int,
        now: float,
    ) -> Selection:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; expected one of {TIERS}")
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
        context_bucket = bisect.bisect_left(self._windows, required_context)
        if states is None:  # no live state at all: one decision per request shape
            idle: tuple[Any, ...] = (
                tier,
                category,
                None,
                (),
                unavailable,
                available,
                context_bucket,
            )
            cached = self._cache.get(idle)
            if cached is None:
                computed = self._compute(
                    tier, category, None, unavailable, available, required_context, now
                )
                cached = self._store(idle, computed)
            return cached
        # Exact live values first (one C-level call per model); on a miss, the rounded values.
        exact = tuple(map(SIGNATURE, states))
        cooling: tuple[int, ...] = ()
        if any(map(UNTIL, exact)):  # C-level; an until of 0.0 is long past anyway
            # `not until <= now` also treats a NaN timestamp as still cooling: the safe reading.
            cooling = tuple(
                i for i, sig in enumerate(exact) if sig[1] is not None and not sig[1] <= now
            )
        key = (tier, category, exact, cooling, unavailable, available, context_bucket)
        cached = self._cache.get(key)
        if cached is None:
            rounded = tuple(map(quantize, states))
            rounded_key = (tier, category, rounded, cooling, unavailable, available, context_bucket)
            cached = self._cache.get(rounded_key)
            if cached is None:
                computed = self._compute(
                    tier, category, rounded, unavailable, available, required_context, now
                )
                cached = self._store(rounded_key, computed)
            self._store(key, cached)
        if not cooling:
            return cached
        # Same ranking; only the "Ns left" of the cooling models has moved on.
        _, excluded = self._eligibility(states, unavailable, available, required_context, now)
        return replace(cached, excluded=excluded)

    def _store(self, key: tuple[Any, ...], selection: Selection) -> Selection:
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = selection
        return selection

    def _eligibility(
        self,
        states: tuple[LiveState | None, ...] | None,
        unavailable: frozenset[str],
        available: tuple[bool, ...] | None,
        required_context: int,
        now: float,
    ) -> tuple[list[int], tuple[tuple[str, str], ...]]:
        eligible: list[int] = []
        excluded: list[tuple[str, str]] = []
        for i, static in enumerate(self._static):
            ok = available[i] if available is not None else static.profile.name not in unavailable
            state = None if states is None else states[i]
            reasons = _exclusion_reasons(static.profile, ok, state, required_context, now)
            if reasons:
                excluded.append((static.profile.name, "; ".join(reasons)))
            else:
                eligible.append(i)
        excluded.sort()
        return eligible, tuple(excluded)

    def _compute(
        self,
        tier: Tier,
        category: Category,
        states: tuple[LiveState | None, ...] | None,
        unavailable: frozenset[str],
        available: tuple[bool, ...] | None,
        required_context: int,
        now: float,
    ) -> Selection:
        eligible, excluded = self._eligibility(
            states, unavailable, available, required_context, now
        )
        latency = _ratio_scores([_latency(None if states is None else states[i]) for i in eligible])
        scores, rank, weights = self._scores[category], self._rank[category], self._weights
        rows: list[tuple[tuple[Any, ...], RankedCandidate]] = []
        for j, i in enumerate(eligible):
            static, score = self._static[i], scores[i]
            state = None if states is None else states[i]
            parts = (
                rank[i],
                NEUTRAL if score.value is None else score.value / 100.0,
                1.0 if state is None else _unit(state.headroom),  # no report: whole budget
                self._cost[i],
                latency[j],
                1.0 if state is None else 1.0 - _unit(state.error_rate),
            )
            total = min(1.0, max(0.0, sum(map(operator.mul, weights, parts))))
            p = static.profile
            ranked = RankedCandidate(
                p.name,
                p.provider,
                p.tier,
                total,
                parts,
                score.value,
                category in p.categories,
                not score.covered,
                score.parts,
                p.benchmarks.model_id if p.benchmarks else None,
            )
            lat = _latency(state)
            sort_key = (
                p.tier != tier,
                not ranked.in_category,
                -total,
                -(score.value if score.value is not None else -1.0),
                -static.evidence,
                math.inf if static.price is None else static.price,
                math.inf if lat is None else lat,
                p.name,
                p.provider,
            )
            rows.append((sort_key, ranked))
        rows.sort(key=operator.itemgetter(0))
        ranking = tuple(r for _, r in rows)
        explanation = explain_choice(ranking, category, self._weights, COMPONENTS)
        return Selection(
            model=ranking[0].name if ranking else None,
            reason=reason_text(ranking, excluded, tier, category, len(self._static), explanation),
            tier=tier,
            category=category,
            ranking=ranking,
            excluded=excluded,
            explanation=explanation,
        )


def _exclusion_reasons(
    profile: ModelProfile,
    available: bool,
    state: LiveState | None,
    required_context: int,
    now: float,
) -> list[str]:
    reasons = []
    if not available:
        reasons.append("not available: provider credentials not configured")
    if state is not None:
        if not state.healthy:
            reasons.append("unhealthy")
        until = state.cooled_down_until
        if until is not None and not until <= now:
            left = until - now
            reasons.append("cooling down" + (f" ({left:.0f}s left)" if math.isfinite(left) else ""))
    window = profile.context_window
    if window and window < required_context:  # 0 = unknown: let the provider be the judge
        reasons.append(f"context window {window} tokens < required {required_context}")
    return reasons


class BenchmarkSelector:
    """Ranks candidates by the weighted score; holds its weights and prepared catalogs only."""

    def __init__(self, weights: SelectionWeights | None = None) -> None:
        self.weights = weights if weights is not None else SelectionWeights()
        self._prepared: tuple[object, tuple[ModelProfile, ...], PreparedCatalog] | None = None

    def prepare(self, profiles: Sequence[ModelProfile]) -> PreparedCatalog:
        """The prepared catalog for these profiles (reused while the same profiles are passed)."""
        last = self._prepared
        if last is not None and (last[0] is profiles or last[1] == tuple(profiles)):
            return last[2]
        prepared = PreparedCatalog(profiles, self.weights)
        self._prepared = (profiles, prepared.profiles, prepared)
        return prepared

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
        prepared = self.prepare([c.profile for c in candidates])
        return prepared.select_indexed(
            tier,
            category,
            candidates,
            [c.available for c in candidates],
            required_context=required_context,
            now=now,
        )
