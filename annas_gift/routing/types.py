"""Value types shared by the routing modules: tiers, categories, benchmark scores, model profiles.

Everything here is an immutable value so the selector can be pure and the same inputs always
give the same decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

Tier = Literal["fast", "powerful"]
Category = Literal["code", "math", "knowledge", "reading", "writing", "chat"]
# The seed's four, then the benchmarks models released since 2025 publish instead.
Benchmark = Literal[
    "mmlu",
    "hellaswag",
    "gsm8k",
    "humaneval",
    "mmlu_pro",
    "gpqa_diamond",
    "math_500",
    "aime",
    "livecodebench",
    "swe_bench_verified",
    "ifeval",
    "arena_elo",
]

TIERS: tuple[Tier, ...] = get_args(Tier)
CATEGORIES: tuple[Category, ...] = get_args(Category)
BENCHMARKS: tuple[Benchmark, ...] = get_args(Benchmark)

# Every benchmark is a percentage except the arena rating, an Elo-style number.
ELO_BENCHMARKS: frozenset[Benchmark] = frozenset({"arena_elo"})
ELO_RANGE = (500.0, 2500.0)  # what the data file accepts for an arena rating
# Arena ratings become 0..100 points for blending: 1000 Elo -> 0, 1500 Elo -> 100 (clamped).
ELO_ZERO, ELO_PER_POINT = 1000.0, 5.0


def benchmark_points(benchmark: Benchmark, value: float) -> float:
    """A published value on the common 0..100 scale (percentages as-is, arena Elo mapped)."""
    if benchmark in ELO_BENCHMARKS:
        return min(100.0, max(0.0, (value - ELO_ZERO) / ELO_PER_POINT))
    return value


@dataclass(frozen=True, slots=True)
class ScoreSource:
    """Where one published benchmark number comes from (URL or paper) and when it was published."""

    source: str
    date: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class ModelBenchmarks:
    """Published benchmark scores of a model (percent, arena as Elo); None = unknown."""

    model_id: str
    mmlu: float | None = None
    hellaswag: float | None = None
    gsm8k: float | None = None
    humaneval: float | None = None
    mmlu_pro: float | None = None
    gpqa_diamond: float | None = None
    math_500: float | None = None
    aime: float | None = None
    livecodebench: float | None = None
    swe_bench_verified: float | None = None
    ifeval: float | None = None
    arena_elo: float | None = None
    mmlu_source: ScoreSource | None = None
    hellaswag_source: ScoreSource | None = None
    gsm8k_source: ScoreSource | None = None
    humaneval_source: ScoreSource | None = None
    mmlu_pro_source: ScoreSource | None = None
    gpqa_diamond_source: ScoreSource | None = None
    math_500_source: ScoreSource | None = None
    aime_source: ScoreSource | None = None
    livecodebench_source: ScoreSource | None = None
    swe_bench_verified_source: ScoreSource | None = None
    ifeval_source: ScoreSource | None = None
    arena_elo_source: ScoreSource | None = None
    notes: str = ""

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


@dataclass(frozen=True, slots=True)
class SelectionExplanation:
    """Why the winner won, in terms a student can follow: the deciding benchmark and runner-up.

    `benchmark` is the category benchmark with the largest share of the winner's lead over the
    runner-up (None when the lead is not on benchmarks, e.g. the same model on two providers);
    `decided_by` names what settled it: "benchmark", a live component ("headroom", "cost",
    "latency", "health"), "tier" / "category" (the runner-up was in another group) or
    "tie-break" (equal scores; the documented order settled it).
    """

    category: Category
    decided_by: str
    summary: str
    benchmark: Benchmark | None = None
    benchmark_label: str | None = None
    winner_value: float | None = None  # the winner's number on that benchmark (0..100 points)
    winner_imputed: bool = False  # that number is an estimate, not a published score
    runner_up: str | None = None
    runner_up_score: float | None = None  # the runner-up's total selection score (0..1)
    runner_up_value: float | None = None
    runner_up_imputed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "category": self.category,
            "decided_by": self.decided_by,
            "summary": self.summary,
            "benchmark": self.benchmark,
            "benchmark_label": self.benchmark_label,
            "winner_value": self.winner_value,
            "winner_imputed": self.winner_imputed,
            "runner_up": self.runner_up,
            "runner_up_score": self.runner_up_score,
            "runner_up_value": self.runner_up_value,
            "runner_up_imputed": self.runner_up_imputed,
        }
