"""Category → benchmark mapping, published-only blends and the benchmark-only fallback order."""

from __future__ import annotations

from typing import Any

import pytest

from annas_gift.routing.categorization import (
    CATEGORY_BENCHMARKS,
    benchmark_label,
    benchmark_score_for,
    get_category_fallback_order,
)
from annas_gift.routing.types import CATEGORIES, Category, ModelBenchmarks, ModelProfile, Tier


def bm(**scores: Any) -> ModelBenchmarks:
    return ModelBenchmarks("x", **scores)


def profile(
    name: str,
    tier: Tier = "fast",
    categories: tuple[Category, ...] = CATEGORIES,
    benchmarks: ModelBenchmarks | None = None,
) -> ModelProfile:
    return ModelProfile(
        name=name, provider="p", tier=tier, categories=categories, benchmarks=benchmarks
    )


def test_every_category_is_mapped_with_positive_weights_summing_to_one() -> None:
    assert set(CATEGORY_BENCHMARKS) == set(CATEGORIES)
    for blend in CATEGORY_BENCHMARKS.values():
        assert blend
        assert all(weight > 0 for _, weight in blend)
        assert sum(weight for _, weight in blend) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("category", "label"),
    [
        ("code", "LiveCodeBench+SWE-bench Verified+HumanEval"),
        ("math", "AIME+MATH-500+GSM8K"),
        ("knowledge", "MMLU-Pro+GPQA Diamond+MMLU"),
        ("reading", "IFEval+LMArena (text)"),
        ("writing", "LMArena (text)+IFEval"),
        ("chat", "LMArena (text)"),
    ],
)
def test_mapping_and_labels(category: Category, label: str) -> None:
    assert benchmark_label(category) == label


def test_hellaswag_no_longer_decides_a_category() -> None:
    assert all(b != "hellaswag" for blend in CATEGORY_BENCHMARKS.values() for b, _ in blend)


@pytest.mark.parametrize(
    ("benchmarks", "category", "expected"),
    [
        (bm(livecodebench=80.0, swe_bench_verified=60.0, humaneval=90.0), "code", 75.0),
        (bm(humaneval=90.0), "code", 90.0),  # the known one alone, not averaged with zeros
        (bm(aime=90.0, gsm8k=80.0), "math", pytest.approx((0.45 * 90 + 0.2 * 80) / 0.65)),
        (bm(mmlu_pro=70.0, gpqa_diamond=60.0, mmlu=80.0), "knowledge", pytest.approx(68.0)),
        (bm(arena_elo=1400.0), "chat", 80.0),  # 1000 Elo -> 0 points, 1500 -> 100
        (bm(arena_elo=1700.0), "chat", 100.0),  # clamped
        (bm(ifeval=80.0, arena_elo=1300.0), "reading", pytest.approx(0.6 * 80 + 0.4 * 60)),
        (bm(mmlu=80.0), "code", None),
        (bm(hellaswag=90.0), "writing", None),
        (bm(), "knowledge", None),
        (None, "math", None),
    ],
)
def test_benchmark_score_for_uses_published_numbers_only(
    benchmarks: ModelBenchmarks | None, category: Category, expected: object
) -> None:
    assert benchmark_score_for(benchmarks, category) == expected


def test_fallback_order_by_score_an_estimate_never_beats_a_known_good_score() -> None:
    models = [
        profile("c-unknown"),
        profile("b-weak", benchmarks=bm(livecodebench=40.0)),
        profile("a-strong", benchmarks=bm(livecodebench=90.0)),
    ]
    # The unknown model is estimated below the median (65) with a penalty: below the known good
    # one, but above one that is known to be bad (40).
    assert get_category_fallback_order("code", "fast", models) == [
        "a-strong",
        "c-unknown",
        "b-weak",
    ]


def test_fallback_order_ties_by_name_regardless_of_input_order() -> None:
    models = [profile(n, benchmarks=bm(aime=50.0)) for n in ("zeta", "alpha", "mid")]
    assert get_category_fallback_order("math", "fast", models) == ["alpha", "mid", "zeta"]
    assert get_category_fallback_order("math", "fast", models[::-1]) == ["alpha", "mid", "zeta"]


def test_fallback_order_requested_tier_first() -> None:
    models = [
        profile("fast-best", tier="fast", benchmarks=bm(gpqa_diamond=95.0)),
        profile("powerful-weak", tier="powerful", benchmarks=bm(gpqa_diamond=50.0)),
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
        profile("generalist", categories=("chat",), benchmarks=bm(livecodebench=95.0)),
        profile("coder", categories=("code",), benchmarks=bm(livecodebench=70.0)),
    ]
    assert get_category_fallback_order("code", "fast", models) == ["coder", "generalist"]


def test_fallback_order_empty() -> None:
    assert get_category_fallback_order("chat", "fast", []) == []
