"""Table tests for the benchmark selector: weights, exclusions, ties, tiers, normalisation."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from annas_gift.routing.benchmark_selector import (
    BenchmarkSelector,
    Candidate,
    Selection,
    SelectionWeights,
)
from annas_gift.routing.types import Category, ModelBenchmarks, ModelProfile, Tier

NOW = 1_700_000_000.0


def cand(
    name: str,
    *,
    tier: Tier = "powerful",
    humaneval: float | None = None,
    mmlu: float | None = None,
    context: int = 128_000,
    price: float | None = 0.0,
    categories: tuple[Category, ...] = ("code", "chat"),
    **state: object,
) -> Candidate:
    benchmarks = ModelBenchmarks(model_id=name, humaneval=humaneval, mmlu=mmlu)
    profile = ModelProfile(
        name=name,
        provider=name.split("/")[0],
        tier=tier,
        categories=categories,
        context_window=context,
        benchmarks=benchmarks,
        input_cost_per_token=price,
        output_cost_per_token=price,
    )
    return Candidate(profile=profile, **state)  # type: ignore[arg-type]


def select(
    candidates: list[Candidate],
    *,
    tier: Tier = "powerful",
    category: Category = "code",
    required_context: int = 1_000,
    weights: SelectionWeights | None = None,
) -> Selection:
    return BenchmarkSelector(weights).select_model(
        candidates, tier=tier, category=category, required_context=required_context, now=NOW
    )


# ── weights ─────────────────────────────────────────────────────────────────────────────────────


def test_default_weights_match_the_documented_split() -> None:
    assert SelectionWeights().as_dict() == pytest.approx(
        {
            "benchmark_rank": 0.30,
            "benchmark_score": 0.20,
            "headroom": 0.20,
            "cost": 0.15,
            "latency": 0.075,
            "health": 0.075,
        }
    )


def test_weights_are_normalised_to_one() -> None:
    weights = SelectionWeights(1, 1, 1, 1, 1, 1)
    assert math.fsum(weights.as_dict().values()) == pytest.approx(1.0)
    assert weights.cost == pytest.approx(1 / 6)
    only_headroom = SelectionWeights(
        benchmark_rank=0, benchmark_score=0, headroom=5, cost=0, latency=0, health=0
    )
    assert only_headroom.headroom == pytest.approx(1.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"cost": -0.1},
        {"latency": float("nan")},
        {"health": float("inf")},
        {"headroom": True},
        {"benchmark_rank": "0.3"},
        dict.fromkeys(
            ("benchmark_rank", "benchmark_score", "headroom", "cost", "latency", "health"), 0
        ),
    ],
)
def test_invalid_weights_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="weight"):
        SelectionWeights(**bad)  # type: ignore[arg-type]


def test_weights_change_the_winner() -> None:
    strong_but_busy = cand("a/strong", humaneval=90.0, headroom=0.1)
    weak_but_idle = cand("b/weak", humaneval=50.0, headroom=1.0)
    assert select([strong_but_busy, weak_but_idle]).model == "a/strong"
    headroom_only = SelectionWeights(0, 0, 1, 0, 0, 0)
    assert select([strong_but_busy, weak_but_idle], weights=headroom_only).model == "b/weak"


def test_cost_weight_prefers_free_models() -> None:
    paid = cand("a/paid", humaneval=80.0, price=1e-6)
    free = cand("b/free", humaneval=80.0, price=0.0)
    result = select([paid, free])
    assert result.model == "b/free"
    by_name = {r.name: r for r in result.ranking}
    assert by_name["b/free"].components["cost"] == 1.0
    assert by_name["a/paid"].components["cost"] == 0.0


# ── exclusions ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("state", "context", "reason"),
    [
        ({"available": False}, 128_000, "credentials"),
        ({"healthy": False}, 128_000, "unhealthy"),
        ({"cooled_down_until": NOW + 30}, 128_000, "cooling down (30s left)"),
        ({}, 500, "context window 500 tokens < required 1000"),
    ],
)
def test_each_exclusion_is_recorded_with_its_reason(
    state: dict[str, Any], context: int, reason: str
) -> None:
    result = select([replace(cand("a/bad", context=context), **state), cand("b/ok")])
    assert result.model == "b/ok"
    assert [name for name, _ in result.excluded] == ["a/bad"]
    assert reason in result.excluded[0][1]
    assert result.fallback_order == ["b/ok"]


def test_expired_cooldown_is_eligible() -> None:
    result = select([cand("a/was-cooling", cooled_down_until=NOW - 1), cand("b/other")])
    assert result.excluded == ()
    assert set(result.fallback_order) == {"a/was-cooling", "b/other"}


def test_context_equal_to_required_is_enough() -> None:
    assert select([cand("a/exact", context=1_000)]).model == "a/exact"


def test_all_reasons_are_listed() -> None:
    result = select([cand("a/bad", available=False, healthy=False, context=10)])
    assert result.model is None
    why = result.excluded[0][1]
    assert "credentials" in why
    assert "unhealthy" in why
    assert "context window" in why
    assert result.reason.startswith("no model qualifies: all 1 excluded")


def test_reason_summarises_exclusions_by_kind() -> None:
    result = select(
        [
            cand("a/small", context=10),
            cand("b/smaller", context=5),
            cand("c/cooling", cooled_down_until=NOW + 5),
        ]
    )
    assert result.model is None
    assert result.reason == (
        "no model qualifies: all 3 excluded (2 context window, 1 cooling down)"
    )


def test_no_candidates() -> None:
    result = select([])
    assert result.model is None
    assert result.ranking == ()
    assert result.excluded == ()
    assert "no candidate" in result.reason


# ── ordering ────────────────────────────────────────────────────────────────────────────────────


def test_ties_are_broken_by_name_whatever_the_input_order() -> None:
    models = [cand(n) for n in ("z/model", "a/model", "m/model")]
    assert select(models).fallback_order == ["a/model", "m/model", "z/model"]
    assert select(models[::-1]).fallback_order == ["a/model", "m/model", "z/model"]


def test_ranking_is_the_fallback_order_best_first() -> None:
    models = [
        cand("a/low", humaneval=40.0),
        cand("b/high", humaneval=95.0),
        cand("c/mid", humaneval=70.0),
    ]
    result = select(models)
    assert result.fallback_order == ["b/high", "c/mid", "a/low"]
    assert result.model == result.ranking[0].name
    scores = [r.score for r in result.ranking]
    assert scores == sorted(scores, reverse=True)


def test_requested_tier_ranks_before_the_other_tier() -> None:
    fast_star = cand("a/fast-star", tier="fast", humaneval=99.0)
    powerful_meh = cand("b/powerful-meh", tier="powerful", humaneval=30.0, headroom=0.2)
    result = select([fast_star, powerful_meh], tier="powerful")
    assert result.fallback_order == ["b/powerful-meh", "a/fast-star"]
    assert "ranks first of 1 powerful models" in result.reason
    assert select([fast_star, powerful_meh], tier="fast").model == "a/fast-star"


def test_models_listing_the_category_rank_first_within_a_tier() -> None:
    specialist = cand("b/coder", humaneval=60.0, categories=("code",))
    generalist = cand("a/writer", humaneval=99.0, categories=("writing",))
    result = select([generalist, specialist], category="code")
    assert result.fallback_order == ["b/coder", "a/writer"]
    assert [r.in_category for r in result.ranking] == [True, False]
    only_writer = select([generalist], category="code")
    assert only_writer.model == "a/writer"
    assert "no qualifying model lists code" in only_writer.reason


def test_falls_back_to_other_tier_only_when_requested_tier_is_excluded() -> None:
    result = select(
        [cand("a/fast", tier="fast"), cand("b/powerful", tier="powerful", healthy=False)],
        tier="powerful",
    )
    assert result.model == "a/fast"
    assert result.reason.startswith("no powerful model qualifies; falling back to fast model")


# ── normalisation ───────────────────────────────────────────────────────────────────────────────


def test_benchmark_rank_and_score_components() -> None:
    models = [
        cand("a/best", humaneval=90.0),
        cand("b/mid", humaneval=60.0),
        cand("c/worst", humaneval=30.0),
        cand("d/unknown"),
    ]
    by_name = {r.name: r for r in select(models).ranking}
    ranks = [by_name[n].components["benchmark_rank"] for n in ("a/best", "b/mid", "c/worst")]
    assert ranks == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert by_name["a/best"].components["benchmark_score"] == pytest.approx(0.9)
    assert by_name["a/best"].benchmark_score == 90.0
    assert not by_name["a/best"].benchmark_imputed
    # Unknown is estimated, flagged as such, and ranked below every published score here: it is
    # assumed no stronger than the weakest known model of its tier, minus the penalty.
    unknown = by_name["d/unknown"]
    assert unknown.benchmark_imputed
    assert unknown.benchmark_score is not None
    assert unknown.benchmark_score < 30.0
    assert unknown.components["benchmark_rank"] == 0.0
    assert [p.imputed for p in unknown.benchmark_parts] == [True]


def test_equal_benchmark_scores_share_the_better_rank() -> None:
    models = [cand("a/x", humaneval=80.0), cand("b/y", humaneval=80.0), cand("c/z", humaneval=10.0)]
    by_name = {r.name: r for r in select(models).ranking}
    assert by_name["a/x"].components["benchmark_rank"] == 1.0
    assert by_name["b/y"].components["benchmark_rank"] == 1.0
    assert by_name["c/z"].components["benchmark_rank"] == 0.0


def test_category_picks_the_benchmark() -> None:
    coder = cand("a/coder", humaneval=95.0, mmlu=40.0)
    scholar = cand("b/scholar", humaneval=40.0, mmlu=95.0)
    assert select([coder, scholar], category="code").model == "a/coder"
    assert select([coder, scholar], category="knowledge").model == "b/scholar"


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        ((0.0, 1e-6), (1.0, 0.0)),  # free is best; anything paid loses the whole component
        ((1e-6, 2e-6), (1.0, 0.5)),  # cheapest / price
        ((None, 1e-6), (0.5, 1.0)),  # unknown price is neutral
    ],
)
def test_cost_component(
    prices: tuple[float | None, float | None], expected: tuple[float, float]
) -> None:
    result = select([cand("a/one", price=prices[0]), cand("b/two", price=prices[1])])
    by_name = {r.name: r.components["cost"] for r in result.ranking}
    assert (by_name["a/one"], by_name["b/two"]) == pytest.approx(expected)


def test_latency_headroom_and_health_components() -> None:
    fast = cand("a/fast", latency_p50_ms=200.0, headroom=0.75, error_rate=0.1)
    slow = cand("b/slow", latency_p50_ms=800.0, headroom=1.7, error_rate=-3.0)
    unknown = cand("c/unknown", headroom=float("nan"))
    by_name = {r.name: r.components for r in select([fast, slow, unknown]).ranking}
    assert by_name["a/fast"]["latency"] == 1.0
    assert by_name["b/slow"]["latency"] == pytest.approx(0.25)
    assert by_name["c/unknown"]["latency"] == 0.5
    assert by_name["a/fast"]["headroom"] == 0.75
    assert by_name["b/slow"]["headroom"] == 1.0  # clamped
    assert by_name["c/unknown"]["headroom"] == 0.5  # garbage live data is neutral
    assert by_name["a/fast"]["health"] == pytest.approx(0.9)
    assert by_name["b/slow"]["health"] == 1.0  # clamped


def test_total_is_the_weighted_sum() -> None:
    result = select(
        [cand("a/x", humaneval=70.0, latency_p50_ms=100.0), cand("b/y", humaneval=20.0)]
    )
    weights = SelectionWeights().as_dict()
    for ranked in result.ranking:
        expected = sum(weights[k] * v for k, v in ranked.components.items())
        assert ranked.score == pytest.approx(expected)
        assert 0.0 <= ranked.score <= 1.0


# ── API surface ─────────────────────────────────────────────────────────────────────────────────


def test_invalid_tier_or_category_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="tier"):
        select([cand("a/x")], tier="medium")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="category"):
        select([cand("a/x")], category="poetry")  # type: ignore[arg-type]


def test_to_dict_is_json_ready() -> None:
    result = select([cand("a/ok", humaneval=80.0), cand("b/off", available=False)])
    data = json.loads(json.dumps(result.to_dict()))
    assert data["model"] == "a/ok"
    assert data["tier"] == "powerful"
    assert data["category"] == "code"
    assert data["ranking"][0]["name"] == "a/ok"
    assert set(data["ranking"][0]["components"]) == set(SelectionWeights().as_dict())
    assert data["excluded"] == [{"model": "b/off", "reason": data["excluded"][0]["reason"]}]


def test_selection_is_frozen() -> None:
    result = select([cand("a/ok")])
    with pytest.raises(AttributeError):
        result.model = "b/other"  # type: ignore[misc]


# ── imputation in the ranking ──────────────────────────────────────────────────────────────────


def test_an_unknown_model_never_beats_a_known_good_one() -> None:
    known_good = cand("z/known-good", humaneval=85.0)
    also_known = cand("y/known-ok", humaneval=70.0)
    weak = cand("x/known-weak", humaneval=40.0)
    unknown = cand("a/unknown")  # first by name: would win any tie on name
    result = select([unknown, weak, also_known, known_good])
    order = result.fallback_order
    assert order.index("z/known-good") < order.index("a/unknown")
    assert order.index("y/known-ok") < order.index("a/unknown")
    assert result.model == "z/known-good"


def test_a_model_strong_elsewhere_gets_a_better_estimate_than_a_weak_one() -> None:
    def model(name: str, gpqa: float, lcb: float | None) -> Candidate:
        benchmarks = ModelBenchmarks(name, gpqa_diamond=gpqa, livecodebench=lcb)
        return Candidate(ModelProfile(name, "p", "powerful", ("code",), 128_000, benchmarks))

    models = [model("a/ref1", 60.0, 60.0), model("b/ref2", 80.0, 80.0), model("c/mid", 70.0, None)]
    strong, weak = model("d/strong", 95.0, None), model("e/weak", 40.0, None)
    by_name = {r.name: r for r in select([*models, strong, weak]).ranking}
    assert by_name["d/strong"].benchmark_score > by_name["e/weak"].benchmark_score  # type: ignore[operator]


# ── tie-breaks ─────────────────────────────────────────────────────────────────────────────────


def test_equal_scores_prefer_more_published_evidence_over_name() -> None:
    # Same code estimate for both (nothing known about code), but b publishes two benchmarks.
    a = cand("a/no-evidence")
    b = cand("b/evidence", mmlu=80.0)
    c = cand("c/ref", humaneval=60.0, mmlu=80.0)
    d = cand("d/ref", humaneval=70.0, mmlu=80.0)
    e = cand("e/ref", humaneval=80.0, mmlu=80.0)
    order = select([a, b, c, d, e]).fallback_order
    assert order.index("b/evidence") < order.index("a/no-evidence")


def test_equal_totals_are_broken_by_price_then_latency_then_name() -> None:
    # Weight only headroom so every total is equal; the documented tie-break order remains.
    only_headroom = SelectionWeights(0, 0, 1, 0, 0, 0)
    cheap = cand("z/cheap", price=1e-7)
    dear = cand("a/dear", price=1e-6)
    assert select([dear, cheap], weights=only_headroom).fallback_order == ["z/cheap", "a/dear"]
    quick = cand("z/quick", latency_p50_ms=100.0)
    slow = cand("a/slow", latency_p50_ms=900.0)
    unknown = cand("b/unknown")
    assert select([slow, unknown, quick], weights=only_headroom).fallback_order == [
        "z/quick",
        "a/slow",
        "b/unknown",
    ]
    twins = [cand("m/two"), cand("m/one")]
    assert select(twins, weights=only_headroom).fallback_order == ["m/one", "m/two"]


# ── explanation ────────────────────────────────────────────────────────────────────────────────
