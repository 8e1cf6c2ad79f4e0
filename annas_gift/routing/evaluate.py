"""`annas-gift eval-classifier`: the learned classifier beside its baselines, on unseen data.

Data (data/routing/ in the repository, or --data-dir):
* the validation fifth of the training corpus (routing/corpus.py: whole templates, groups or
  prompts held out): MATH and ARC tier AUCs, category accuracy per source, tier balanced
  accuracy;
* RouteLLM's GSM8K-test and MMLU-test prompts with Mixtral / GPT-4 correctness: the
  performance gap recovered when the top-scoring 20/35/50% go to the strong model, and
  category accuracy on two benchmarks' own questions (GSM8K: math, MMLU: knowledge);
* two benchmarks' own prompts, category accuracy only: MT-Bench first turns (eight kinds of
  request) and HumanEval (164 Python functions to complete, all `code`).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from annas_gift.routing.baselines import (
    System,
    Verdict,
    learned_system,
    legacy_system,
    length_system,
    litellm_system,
)
from annas_gift.routing.corpus import (
    CorpusRow,
    RoutingDataMissingError,
    default_data_dir,
    load_corpus,
    read_jsonl,
)
from annas_gift.routing.metrics import balanced_accuracy, performance_gap_recovered, roc_auc
from annas_gift.routing.types import Category

__all__ = [
    "ROUTELLM_FILE",
    "STRONG_SHARES",
    "EvalReport",
    "RoutingDataMissingError",
    "SystemResult",
    "default_systems",
    "evaluate",
    "format_report",
]

ROUTELLM_FILE = "routellm_gsm8k_mmlu.jsonl.gz"
MT_BENCH_FILE = "mt_bench_questions.jsonl.gz"
HUMANEVAL_FILE = "humaneval_prompts.jsonl.gz"
STRONG_SHARES = (0.20, 0.35, 0.50)
# The RouteLLM file's two benchmarks, as the report names them (its rows say "gsm8k" or
# "mmlu:<subject>").
GSM8K_TEST = "GSM8K test"
MMLU_TEST = "MMLU test"
# The benchmarks whose prompts are scored for their category alone, as the report names them.
MT_BENCH = "MT-Bench first turns"
HUMANEVAL = "HumanEval prompts"

# MT-Bench category -> ours (reasoning questions are logic puzzles and word problems: math).
MT_BENCH_CATEGORIES: dict[str, Category] = {
    "coding": "code",
    "math": "math",
    "reasoning": "math",
    "extraction": "reading",
    "writing": "writing",
    "roleplay": "writing",
    "stem": "knowledge",
    "humanities": "knowledge",
}


@dataclass(frozen=True, slots=True)
class RouteLlmRow:
    """A RouteLLM prompt and whether each model answered it correctly."""

    prompt: str
    weak_correct: bool
    strong_correct: bool
    benchmark: str  # GSM8K_TEST or MMLU_TEST

    @property
    def category(self) -> Category:
        """The benchmark's own category. MMLU's mathematics subjects count as knowledge too:
        the row measures whether exam questions read as knowledge, not a per-subject call."""
        return "math" if self.benchmark == GSM8K_TEST else "knowledge"


@dataclass(slots=True)
class SystemResult:
    """Every metric for one system (None where it does not apply or the data has no case)."""

    name: str
    math_auc: float | None = None  # MATH level 1-2 vs 4-5
    math_auc_extremes: float | None = None  # MATH level 1 vs 5
    arc_auc: float | None = None
    category_by_source: dict[str, float] = field(default_factory=dict)
    category_overall: float | None = None
    # MT_BENCH and HUMANEVAL: the share of the benchmark's prompts read as their category.
    category_benchmarks: dict[str, float] = field(default_factory=dict)
    # RouteLLM's benchmarks: their share with the benchmark's category, and where the rest went.
    category_routellm: dict[str, float] = field(default_factory=dict)
    routellm_misses: dict[str, dict[str, float]] = field(default_factory=dict)
    tier_balanced: float | None = None  # all validation rows with a tier label
    tier_balanced_difficulty: float | None = None  # source difficulty labels only
    pgr: dict[float, float] = field(default_factory=dict)
    # The same within each benchmark of the file alone (GSM8K test, MMLU test).
    pgr_by_benchmark: dict[str, dict[float, float]] = field(default_factory=dict)
    median_us: float = 0.0


@dataclass(frozen=True, slots=True)
class EvalReport:
    """What `format_report` prints."""

    data_dir: str
    validation_rows: int
    routellm_rows: int
    systems: tuple[SystemResult, ...]
    # Each category-only benchmark (MT_BENCH, HUMANEVAL) and how many prompts it has.
    benchmark_rows: dict[str, int] = field(default_factory=dict)


def _auc(scores: list[float], labels: list[bool]) -> float | None:
    try:
        return roc_auc(scores, labels)
    except ValueError:
        return None


def _length_threshold(train: Sequence[CorpusRow]) -> float:
    """The word count that best separates powerful from fast on the TRAINING split."""
    pairs = sorted((len(r.prompt.split()), r.tier == "powerful") for r in train if r.tier)
    labels = [p for _, p in pairs]
    best, best_t = -1.0, 1.0
    for t in sorted({w for w, _ in pairs}):
        try:
            score = balanced_accuracy([w >= t for w, _ in pairs], labels)
        except ValueError:
            return 1.0
        if score > best:
            best, best_t = score, float(t)
    return best_t


def default_systems(train: Sequence[CorpusRow]) -> list[System]:
    """Length alone, LiteLLM's router, the previous classifier and the learned one."""
    return [
        length_system(_length_threshold(train)),
        litellm_system(),
        legacy_system(),
        learned_system(),
    ]


def _timed(system: System, prompt: str, times: list[int]) -> Verdict:
    start = time.perf_counter_ns()
    verdict = system.classify(prompt)
    times.append(time.perf_counter_ns() - start)
    return verdict


def _evaluate_system(
    system: System,
    validation: Sequence[CorpusRow],
    routellm: Sequence[RouteLlmRow],
    benchmarks: Mapping[str, Sequence[tuple[str, Category]]],
) -> SystemResult:
    result = SystemResult(system.name)
    times: list[int] = []
    verdicts = [_timed(system, r.prompt, times) for r in validation]
    math = [
        (v.score, r.difficulty)
        for r, v in zip(validation, verdicts, strict=True)
        if r.source == "hendrycks_math"
    ]
    low, high = ("Level 1", "Level 2"), ("Level 4", "Level 5")
    picked = [(s, d in high) for s, d in math if d in low + high]
    result.math_auc = _auc([s for s, _ in picked], [y for _, y in picked])
    ends = [(s, d == "Level 5") for s, d in math if d in ("Level 1", "Level 5")]
    result.math_auc_extremes = _auc([s for s, _ in ends], [y for _, y in ends])
    arc = [
        (v.score, r.tier == "powerful")
        for r, v in zip(validation, verdicts, strict=True)
        if r.source in ("arc_easy", "arc_challenge")
    ]
    result.arc_auc = _auc([s for s, _ in arc], [y for _, y in arc])
    tiered = [
        (v.powerful, r.tier == "powerful", r.tier_kind)
        for r, v in zip(validation, verdicts, strict=True)
        if r.tier
    ]
    try:
        result.tier_balanced = balanced_accuracy(
            [p for p, _, _ in tiered], [y for _, y, _ in tiered]
        )
        hard = [(p, y) for p, y, kind in tiered if kind == "difficulty"]
        result.tier_balanced_difficulty = balanced_accuracy(
            [p for p, _ in hard], [y for _, y in hard]
        )
    except ValueError:
        pass
    if system.has_category:
        by_source: dict[str, list[bool]] = {}
        for r, v in zip(validation, verdicts, strict=True):
            by_source.setdefault(r.family, []).append(v.category == r.category)
        result.category_by_source = {s: sum(h) / len(h) for s, h in sorted(by_source.items())}
        hits = [h for hs in by_source.values() for h in hs]
        result.category_overall = sum(hits) / len(hits) if hits else None
        for name, prompts in benchmarks.items():
            if prompts:
                correct = [system.classify(p).category == c for p, c in prompts]
                result.category_benchmarks[name] = sum(correct) / len(correct)
    if routellm:
        routed = [_timed(system, r.prompt, times) for r in routellm]
        scores = [v.score for v in routed]
        if system.has_category:
            _routellm_categories(result, routellm, routed)
        result.pgr = _pgr(scores, routellm)
        for benchmark in sorted({r.benchmark for r in routellm}):
            members = [i for i, r in enumerate(routellm) if r.benchmark == benchmark]
            result.pgr_by_benchmark[benchmark] = _pgr(
                [scores[i] for i in members], [routellm[i] for i in members]
            )
    result.median_us = statistics.median(times) / 1000 if times else 0.0
    return result


def _pgr(scores: Sequence[float], rows: Sequence[RouteLlmRow]) -> dict[float, float]:
    """PGR at every STRONG_SHARES share; empty where the two models are equally accurate."""
    weak = [r.weak_correct for r in rows]
    strong = [r.strong_correct for r in rows]
    try:
        return {
            share: performance_gap_recovered(scores, weak, strong, share) for share in STRONG_SHARES
        }
    except ValueError:
        return {}


def _routellm_categories(
    result: SystemResult, routellm: Sequence[RouteLlmRow], verdicts: Sequence[Verdict]
) -> None:
    """Per benchmark of the RouteLLM file: the share classified as its category, and the
    shares of the categories the others went to."""
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    misses: dict[str, Counter[str]] = {}
    for r, v in zip(routellm, verdicts, strict=True):
        totals[r.benchmark] += 1
        if v.category == r.category:
            hits[r.benchmark] += 1
        else:
            misses.setdefault(r.benchmark, Counter())[str(v.category)] += 1
    for benchmark, n in sorted(totals.items()):
        result.category_routellm[benchmark] = hits[benchmark] / n
        result.routellm_misses[benchmark] = {
            c: k / n for c, k in sorted(misses.get(benchmark, Counter()).items())
        }


def evaluate(
    data_dir: Path | None = None,
    systems: Sequence[System] | None = None,
    limit_per_source: int | None = None,
) -> EvalReport:
    """Run every system on the validation split, RouteLLM, MT-Bench and HumanEval in data_dir."""
    data_dir = data_dir if data_dir is not None else default_data_dir()
    corpus = load_corpus(data_dir)
    validation = [r for r in corpus if r.validation]
    if limit_per_source is not None:
        seen: dict[str, int] = {}
        kept = []
        for r in validation:
            seen[r.family] = seen.get(r.family, 0) + 1
            if seen[r.family] <= limit_per_source:
                kept.append(r)
        validation = kept
    routellm = [
        RouteLlmRow(
            str(row["prompt"]),
            bool(row["weak_correct"]),
            bool(row["strong_correct"]),
            GSM8K_TEST if row["source"] == "gsm8k" else MMLU_TEST,
        )
        for row in read_jsonl(data_dir / ROUTELLM_FILE)
    ]
    if limit_per_source is not None:
        routellm = routellm[: limit_per_source * 10]
    mt_bench = [
        (str(row["turns"][0]), MT_BENCH_CATEGORIES[str(row["category"])])  # type: ignore[index]
        for row in read_jsonl(data_dir / MT_BENCH_FILE)
        if str(row["category"]) in MT_BENCH_CATEGORIES
    ]
    humaneval: list[tuple[str, Category]] = [
        (str(row["prompt"]), "code") for row in read_jsonl(data_dir / HUMANEVAL_FILE)
    ]
    benchmarks = {MT_BENCH: mt_bench, HUMANEVAL: humaneval}
    sizes = {name: len(prompts) for name, prompts in benchmarks.items()}
    if systems is None:
        systems = default_systems([r for r in corpus if not r.validation])
    results = tuple(_evaluate_system(s, validation, routellm, benchmarks) for s in systems)
    return EvalReport(str(data_dir), len(validation), len(routellm), results, sizes)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _shares(pgr: dict[float, float]) -> str:
    """ "0.271 / 0.438 / 0.559": PGR at each STRONG_SHARES share."""
    if not pgr:
        return "n/a"
    return " / ".join(_fmt(pgr.get(share)) for share in STRONG_SHARES)


def _with_misses(result: SystemResult, benchmark: str) -> str:
    """ "0.676 (reading 0.255, math 0.067)": the accuracy, then the misses' largest shares."""
    accuracy = result.category_routellm.get(benchmark)
    if accuracy is None:
        return "n/a"
    misses = sorted(result.routellm_misses[benchmark].items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{c} {share:.3f}" for c, share in misses[:2] if share >= 0.0005)
    return f"{accuracy:.3f} ({shown})" if shown else f"{accuracy:.3f}"


def format_report(report: EvalReport, today: date | None = None) -> str:
    """The report as one markdown table: a row per metric, a column per system."""
    systems = report.systems
    rows: list[tuple[str, list[str]]] = [
        ("tier AUC: MATH level 1-2 vs 4-5", [_fmt(s.math_auc) for s in systems]),
        ("tier AUC: MATH level 1 vs 5", [_fmt(s.math_auc_extremes) for s in systems]),
        ("tier AUC: ARC-Easy vs ARC-Challenge", [_fmt(s.arc_auc) for s in systems]),
        ("tier balanced accuracy (all tier labels)", [_fmt(s.tier_balanced) for s in systems]),
        (
            "tier balanced accuracy (difficulty labels only)",
            [_fmt(s.tier_balanced_difficulty) for s in systems],
        ),
    ]
    for share in STRONG_SHARES:
        rows.append(
            (
                f"RouteLLM PGR at {share:.0%} strong (random: {share:.2f})",
                [_fmt(s.pgr.get(share)) for s in systems],
            )
        )
    for benchmark in sorted({b for s in systems for b in s.pgr_by_benchmark}):
        shares = " / ".join(f"{share:.0%}" for share in STRONG_SHARES)
        rows.append(
            (
                f"RouteLLM PGR at {shares}, {benchmark} alone",
                [_shares(s.pgr_by_benchmark.get(benchmark, {})) for s in systems],
            )
        )
    rows.append(("category accuracy, overall", [_fmt(s.category_overall) for s in systems]))
    sources = sorted({src for s in systems for src in s.category_by_source})
    rows.append(
        (
            "category accuracy, worst source",
            [_fmt(min(s.category_by_source.values(), default=None)) for s in systems],
        )
    )
    for src in sources:
        rows.append(
            (f"category accuracy: {src}", [_fmt(s.category_by_source.get(src)) for s in systems])
        )
    for name, size in report.benchmark_rows.items():
        rows.append(
            (
                f"category accuracy: {name} ({size})",
                [_fmt(s.category_benchmarks.get(name)) for s in systems],
            )
        )
    for benchmark in sorted({b for s in systems for b in s.category_routellm}):
        rows.append(
            (
                f"category accuracy: {benchmark} (RouteLLM file; misses by category)",
                [_with_misses(s, benchmark) for s in systems],
            )
        )
    rows.append(("median µs per prompt", [f"{s.median_us:.1f}" for s in systems]))
    day = (today or date.today()).isoformat()
    lines = [
        f"Classifier evaluation, {day}: {report.validation_rows} validation prompts (never "
        f"trained on), {report.routellm_rows} RouteLLM prompts.",
        "",
        "| metric | " + " | ".join(s.name for s in systems) + " |",
        "|---|" + "---:|" * len(systems),
    ]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows]
    lines += ["", f"Data: {report.data_dir}"]
    return "\n".join(lines)
