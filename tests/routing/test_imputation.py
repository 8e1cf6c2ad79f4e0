"""Imputation: estimates fill gaps from a model's other scores or its tier, with a penalty, and
never beat a published good score."""

from __future__ import annotations

from typing import Any

import pytest

from annas_gift.routing.categorization import CATEGORY_BENCHMARKS, catalog_category_scores
from annas_gift.routing.imputation import (
    MIN_SPREAD,
    PENALTY_Z,
    UNCOVERED_MARGIN,
    published_points,
)
from annas_gift.routing.types import ModelBenchmarks, ModelProfile, Tier


def model(name: str, tier: Tier = "powerful", **scores: Any) -> ModelProfile:
    return ModelProfile(
        name=name,
        provider="p",
        tier=tier,
        categories=("code", "knowledge"),
        benchmarks=ModelBenchmarks(name, **scores),
    )


def scores_of(models: list[ModelProfile], category: str) -> dict[str, Any]:
    out = catalog_category_scores(models)
    return {m.name: s[category] for m, s in zip(models, out, strict=True)}  # type: ignore[index]


# Three models publish GPQA (enough to compare strengths), only two publish LiveCodeBench.
CATALOG = [
    model("strong", gpqa_diamond=90.0, livecodebench=85.0),
    model("average", gpqa_diamond=70.0, livecodebench=60.0),
    model("weak", gpqa_diamond=50.0),
    model("unknown"),
]


def test_published_numbers_are_used_as_they_are() -> None:
    code = scores_of(CATALOG, "code")
    strong = code["strong"]
    assert strong.covered
    lcb = next(p for p in strong.parts if p.benchmark == "livecodebench")
    assert (lcb.value, lcb.imputed) == (85.0, False)


def test_a_gap_is_estimated_from_the_models_strength_with_a_penalty() -> None:
    code = scores_of(CATALOG, "code")
    weak = code["weak"]
    assert not weak.covered
    (lcb,) = (p for p in weak.parts if p.benchmark == "livecodebench")
    assert lcb.imputed
    # GPQA mean 70, spread max(pstdev=16.3, 15)=16.3: weak is z=-1.22; minus the penalty.
    spread = max(16.3299, MIN_SPREAD)
    z = (50.0 - 70.0) / spread - PENALTY_Z
    assert lcb.value == pytest.approx(72.5 + z * MIN_SPREAD, abs=0.01)  # LCB: mean 72.5


def test_estimates_never_exceed_the_benchmark_median() -> None:
    # "strong" is far above everyone on GPQA, yet its missing SWE-bench is at best the median.
    models = [
        model("strong", gpqa_diamond=99.0, mmlu=95.0),
        model("a", gpqa_diamond=50.0, swe_bench_verified=40.0, mmlu=60.0),
        model("b", gpqa_diamond=55.0, swe_bench_verified=60.0, mmlu=65.0),
    ]
    code = scores_of(models, "code")
    (swe,) = (p for p in code["strong"].parts if p.benchmark == "swe_bench_verified")
    assert swe.imputed
    assert swe.value == 50.0  # median of 40 and 60, not the optimistic mean + z * spread


def test_a_model_with_no_published_number_gets_its_tiers_weakest_strength() -> None:
    knowledge = scores_of(CATALOG, "knowledge")
    assert knowledge["unknown"].value is not None
    (unknown_gpqa,) = (p for p in knowledge["unknown"].parts if p.benchmark == "gpqa_diamond")
    assert unknown_gpqa.imputed
    # Same estimate as a model exactly as strong as "weak" (the weakest known) would get.
    assert unknown_gpqa.value <= 50.0


def test_uncovered_models_never_beat_a_known_good_one() -> None:
    code = scores_of(CATALOG, "code")
    covered = sorted(s.value for s in code.values() if s.covered)
    median = (covered[0] + covered[-1]) / 2  # two covered models
    for name in ("weak", "unknown"):
        assert code[name].value <= median - UNCOVERED_MARGIN
        assert code[name].value < code["strong"].value


def test_uncovered_cap_uses_the_models_own_tier() -> None:
    models = [
        model("big", tier="powerful", gpqa_diamond=95.0, mmlu_pro=90.0, mmlu=92.0),
        model("big2", tier="powerful", gpqa_diamond=85.0, mmlu_pro=80.0, mmlu=88.0),
        model("small", tier="fast", gpqa_diamond=40.0, mmlu_pro=35.0, mmlu=60.0),
        model("small-unknown", tier="fast"),
    ]
    knowledge = scores_of(models, "knowledge")
    assert knowledge["small-unknown"].value < knowledge["small"].value


def test_entries_serving_the_same_weights_count_once() -> None:
    one = [*CATALOG]
    three = [*CATALOG, model("strong"), model("strong")]
    three[-1] = ModelProfile("copy1", "q", "powerful", (), 0, CATALOG[0].benchmarks)
    three[-2] = ModelProfile("copy2", "r", "powerful", (), 0, CATALOG[0].benchmarks)
    before = scores_of(one, "code")["weak"].value
    after = scores_of(three, "code")["weak"].value
    assert before == pytest.approx(after)


def test_nothing_known_anywhere_gives_no_score() -> None:
    code = scores_of([model("a"), model("b")], "code")
    assert code["a"].value is None
    assert not code["a"].covered


def test_garbage_numbers_count_as_unknown() -> None:
    record = ModelBenchmarks("m", mmlu=float("nan"), aime=float("inf"), arena_elo=1250.0)
    assert published_points(record) == {"arena_elo": 50.0}


def test_weights_are_renormalised_over_the_parts_present() -> None:
    for score in scores_of(CATALOG, "code").values():
        assert sum(p.weight for p in score.parts) == pytest.approx(1.0)
    assert {b for b, _ in CATEGORY_BENCHMARKS["code"]} >= {
        p.benchmark for p in scores_of(CATALOG, "code")["strong"].parts
    }
