"""Fill the benchmark gaps of a catalog so every model gets a score for every category.

Published numbers are used as they are. A missing number is estimated from how strong the model
is on the benchmarks it does publish, relative to the other models of the same catalog, and then
penalised, so an estimate never beats a published good score:

1. Per benchmark, over the catalog's distinct benchmark records: mean, spread and median of the
   published values (0..100 points; arena Elo mapped by `benchmark_points`). The spread is at
   least `MIN_SPREAD` points because a handful of models understates how far apart models are.
2. A model's strength is the mean z-score of its published values on benchmarks that at least
   `MIN_REPORTING` models publish (fewer is too little to compare against). A model with no
   such value gets the strength of the weakest known model of its tier (0 when the tier has
   none): knowing nothing about a model is no reason to rank it above a known one.
3. Estimate = mean + (strength - `PENALTY_Z`) * spread, clamped to 0..100 and capped at the
   benchmark's median: an estimate is at best an average published score.
4. A category score is the weighted mean over the category's benchmarks (published or estimated,
   `CATEGORY_BENCHMARKS` weights). A model with no published number in the category ("not
   covered") is capped at the median score of the covered models of its tier (of the whole
   catalog when its tier has none) minus `UNCOVERED_MARGIN`: it never beats a known good model.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from annas_gift.routing.types import (
    BENCHMARKS,
    CATEGORIES,
    Benchmark,
    Category,
    ModelBenchmarks,
    Tier,
    benchmark_points,
)

PENALTY_Z = 0.5
MIN_SPREAD = 15.0
MIN_REPORTING = 3
UNCOVERED_MARGIN = 1.0

# Imported lazily by categorization to avoid a cycle; the mapping lives there.
CategoryBlend = tuple[tuple[Benchmark, float], ...]


class BenchmarkPart(NamedTuple):
    """One benchmark's share of a category score."""

    benchmark: Benchmark
    weight: float  # normalised over the parts present
    value: float  # 0..100 points
    imputed: bool


@dataclass(frozen=True, slots=True)
class CategoryScore:
    """A model's score for one category: 0..100 points, or None when nothing can be said."""

    value: float | None
    covered: bool  # at least one of the category's benchmarks is published for this model
    parts: tuple[BenchmarkPart, ...] = ()


class _Stats(NamedTuple):
    mean: float
    spread: float
    median: float
    reporting: int  # how many distinct models publish it


def published_points(record: ModelBenchmarks | None) -> dict[Benchmark, float]:
    """The record's published values on the 0..100 scale; garbage (NaN, inf) counts as unknown."""
    if record is None:
        return {}
    out: dict[Benchmark, float] = {}
    for benchmark in BENCHMARKS:
        value = record.score(benchmark)
        if value is not None and math.isfinite(value):
            out[benchmark] = min(100.0, max(0.0, benchmark_points(benchmark, value)))
    return out


def _stats(distinct: Sequence[dict[Benchmark, float]]) -> dict[Benchmark, _Stats]:
    out: dict[Benchmark, _Stats] = {}
    for benchmark in BENCHMARKS:
        values = sorted(p[benchmark] for p in distinct if benchmark in p)
        if not values:
            continue
        mean = math.fsum(values) / len(values)
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        median = statistics.median(values)
        out[benchmark] = _Stats(mean, max(spread, MIN_SPREAD), median, len(values))
    return out


def _strength(points: dict[Benchmark, float], stats: dict[Benchmark, _Stats]) -> float | None:
    zs = [
        (value - stats[b].mean) / stats[b].spread
        for b, value in sorted(points.items())
        if stats[b].reporting >= MIN_REPORTING
    ]
    return math.fsum(zs) / len(zs) if zs else None


def _median(values: list[float]) -> float | None:
    return statistics.median(sorted(values)) if values else None


def score_categories(
    records: Sequence[ModelBenchmarks | None],
    tiers: Sequence[Tier],
    blends: dict[Category, CategoryBlend],
) -> list[dict[Category, CategoryScore]]:
    """Category scores for each catalog entry (same order as `records`), gaps imputed."""
    points = [published_points(r) for r in records]
    # Entries that serve the same weights (same benchmark record) count once in the statistics.
    distinct: dict[tuple[object, ...], int] = {}
    per_tier: dict[tuple[object, ...], int] = {}
    for i, (record, p) in enumerate(zip(records, points, strict=True)):
        key = (record.model_id if record else None, tuple(sorted(p.items())))
        distinct.setdefault(key, i)
        per_tier.setdefault((*key, tiers[i]), i)
    stats = _stats([points[i] for i in distinct.values()])
    strengths = [_strength(p, stats) for p in points]
    by_tier: dict[Tier, list[float]] = {}
    for i in per_tier.values():  # fsum below, so the order of this loop cannot matter
        s = strengths[i]
        if s is not None:
            by_tier.setdefault(tiers[i], []).append(s)
    # Nothing known about a model: assume it is no stronger than the weakest known one of its tier.
    prior = {t: min(v) for t, v in by_tier.items()}
    raw: list[dict[Category, CategoryScore]] = []
    for i, p in enumerate(points):
        s = strengths[i]
        z = (s if s is not None else prior.get(tiers[i], 0.0)) - PENALTY_Z
        raw.append({c: _blend(p, stats, z, blends[c]) for c in CATEGORIES})
    return _cap_uncovered(raw, tiers)


def _blend(
    points: dict[Benchmark, float], stats: dict[Benchmark, _Stats], z: float, blend: CategoryBlend
) -> CategoryScore:
    parts: list[tuple[Benchmark, float, float, bool]] = []
    for benchmark, weight in blend:
        if benchmark in points:
            parts.append((benchmark, weight, points[benchmark], False))
        elif benchmark in stats:
            st = stats[benchmark]
            guess = min(100.0, max(0.0, st.mean + z * st.spread))
            parts.append((benchmark, weight, min(guess, st.median), True))
    if not parts:
        return CategoryScore(value=None, covered=False)
    total = math.fsum(w for _, w, _, _ in parts)
    normalised = tuple(BenchmarkPart(b, w / total, v, imp) for b, w, v, imp in parts)
    value = math.fsum(part.weight * part.value for part in normalised)
    covered = any(not p.imputed for p in normalised)
    return CategoryScore(value=value, covered=covered, parts=normalised)


def _cap_uncovered(
    raw: list[dict[Category, CategoryScore]], tiers: Sequence[Tier]
) -> list[dict[Category, CategoryScore]]:
    for category in CATEGORIES:
        covered_by_tier: dict[Tier, list[float]] = {}
        for i, scores in enumerate(raw):
            score = scores[category]
            if score.covered and score.value is not None:
                covered_by_tier.setdefault(tiers[i], []).append(score.value)
        everywhere = _median([v for vs in covered_by_tier.values() for v in vs])
        for i, scores in enumerate(raw):
            score = scores[category]
            if score.covered or score.value is None:
                continue
            cap = _median(covered_by_tier.get(tiers[i], []))
            cap = everywhere if cap is None else cap
            if cap is not None:
                value = max(0.0, min(score.value, cap) - UNCOVERED_MARGIN)
                scores[category] = CategoryScore(value, covered=False, parts=score.parts)
    return raw
