"""Selector: explanations, and the prepared (precomputed) fast path with live state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annas_gift.routing.benchmark_selector import (
    BenchmarkSelector,
    Candidate,
)
from annas_gift.routing.types import ModelBenchmarks, ModelProfile
from tests.routing.test_selector import NOW, cand, select


def test_explanation_names_the_deciding_benchmark_and_the_runner_up() -> None:
    def model(name: str, **scores: Any) -> Candidate:
        provider, model_id = name.split("/")
        benchmarks = ModelBenchmarks(model_id, **scores)
        return Candidate(ModelProfile(name, provider, "powerful", ("code",), 0, benchmarks))

    winner = model("a/coder", livecodebench=90.0, swe_bench_verified=60.0, humaneval=80.0)
    second = model("b/other", livecodebench=70.0, swe_bench_verified=62.0, humaneval=85.0)
    result = select([second, winner])
    why = result.explanation
    assert why is not None
    assert result.model == "a/coder"
    assert why.decided_by == "benchmark"
    assert (why.benchmark, why.benchmark_label) == ("livecodebench", "LiveCodeBench")
    assert (why.winner_value, why.runner_up_value) == (90.0, 70.0)
    assert why.runner_up == "b/other"
    assert why.runner_up_score == result.ranking[1].score
    assert "LiveCodeBench" in why.summary
    assert "90.0%" in why.summary
    assert "b/other" in why.summary
    assert "decided by LiveCodeBench" in result.reason


def test_runner_up_is_the_best_different_model_not_the_same_one_elsewhere() -> None:
    shared = ModelBenchmarks("vendor/model", livecodebench=90.0)
    here = Candidate(ModelProfile("a/model", "a", "powerful", ("code",), 0, shared))
    there = Candidate(ModelProfile("b/model", "b", "powerful", ("code",), 0, shared))
    other = Candidate(
        ModelProfile(
            "c/rival", "c", "powerful", ("code",), 0, ModelBenchmarks("c", livecodebench=60.0)
        )
    )
    result = select([there, other, here])
    assert result.fallback_order == ["a/model", "b/model", "c/rival"]
    assert result.explanation is not None
    assert result.explanation.runner_up == "c/rival"
    assert result.explanation.benchmark == "livecodebench"


def test_explanation_when_live_state_decides() -> None:
    a = cand("a/busy", humaneval=80.0, headroom=0.05)
    b = cand("b/idle", humaneval=80.0, headroom=1.0)
    result = select([a, b])
    assert result.model == "b/idle"
    why = result.explanation
    assert why is not None
    assert why.decided_by == "headroom"
    assert "budget" in why.summary


def test_explanation_for_a_tie_and_for_a_single_candidate() -> None:
    tie = select([cand("b/x"), cand("a/y")])
    assert tie.explanation is not None
    assert tie.explanation.decided_by == "tie-break"
    assert "name" in tie.explanation.summary
    alone = select([cand("a/only")])
    assert alone.explanation is not None
    assert alone.explanation.decided_by == "only candidate"
    assert alone.explanation.runner_up is None
    assert select([]).explanation is None


def test_explanation_is_in_the_json() -> None:
    data = select([cand("a/ok", humaneval=80.0), cand("b/meh", humaneval=20.0)]).to_dict()
    assert data["explanation"]["runner_up"] == "b/meh"
    assert data["explanation"]["benchmark"] == "humaneval"
    assert data["ranking"][0]["benchmark_parts"][0]["benchmark"] == "humaneval"


# ── prepared catalog: static part once, live state per request ─────────────────────────────────


@dataclass(frozen=True)
class Live:
    healthy: bool = True
    cooled_down_until: float | None = None
    headroom: float = 1.0
    latency_p50_ms: float | None = None
    error_rate: float = 0.0


def _profiles() -> list[ModelProfile]:
    return [
        cand("a/strong", humaneval=90.0).profile,
        cand("b/good", humaneval=80.0).profile,
        cand("c/small", humaneval=50.0, context=4_000).profile,
    ]


def test_prepared_select_matches_select_model() -> None:
    profiles = _profiles()
    prepared = BenchmarkSelector().prepare(profiles)
    fast_path = prepared.select("powerful", "code", now=NOW, required_context=1_000)
    slow_path = select([Candidate(p) for p in profiles])
    assert fast_path.to_dict() == slow_path.to_dict()


def test_prepared_select_applies_live_state_and_unavailability() -> None:
    prepared = BenchmarkSelector().prepare(_profiles())
    sick = prepared.select("powerful", "code", live={"a/strong": Live(healthy=False)}, now=NOW)
    assert sick.model == "b/good"
    assert sick.excluded == (("a/strong", "unhealthy"),)
    gone = prepared.select("powerful", "code", unavailable=frozenset({"a/strong"}), now=NOW)
    assert gone.model == "b/good"
    assert "credentials" in gone.excluded[0][1]
    too_long = prepared.select("powerful", "code", required_context=10_000, now=NOW)
    assert "c/small" not in too_long.fallback_order


def test_unchanged_live_state_reuses_the_decision_and_a_change_recomputes_it() -> None:
    prepared = BenchmarkSelector().prepare(_profiles())
    live = {"a/strong": Live(headroom=0.9)}
    first = prepared.select("powerful", "code", live=live, now=NOW)
    again = prepared.select("powerful", "code", live={"a/strong": Live(headroom=0.9)}, now=NOW)
    assert again is first  # same signature: cached, nothing recomputed
    changed = prepared.select("powerful", "code", live={"a/strong": Live(headroom=0.0)}, now=NOW)
    assert changed is not first
    assert changed.ranking[0].components["headroom"] != first.ranking[0].components["headroom"]


def test_a_cooldown_is_not_served_from_the_cache() -> None:
    prepared = BenchmarkSelector().prepare(_profiles())
    live = {"a/strong": Live(cooled_down_until=NOW + 30)}
    now = prepared.select("powerful", "code", live=live, now=NOW)
    later = prepared.select("powerful", "code", live=live, now=NOW + 20)
    assert "30s left" in dict(now.excluded)["a/strong"]
    assert "10s left" in dict(later.excluded)["a/strong"]
    over = prepared.select("powerful", "code", live=live, now=NOW + 31)
    assert over.model == "a/strong"


def test_the_shared_states_live_record_is_accepted() -> None:
    from annas_gift.state import ModelLiveState

    state = ModelLiveState(
        healthy=False,
        breaker="closed",
        cooled_down_until=None,
        headroom=1.0,
        latency_p50_ms=None,
        error_rate=0.0,
        remaining={},
        last_error=None,
        last_check=None,
    )
    prepared = BenchmarkSelector().prepare(_profiles())
    assert prepared.select("powerful", "code", live={"a/strong": state}, now=NOW).model == "b/good"


def test_prepare_is_reused_for_the_same_profiles() -> None:
    selector = BenchmarkSelector()
    profiles = _profiles()
    assert selector.prepare(profiles) is selector.prepare(profiles)
    assert selector.prepare(profiles) is selector.prepare(list(profiles))
    assert selector.prepare(profiles[:2]) is not selector.prepare(profiles)
