"""Which benchmark measures which task category, and the benchmark-only fallback order.

Mapping (why):
- code      → HumanEval: function-level code generation.
- math      → GSM8K: multi-step grade-school arithmetic word problems.
- knowledge → MMLU: 57 subjects of academic knowledge.
- reading   → MMLU: answering questions about academic text needs the same broad knowledge;
              none of the four benchmarks measures long-document reading directly.
- writing, chat → HellaSwag 50% + MMLU 50%: HellaSwag measures fluent, sensible continuations,
              MMLU the substance behind them; neither alone describes a good writer or chat partner.

A blended score uses only the benchmarks that are known, with their weights renormalised, so a
model whose publisher stopped reporting HellaSwag is judged on MMLU instead of counted as zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from annas_gift.routing.types import Benchmark, Category, ModelBenchmarks, ModelProfile, Tier

__all__ = [
    "CATEGORY_BENCHMARKS",
    "benchmark_label",
    "benchmark_score_for",
    "get_category_fallback_order",
]

CATEGORY_BENCHMARKS: Mapping[Category, tuple[tuple[Benchmark, float], ...]] = MappingProxyType(
    {
        "code": (("humaneval", 1.0),),
        "math": (("gsm8k", 1.0),),
        "knowledge": (("mmlu", 1.0),),
        "reading": (("mmlu", 1.0),),
        "writing": (("hellaswag", 0.5), ("mmlu", 0.5)),
        "chat": (("hellaswag", 0.5), ("mmlu", 0.5)),
    }
)

_LABELS: Mapping[Benchmark, str] = MappingProxyType(
    {"mmlu": "MMLU", "hellaswag": "HellaSwag", "gsm8k": "GSM8K", "humaneval": "HumanEval"}
)


def benchmark_label(category: Category) -> str:
    """Human-readable name of the benchmark blend for a category, e.g. 'HellaSwag+MMLU'."""
    return "+".join(_LABELS[b] for b, _ in CATEGORY_BENCHMARKS[category])


def benchmark_score_for(benchmarks: ModelBenchmarks | None, category: Category) -> float | None:
    """The category's benchmark score (0..100) for a model, or None when none of it is known."""
    if benchmarks is None:
        return None
    total = 0.0
    weight_sum = 0.0
    for benchmark, weight in CATEGORY_BENCHMARKS[category]:
        score = benchmarks.score(benchmark)
        if score is not None:
            total += weight * score
            weight_sum += weight
    if weight_sum == 0.0:
        return None
    return total / weight_sum


def get_category_fallback_order(
    category: Category, tier: Tier, models: Sequence[ModelProfile]
) -> list[str]:
    """Model names best-first for a category by benchmark alone.

    Order: the requested tier before the other tier; within a tier, models that list the
    category before those that do not; then by the category's benchmark score (highest first,
    unknown last); ties by name so the order never depends on input order.
    """

    def key(model: ModelProfile) -> tuple[bool, bool, bool, float, str, str]:
        score = benchmark_score_for(model.benchmarks, category)
        return (
            model.tier != tier,
            category not in model.categories,
            score is None,
            -(score or 0.0),
            model.name,
            model.provider,
        )

    return [m.name for m in sorted(models, key=key)]
