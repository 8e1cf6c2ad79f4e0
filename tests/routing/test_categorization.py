"""Category → benchmark mapping, blended scores and the benchmark-only fallback order."""

from __future__ import annotations

import pytest

from annas_gift.routing.categorization import (
    CATEGORY_BENCHMARKS,
    benchmark_label,
    benchmark_score_for,
    get_category_fallback_order,
)
from annas_gift.routing.types import CATEGORIES, Category, ModelBenchmarks, ModelProfile, Tier


def bm(
    mmlu: float | None = None,
    hellaswag: float | None = None,
    gsm8k: float | None = None,
    humaneval: float | None = None,
) -> ModelBenchmarks:
    return ModelBenchmarks("x", mmlu=mmlu, hellaswag=hellaswag, gsm8k=gsm8k, humaneval=humaneval)


def profile(
    name: str,
    tier: Tier = "fast",
    categories: tuple[Category, ...] = CATEGORIES,
    benchmarks: ModelBenchmarks | None = None,
) -> ModelProfile:
    return ModelProfile(
        name=name, provider="p", tier=tier, categories=categories, benchmarks=benchmarks
    )


def test_every_category_is_mapped_with_positive_weights() -> None:
    assert set(CATEGORY_BENCHMARKS) == set(CATEGORIES)
    for blend in CATEGORY_BENCHMARKS.values():
        assert blend
        assert all(weight > 0 for _, weight in blend)


@pytest.mark.parametrize(
    ("category", "label"),
    [
        ("code", "HumanEval"),
        ("math", "GSM8K"),
        ("knowledge", "MMLU"),
        ("reading", "MMLU"),
        ("writing", "HellaSwag+MMLU"),
        ("chat", "HellaSwag+MMLU"),
    ],
)
def test_mapping_and_labels(category: Category, label: str) -> None:
    assert benchmark_label(category) == label


FULL = bm(mmlu=80.0, hellaswag=90.0, gsm8k=70.0, humaneval=60.0)


@pytest.mark.parametrize(
    ("benchmarks", "category", "expected"),
    [
        (FULL, "code", 60.0),
        (FULL, "math", 70.0),
        (FULL, "knowledge", 80.0),
        (FULL, "reading", 80.0),
        (FULL, "writing", 85.0),  # 50/50 blend of HellaSwag and MMLU
        (FULL, "chat", 85.0),
        (bm(mmlu=80.0), "chat", 80.0),  # unknown HellaSwag: MMLU alone, not averaged with 0
        (bm(hellaswag=90.0), "writing", 90.0),
        (bm(mmlu=80.0), "code", None),
        (bm(), "knowledge", None),
        (None, "math", None),
    ],
)
def test_benchmark_score_for(
    benchmarks: ModelBenchmarks | None, category: Category, expected: float | None
) -> None:
    assert benchmark_score_for(benchmarks, category) == expected


def test_fallback_order_by_score_unknown_last() -> None:
    models = [
        profile("c-unknown"),
        profile("b-weak", benchmarks=bm(humaneval=40.0)),
        profile("a-strong", benchmarks=bm(humaneval=90.0)),
    ]
    assert get_category_fallback_order("code", "fast", models) == [
        "a-strong",
        "b-weak",
        "c-unknown",
    ]


def test_fallback_order_ties_by_name_regardless_of_input_order() -> None:
    models = [profile(n, benchmarks=bm(gsm8k=50.0)) for n in ("zeta", "alpha", "mid")]
    assert get_category_fallback_order("math", "fast", models) == ["alpha", "mid", "zeta"]
    assert get_category_fallback_order("math", "fast", models[::-1]) == ["alpha", "mid", "zeta"]


def test_fallback_order_requested_tier_first() -> None:
    models = [
        profile("fast-best", tier="fast", benchmarks=bm(mmlu=95.0)),
        profile("powerful-weak", tier="powerful", benchmarks=bm(mmlu=50.0)),
    ]
    assert get_category_fallback_order("knowledge", "powerful", models) == [
        "powerful-weak",
        "fast-best",
    ]
    assert get_category_fallback_order("knowledge", "fast", models) == [
        "fast-best",
        "powerful-weak",
    ]


def test_fallback_order_models_listing_the_category_first() -> None:
    models = [
        profile("generalist", categories=("chat",), benchmarks=bm(humaneval=95.0)),
        profile("coder", categories=("code",), benchmarks=bm(humaneval=70.0)),
    ]
    assert get_category_fallback_order("code", "fast", models) == ["coder", "generalist"]


def test_fallback_order_empty() -> None:
    assert get_category_fallback_order("chat", "fast", []) == []
