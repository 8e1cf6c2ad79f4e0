"""Evaluate the task classifier on the public routing data (RouteLLM GSM8K/MMLU, MT-Bench).

Two questions, answered separately:

* Tier score: ROC AUC of `score` for "only the strong model was right" (positive) against
  "both models were right" (negative), on GSM8K, on MMLU and overall. The classifier's lexicon
  and weights were trained on a fixed 75% of these prompts; the headline numbers are on the
  other 25% (`is_held_out`), with the training-split AUC beside them to show the gap.
* Category: accuracy on the 80 MT-Bench first turns, through `MT_BENCH_CATEGORIES`.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from annas_gift.routing.task_classifier import DEFAULT_MODEL, ClassifierModel, classify_task
from annas_gift.routing.types import CATEGORIES, Category

DATA_ENV = "ANNAS_GIFT_ROUTING_DATA"
ROUTELLM_FILE = "routellm_gsm8k_mmlu.jsonl"
MT_BENCH_FILE = "mt_bench_questions.jsonl"

# MT-Bench category -> ours. Reasoning questions are logic puzzles and word problems (positions
# in a race, family relations, syllogisms): the skill math benchmarks measure, so "math" (which
# here means math and formal reasoning) and the selector picks a model strong at GSM8K.
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

MISSING_DATA_HELP = (
    "Routing evaluation data not found in {path}. Point {env} (or --data-dir) at a folder with "
    f"{ROUTELLM_FILE} and {MT_BENCH_FILE}. They are built from the RouteLLM project "
    "(github.com/lm-sys/RouteLLM, Apache-2.0): routellm/evals/gsm8k/gsm8k_responses.csv, "
    "routellm/evals/mmlu/responses/*.csv and routellm/evals/mt_bench/question.jsonl; the format "
    "is described in ../shared/data/routing/README.md of the project workspace."
)


class RoutingDataMissingError(FileNotFoundError):
    """The routing evaluation data is not where it was looked for."""


class LabelledPrompt(NamedTuple):
    """One RouteLLM prompt with both models' correctness."""

    prompt: str
    source: str
    weak_correct: bool
    strong_correct: bool

    @property
    def benchmark(self) -> str:
        """'gsm8k' or 'mmlu' (without the MMLU subject)."""
        return self.source.split(":", 1)[0]


class MtBenchQuestion(NamedTuple):
    """One MT-Bench question."""

    question_id: int
    category: str
    turns: tuple[str, ...]


def default_data_dir() -> Path:
    """$ANNAS_GIFT_ROUTING_DATA, else ../shared/data/routing next to the repository root."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "data" / "routing"


def is_held_out(prompt: str) -> bool:
    """The fixed evaluation split: a stable hash of the prompt puts 25% of prompts here."""
    return zlib.crc32(prompt.encode("utf-8")) % 4 == 0


def _require(path: Path) -> Path:
    if not path.is_file():
        raise RoutingDataMissingError(MISSING_DATA_HELP.format(path=path.parent, env=DATA_ENV))
    return path


def load_routellm(data_dir: Path) -> Iterator[LabelledPrompt]:
    """Read routellm_gsm8k_mmlu.jsonl."""
    with _require(data_dir / ROUTELLM_FILE).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                yield LabelledPrompt(
                    str(row["prompt"]),
                    str(row["source"]),
                    bool(row["weak_correct"]),
                    bool(row["strong_correct"]),
                )


def load_mt_bench(data_dir: Path) -> Iterator[MtBenchQuestion]:
    """Read mt_bench_questions.jsonl."""
    with _require(data_dir / MT_BENCH_FILE).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                turns = tuple(str(t) for t in row["turns"])
                yield MtBenchQuestion(int(row["question_id"]), str(row["category"]), turns)


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC by the Mann-Whitney rank sum; tied scores share their average rank."""
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    n_pos = sum(1 for label in labels if label)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs at least one positive and one negative")
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum += average_rank * sum(1 for k in order[i : j + 1] if labels[k])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@dataclass(frozen=True, slots=True)
class AucRow:
    """AUC of the tier score on one slice of the GSM8K/MMLU data."""

    name: str
    positives: int
    negatives: int
    auc: float | None
    train_auc: float | None
    powerful_share: float


@dataclass(frozen=True, slots=True)
class CategoryRow:
    """MT-Bench category accuracy for one MT-Bench category."""

    mt_category: str
    expected: Category
    total: int
    correct: int
    predicted: dict[Category, int]
    powerful: int

    @property
    def accuracy(self) -> float:
        """Share of questions given the expected category."""
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Everything `format_report` prints."""

    data_dir: str
    threshold: float
    auc_rows: tuple[AucRow, ...]
    category_rows: tuple[CategoryRow, ...]

    @property
    def category_accuracy(self) -> float:
        """Overall MT-Bench category accuracy."""
        total = sum(r.total for r in self.category_rows)
        return sum(r.correct for r in self.category_rows) / total if total else 0.0

    @property
    def confusion(self) -> dict[Category, dict[Category, int]]:
        """Expected category -> predicted category -> count, over MT-Bench."""
        out: dict[Category, dict[Category, int]] = {
            c: dict.fromkeys(CATEGORIES, 0) for c in CATEGORIES
        }
        for row in self.category_rows:
            for cat, n in row.predicted.items():
                out[row.expected][cat] += n
        return out


def _auc_or_none(scores: list[float], labels: list[bool]) -> float | None:
    try:
        return roc_auc(scores, labels)
    except ValueError:
        return None


def evaluate(data_dir: Path | None = None, model: ClassifierModel = DEFAULT_MODEL) -> EvalReport:
    """Score the classifier on the routing data in data_dir (default: `default_data_dir()`)."""
    data_dir = data_dir if data_dir is not None else default_data_dir()
    # slice -> split -> (scores, labels, powerful decisions)
    slices: dict[str, dict[bool, tuple[list[float], list[bool], list[bool]]]] = {
        name: {True: ([], [], []), False: ([], [], [])} for name in ("gsm8k", "mmlu", "overall")
    }
    for row in load_routellm(data_dir):
        if not row.strong_correct:
            continue  # neither "only strong right" nor "both right": not part of the question
        result = classify_task([{"role": "user", "content": row.prompt}], model)
        held_out = is_held_out(row.prompt)
        for name in (row.benchmark, "overall"):
            if name in slices:
                scores, labels, powerful = slices[name][held_out]
                scores.append(result.score)
                labels.append(not row.weak_correct)
                powerful.append(result.tier == "powerful")
    auc_rows = []
    for name, split in slices.items():
        scores, labels, powerful = split[True]
        auc_rows.append(
            AucRow(
                name,
                sum(labels),
                len(labels) - sum(labels),
                _auc_or_none(scores, labels),
                _auc_or_none(*split[False][:2]),
                sum(powerful) / len(powerful) if powerful else 0.0,
            )
        )
    grouped: dict[str, list[tuple[Category, bool]]] = {}
    for q in load_mt_bench(data_dir):
        if q.category in MT_BENCH_CATEGORIES and q.turns:
            result = classify_task([{"role": "user", "content": q.turns[0]}], model)
            grouped.setdefault(q.category, []).append((result.category, result.tier == "powerful"))
    category_rows = []
    for mt_category, results in grouped.items():
        expected = MT_BENCH_CATEGORIES[mt_category]
        predicted = dict.fromkeys(CATEGORIES, 0)
        for cat, _ in results:
            predicted[cat] += 1
        category_rows.append(
            CategoryRow(
                mt_category,
                expected,
                len(results),
                predicted[expected],
                predicted,
                sum(1 for _, p in results if p),
            )
        )
    return EvalReport(str(data_dir), model.threshold, tuple(auc_rows), tuple(category_rows))


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def format_report(report: EvalReport) -> str:
    """The report as markdown tables."""
    lines = [
        "### Tier score: ROC AUC, only-strong-right (+) vs both-right (-)",
        "",
        "| slice | n+ | n- | AUC held-out | AUC train split (in-sample) "
        "| routed powerful (held-out) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report.auc_rows:
        lines.append(
            f"| {r.name} | {r.positives} | {r.negatives} | {_fmt(r.auc)} | {_fmt(r.train_auc)} "
            f"| {r.powerful_share:.1%} |"
        )
    lines += [
        "",
        f"Held-out = prompts with crc32(prompt) % 4 == 0 (never trained on); the train split "
        f"was seen in training, so its AUC is optimistic. Threshold {report.threshold:.2f}.",
        "",
        "### Category accuracy on MT-Bench (first turn)",
        "",
        "| MT-Bench category | expected | correct | accuracy | predicted | routed powerful |",
        "|---|---|---:|---:|---|---:|",
    ]
    for c in report.category_rows:
        spread = ", ".join(f"{k} {v}" for k, v in c.predicted.items() if v)
        lines.append(
            f"| {c.mt_category} | {c.expected} | {c.correct}/{c.total} | {c.accuracy:.0%} "
            f"| {spread} | {c.powerful}/{c.total} |"
        )
    total = sum(c.total for c in report.category_rows)
    correct = sum(c.correct for c in report.category_rows)
    lines.append(f"| **overall** | | {correct}/{total} | {report.category_accuracy:.0%} | | |")
    lines += [
        "",
        "### Confusion (rows: expected, columns: predicted)",
        "",
        "| expected \\ predicted | " + " | ".join(CATEGORIES) + " |",
        "|---|" + "---:|" * len(CATEGORIES),
    ]
    for expected, row in report.confusion.items():
        if any(row.values()):
            lines.append(f"| {expected} | " + " | ".join(str(row[c]) for c in CATEGORIES) + " |")
    lines += ["", f"Data: {report.data_dir}"]
    return "\n".join(lines)
