"""Property tests: on any candidates the selector never raises, stays in 0..1, is deterministic."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annas_gift.routing.benchmark_selector import BenchmarkSelector, Candidate, SelectionWeights
from annas_gift.routing.types import CATEGORIES, TIERS, ModelBenchmarks, ModelProfile

any_float = st.floats(allow_nan=True, allow_infinity=True)
maybe_float = st.none() | any_float

benchmarks = st.none() | st.builds(
    ModelBenchmarks,
    model_id=st.just("m"),
    mmlu=maybe_float,
    hellaswag=maybe_float,
    gsm8k=maybe_float,
    humaneval=maybe_float,
)

profiles = st.builds(
    ModelProfile,
    name=st.text(alphabet="abcxyz/-", min_size=1, max_size=6),
    provider=st.sampled_from(["groq", "gemini", "ollama"]),
    tier=st.sampled_from(TIERS),
    categories=st.lists(st.sampled_from(CATEGORIES), unique=True).map(tuple),
    context_window=st.integers(min_value=-5, max_value=2_000_000),
    benchmarks=benchmarks,
    input_cost_per_token=maybe_float,
    output_cost_per_token=maybe_float,
)

candidates = st.lists(
    st.builds(
        Candidate,
        profile=profiles,
        available=st.booleans(),
        healthy=st.booleans(),
        cooled_down_until=maybe_float,
        headroom=any_float,
        latency_p50_ms=maybe_float,
        error_rate=any_float,
    ),
    max_size=12,
)

weight = st.floats(min_value=0, max_value=1e6, allow_nan=False)
valid_weights = st.tuples(weight, weight, weight, weight, weight, weight).filter(
    lambda ws: sum(ws) > 0
)

# Lists of up to 12 nested candidates take 10-100 ms each to draw, seconds under load: slow
# generation is expected here (not a strategy bug), so only the too_slow health check is off.
SLOW_DRAWS = [HealthCheck.too_slow]

request = {
    "tier": st.sampled_from(TIERS),
    "category": st.sampled_from(CATEGORIES),
    "required_context": st.integers(min_value=0, max_value=2_000_000),
    "now": st.floats(allow_nan=True, allow_infinity=True),
}


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_DRAWS)
@given(cands=candidates, raw_weights=valid_weights, **request)
def test_never_raises_scores_in_unit_interval_and_accounts_for_everyone(
    cands: list[Candidate],
    raw_weights: tuple[float, ...],
    tier: str,
    category: str,
    required_context: int,
    now: float,
) -> None:
    selector = BenchmarkSelector(SelectionWeights(*raw_weights))
    result = selector.select_model(
        cands,
        tier=tier,  # type: ignore[arg-type]
        category=category,  # type: ignore[arg-type]
        required_context=required_context,
        now=now,
    )
    assert len(result.ranking) + len(result.excluded) == len(cands)
    for ranked in result.ranking:
        assert 0.0 <= ranked.score <= 1.0
        assert all(0.0 <= v <= 1.0 for v in ranked.components.values())
        assert ranked.benchmark_score is None or 0.0 <= ranked.benchmark_score <= 100.0
    assert result.model == (result.ranking[0].name if result.ranking else None)
    # Requested tier first; within a tier, models listing the category first; then by score.
    keys = [(r.tier != tier, not r.in_category, -r.score) for r in result.ranking]
    assert keys == sorted(keys)
    assert isinstance(result.to_dict(), dict)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_DRAWS)
@given(cands=candidates, seed=st.integers(), **request)
def test_deterministic_and_independent_of_input_order(
    cands: list[Candidate],
    seed: int,
    tier: str,
    category: str,
    required_context: int,
    now: float,
) -> None:
    selector = BenchmarkSelector()
    kwargs = {
        "tier": tier,
        "category": category,
        "required_context": required_context,
        "now": now,
    }
    first = selector.select_model(cands, **kwargs)  # type: ignore[arg-type]
    again = selector.select_model(cands, **kwargs)  # type: ignore[arg-type]
    assert first.to_dict() == again.to_dict()  # every number is clamped, so no NaN to compare
    shuffled = list(cands)
    random.Random(seed).shuffle(shuffled)
    other = selector.select_model(shuffled, **kwargs)  # type: ignore[arg-type]
    assert other.fallback_order == first.fallback_order
    assert other.model == first.model
    assert sorted(other.excluded) == sorted(first.excluded)


ALLOWED_DECIDERS = {
    "benchmark",
    "category",
    "tier",
    "headroom",
    "cost",
    "latency",
    "health",
    "tie-break",
    "only candidate",
}


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_DRAWS)
@given(cands=candidates, **request)
def test_explanation_is_about_the_ranking(
    cands: list[Candidate], tier: str, category: str, required_context: int, now: float
) -> None:
    result = BenchmarkSelector().select_model(
        cands,
        tier=tier,  # type: ignore[arg-type]
        category=category,  # type: ignore[arg-type]
        required_context=required_context,
        now=now,
    )
    why = result.explanation
    if not result.ranking:
        assert why is None
        return
    assert why is not None
    assert why.decided_by in ALLOWED_DECIDERS
    assert why.summary
    if len(result.ranking) > 1:
        assert why.runner_up in result.fallback_order[1:]
    if why.benchmark is not None:
        assert why.winner_value is None or 0.0 <= why.winner_value <= 100.0


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_DRAWS)
@given(cands=candidates, **request)
def test_prepared_select_by_name_equals_select_model(
    cands: list[Candidate], tier: str, category: str, required_context: int, now: float
) -> None:
    unique = list({c.name: c for c in cands}.values())  # by-name live state needs unique names
    selector = BenchmarkSelector()
    kwargs = {"tier": tier, "category": category, "required_context": required_context, "now": now}
    slow = selector.select_model(unique, **kwargs)  # type: ignore[arg-type]
    prepared = BenchmarkSelector().prepare([c.profile for c in unique])
    fast = prepared.select(
        live={c.name: c for c in unique},
        unavailable=frozenset(c.name for c in unique if not c.available),
        **kwargs,  # type: ignore[arg-type]
    )
    assert fast.to_dict() == slow.to_dict()
    again = prepared.select(
        live={c.name: c for c in unique},
        unavailable=frozenset(c.name for c in unique if not c.available),
        **kwargs,  # type: ignore[arg-type]
    )
    assert again.to_dict() == fast.to_dict()  # a cache hit returns the same decision
