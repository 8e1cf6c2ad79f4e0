"""Speed of `AutoRouter.plan` on the shipped 16-model catalog (pytest-benchmark: these report
the time and check that the plan is right, they do not assert a time)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from annas_gift.catalog.registry import Catalog
from annas_gift.core.types import ChatInput
from annas_gift.services.auto_routing import AutoRouter
from annas_gift.state import ModelLiveState

CONFIG = Path(__file__).resolve().parents[2] / "litellm_config.yaml"
NOW = 1_700_000_000.0
TYPICAL = "Prove that there are infinitely many primes of the form 4k + 3."


@cache
def catalog() -> Catalog:
    return Catalog.from_yaml(CONFIG, price=False)


def all_keys() -> dict[str, str]:
    return {name: "set" for m in catalog().all() for name in m.required_env}


def live(**changes: Any) -> dict[str, ModelLiveState]:
    base = {
        "healthy": True,
        "breaker": "closed",
        "cooled_down_until": None,
        "headroom": 0.9,
        "latency_p50_ms": 420.0,
        "error_rate": 0.0,
        "remaining": {},
        "last_error": None,
        "last_check": None,
    }
    return {m.name: ModelLiveState(**{**base, **changes}) for m in catalog().all()}


def test_bench_plan_with_unchanged_live_state(benchmark: Any) -> None:
    # The request path: classify, then the cached ranking for this tier, category and state.
    router = AutoRouter(env=all_keys(), clock=lambda: NOW)
    inp = ChatInput(model="auto", messages=[{"role": "user", "content": TYPICAL}])
    state = live()

    plan = benchmark.pedantic(
        lambda: router.plan(inp, catalog(), state), rounds=2000, iterations=5, warmup_rounds=50
    )
    assert plan.tier == "powerful"
    assert plan.category == "math"
    assert plan.models[0].tier == "powerful"
    assert len(plan.models) == len([m for m in catalog().all() if m.mode == "chat"])


def test_bench_plan_without_live_state(benchmark: Any) -> None:
    # No shared state backend (a single instance without Redis): one decision per shape.
    router = AutoRouter(env=all_keys(), clock=lambda: NOW)
    inp = ChatInput(model="auto", messages=[{"role": "user", "content": "Count to five."}])

    plan = benchmark.pedantic(
        lambda: router.plan(inp, catalog(), None), rounds=2000, iterations=5, warmup_rounds=50
    )
    assert plan.tier == "fast"
    assert plan.models[0].tier == "fast"
