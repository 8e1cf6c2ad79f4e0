"""Speed of the selector on the shipped 16-model catalog (benchmarks: they report, and check
only that the answer is right, not a time)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from annas_gift.catalog.registry import Catalog
from annas_gift.routing.benchmark_selector import BenchmarkSelector, PreparedCatalog
from annas_gift.routing.types import ModelProfile
from annas_gift.services.auto_routing import profile_of

CONFIG = Path(__file__).resolve().parents[2] / "litellm_config.yaml"
NOW = 1_700_000_000.0


@dataclass(frozen=True)
class Live:
    healthy: bool = True
    cooled_down_until: float | None = None
    headroom: float = 1.0
    latency_p50_ms: float | None = 250.0
    error_rate: float = 0.0


@cache
def profiles() -> tuple[ModelProfile, ...]:
    return tuple(
        profile_of(m) for m in Catalog.from_yaml(CONFIG, price=False).all() if m.mode == "chat"
    )


def prepared() -> PreparedCatalog:
    return BenchmarkSelector().prepare(profiles())


def test_bench_select_with_unchanged_live_state(benchmark: Any) -> None:
    # The request path: every model reported by the shared state, nothing changed since the
    # previous request, so the decision comes from the cache after one signature pass.
    table = prepared()
    live = {p.name: Live() for p in profiles()}
    unavailable: frozenset[str] = frozenset()

    def select() -> Any:
        return table.select(
            "fast", "code", live=live, unavailable=unavailable, required_context=900, now=NOW
        )

    result = benchmark.pedantic(select, rounds=2000, iterations=10, warmup_rounds=50)
    assert result.model == "groq/gpt-oss-20b"


def test_bench_select_when_live_state_changes(benchmark: Any) -> None:
    # A model cooling down bypasses the cache (its reason shows the seconds left): the full
    # ranking is recomputed from the precomputed static part on every call.
    table = prepared()
    live = {p.name: Live() for p in profiles()}
    live["groq/gpt-oss-20b"] = Live(cooled_down_until=NOW + 30)

    def select() -> Any:
        return table.select("fast", "code", live=live, required_context=900, now=NOW)

    result = benchmark.pedantic(select, rounds=300, iterations=10, warmup_rounds=20)
    assert result.model != "groq/gpt-oss-20b"


def test_bench_prepare_catalog(benchmark: Any) -> None:
    # Once per catalog (start-up or catalog reload), not per request.
    result = benchmark.pedantic(
        lambda: PreparedCatalog(profiles(), BenchmarkSelector().weights),
        rounds=20,
        iterations=1,
        warmup_rounds=2,
    )
    assert len(result.names) == 16
