"""Which benchmarks measure which task category, and the benchmark-only fallback order.

Mapping (weights within a category; why):
- code      → LiveCodeBench 0.45 (fresh contest problems, no contamination), SWE-bench Verified
              0.35 (real repository fixes), HumanEval 0.20 (function-level, saturated).
- math      → AIME 0.45 (olympiad-style), MATH-500 0.35 (competition problems), GSM8K 0.20
              (grade-school word problems, saturated).
- knowledge → MMLU-Pro 0.40, GPQA Diamond 0.40 (graduate-level science), MMLU 0.20 (saturated).
- reading   → IFEval 0.60 (doing exactly what the question asks), LMArena text 0.40.
- writing   → LMArena text 0.60 (people preferring the text), IFEval 0.40.
- chat      → LMArena text 1.0.

HellaSwag stays in the data (the seed's benchmark) but no longer decides a category: current
models no longer publish it and it is saturated. Missing numbers are imputed with a penalty
(see `imputation`); the full explanation is in docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from annas_gift.routing.benchmarks import BENCHMARK_LABELS
from annas_gift.routing.imputation import CategoryBlend, CategoryScore, score_categories
from annas_gift.routing.types import (
    Benchmark,
    Category,
    ModelBenchmarks,
    ModelProfile,
    Tier,
    benchmark_points,
)

__all__ = [
    "CATEGORY_BENCHMARKS",
    "CategoryScore",
    "benchmark_label",
    "benchmark_score_for",
    "catalog_category_scores",
    "get_category_fallback_order",
]

CATEGORY_BENCHMARKS: Mapping[Category, CategoryBlend] = MappingProxyType(
    {
        "code": (("livecodebench", 0.45), ("swe_bench_verified", 0.35), ("humaneval", 0.20)),
        "math": (("aime", 0.45), ("math_500", 0.35), ("gsm8k", 0.20)),
        "knowledge": (("mmlu_pro", 0.40), ("gpqa_diamond", 0.40), ("mmlu", 0.20)),
        "reading": (("ifeval", 0.60), ("arena_elo", 0.40)),
        "writing": (("arena_elo", 0.60), ("ifeval", 0.40)),
        "chat": (("arena_elo", 1.0),),
    }
)


def benchmark_label(category: Category) -> str:
    """Human-readable names of a category's benchmarks, e.g. 'LiveCodeBench+SWE-bench...'."""
    return "+".join(BENCHMARK_LABELS[b] for b, _ in CATEGORY_BENCHMARKS[category])


def benchmark_score_for(benchmarks: ModelBenchmarks | None, category: Category) -> float | None:
    """The category's blend of *published* scores only (0..100), or None when none is known."""
    if benchmarks is None:
        return None
    total = 0.0
    weight_sum = 0.0
    for benchmark, weight in CATEGORY_BENCHMARKS[category]:
        score = benchmarks.score(benchmark)
        if score is not None:
            total += weight * benchmark_points(benchmark, score)
            weight_sum += weight
    if weight_sum == 0.0:
        return None
    return total / weight_sum


def catalog_category_scores(
    models: Sequence[ModelProfile],
) -> list[dict[Category, CategoryScore]]:
    """Each model's score per category against the rest of `models` (gaps imputed)."""
    return score_categories(
        [m.benchmarks for m in models], [m.tier for m in models], dict(CATEGORY_BENCHMARKS)
    )


def get_category_fallback_order(
    category: Category, tier: Tier, models: Sequence[ModelProfile]
) -> list[str]:
    """Model names best-first for a category by benchmark alone.

    Order: the requested tier before the other tier; within a tier, models that list the
    category before those that do not; then by the category score (published numbers, gaps
    imputed with a penalty; no score at all last); ties by name so the order never depends on
    input order.
    """
    scores = catalog_category_scores(models)

    def key(i: int) -> tuple[bool, bool, bool, float, str, str]:
        model, value = models[i], scores[i][category].value
        return (
            model.tier != tier,
            category not in model.categories,
            value is None,
            -(value or 0.0),
            model.name,
            model.provider,
        )

    return [models[i].name for i in sorted(range(len(models)), key=key)]


def label_of(benchmark: Benchmark) -> str:
    """The display name of one benchmark."""
    return BENCHMARK_LABELS[benchmark]
