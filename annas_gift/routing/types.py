"""Value types shared by the routing modules: tiers, categories, benchmark scores, model profiles.

Everything here is an immutable value so the selector can be pure and the same inputs always
give the same decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Tier = Literal["fast", "powerful"]
Category = Literal["code", "math", "knowledge", "reading", "writing", "chat"]
Benchmark = Literal["mmlu", "hellaswag", "gsm8k", "humaneval"]

TIERS: tuple[Tier, ...] = get_args(Tier)
CATEGORIES: tuple[Category, ...] = get_args(Category)
BENCHMARKS: tuple[Benchmark, ...] = get_args(Benchmark)


@dataclass(frozen=True, slots=True)
class ScoreSource:
    """Where one published benchmark number comes from (URL or paper) and when it was published."""

    source: str
    date: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class ModelBenchmarks:
    """Published MMLU, HellaSwag, GSM8K, HumanEval scores (0..100) of a model; None = unknown."""

    model_id: str
    mmlu: float | None = None
    hellaswag: float | None = None
    gsm8k: float | None = None
    humaneval: float | None = None
    mmlu_source: ScoreSource | None = None
    hellaswag_source: ScoreSource | None = None
    gsm8k_source: ScoreSource | None = None
    humaneval_source: ScoreSource | None = None

    def score(self, benchmark: Benchmark) -> float | None:
        """The score for one benchmark, or None when no published number is known."""
        value: float | None = getattr(self, benchmark)
        return value

    def source(self, benchmark: Benchmark) -> ScoreSource | None:
        """Where the score for one benchmark comes from (None when the score is unknown)."""
        value: ScoreSource | None = getattr(self, f"{benchmark}_source")
        return value

    def known(self) -> dict[Benchmark, float]:
        """The benchmarks that have a published score."""
        return {b: s for b in BENCHMARKS if (s := self.score(b)) is not None}


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What the router knows about a catalog model before looking at live state."""

    name: str
    provider: str
    tier: Tier
    categories: tuple[Category, ...] = ()
    context_window: int = 0
    benchmarks: ModelBenchmarks | None = None
    # None = price unknown (neutral for selection); 0.0 = free.
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
