"""Evaluation: ROC AUC against known answers, the report on a tiny synthetic data set."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from annas_gift.routing.evaluate import (
    DATA_ENV,
    MT_BENCH_CATEGORIES,
    RoutingDataMissingError,
    default_data_dir,
    evaluate,
    format_report,
    is_held_out,
    roc_auc,
)
from annas_gift.routing.task_classifier import FACTOR_NAMES, ClassifierModel


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [False, False, True, True], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [False, False, True, True], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [True, False, True, False], 0.5),
        # Pairs (pos, neg): (.8,.5)=1 (.8,.2)=1 (.5,.5)=0.5 (.5,.2)=1 -> 3.5 / 4.
        ([0.8, 0.5, 0.5, 0.2], [True, True, False, False], 0.875),
        ([3, 1, 2], [True, False, False], 1.0),
        ([1, 3, 2, 2], [False, True, True, False], 0.875),
    ],
)
def test_roc_auc_known_answers(scores: list[float], labels: list[bool], expected: float) -> None:
    assert roc_auc(scores, labels) == pytest.approx(expected)


def test_roc_auc_matches_pair_counting() -> None:
    scores = [0.3, 0.1, 0.3, 0.7, 0.5, 0.5, 0.9, 0.1, 0.3]
    labels = [True, False, False, True, True, False, False, True, True]
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for (p, lp), (n, ln) in itertools.product(zip(scores, labels, strict=True), repeat=2)
        if lp and not ln
    ]
    assert roc_auc(scores, labels) == pytest.approx(sum(pairs) / len(pairs))


def test_roc_auc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="positive and one negative"):
        roc_auc([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="length"):
        roc_auc([0.1], [True, False])


def test_held_out_split_is_stable_and_about_a_quarter() -> None:
    prompts = [f"question number {i}" for i in range(4000)]
    share = sum(map(is_held_out, prompts)) / len(prompts)
    assert 0.22 < share < 0.28
    assert [is_held_out(p) for p in prompts[:50]] == [is_held_out(p) for p in prompts[:50]]


def _quantities_model() -> ClassifierModel:
    """A model whose score depends on the number of quantities alone, for known answers."""
    weights = tuple(4.0 if n == "quantities" else 0.0 for n in FACTOR_NAMES)
    return ClassifierModel(tier_bias=-2.0, tier_weights=weights, threshold=0.5)


def _prompt(n_numbers: int, held_out: bool) -> str:
    """A prompt with exactly n numbers that falls on the requested side of the split."""
    numbers = " ".join(str(10 + i) for i in range(n_numbers))
    for tag in itertools.product("abcdefghij", repeat=3):
        prompt = f"Add these: {numbers} (set {''.join(tag)})"
        if is_held_out(prompt) == held_out:
            return prompt
    raise AssertionError("no prompt found")


def _write(folder: Path) -> None:
    def row(n: int, source: str, weak: bool, strong: bool, held: bool) -> dict[str, object]:
        return {
            "prompt": _prompt(n, held),
            "source": source,
            "weak_correct": weak,
            "strong_correct": strong,
        }

    rows = [
        # held out, gsm8k: positives have 10 and 5 numbers, negatives 5 and 1 -> AUC 0.875
        row(10, "gsm8k", False, True, True),
        row(5, "gsm8k", False, True, True),
        row(5, "gsm8k", True, True, True),
        row(1, "gsm8k", True, True, True),
        # held out, mmlu: perfectly separated -> 1.0
        row(8, "mmlu:college_physics", False, True, True),
        row(2, "mmlu:marketing", True, True, True),
        # rows that are not part of the question are ignored
        row(12, "gsm8k", False, False, True),
        row(0, "mmlu:marketing", True, False, True),
        # training split, reversed on purpose -> train AUC 0.0
        row(1, "gsm8k", False, True, False),
        row(9, "gsm8k", True, True, False),
    ]
    (folder / "routellm_gsm8k_mmlu.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    questions = [
        (1, "coding", "Write a Python function that reverses a linked list."),
        (2, "writing", "Write a haiku about autumn leaves."),
        (3, "math", "hello there"),  # a deliberate miss: classified as chat
        (4, "unknown-category", "ignored"),
    ]
    (folder / "mt_bench_questions.jsonl").write_text(
        "".join(
            json.dumps({"question_id": i, "category": c, "turns": [t, "follow-up"]}) + "\n"
            for i, c, t in questions
        ),
        encoding="utf-8",
    )


def test_evaluate_on_synthetic_data(tmp_path: Path) -> None:
    _write(tmp_path)
    report = evaluate(tmp_path, model=_quantities_model())
    rows = {r.name: r for r in report.auc_rows}
    assert (rows["gsm8k"].positives, rows["gsm8k"].negatives) == (2, 2)
    assert rows["gsm8k"].auc == pytest.approx(0.875)
    assert rows["gsm8k"].train_auc == pytest.approx(0.0)
    assert rows["mmlu"].auc == pytest.approx(1.0)
    assert rows["mmlu"].train_auc is None  # no training-split rows
    # overall pools both: positives 10, 5, 8 numbers; negatives 5, 1, 2 -> 8.5 / 9
    assert rows["overall"].auc == pytest.approx(8.5 / 9)
    # powerful at score >= 0.5, i.e. quantities >= 0.5 (5 or more numbers)
    assert rows["gsm8k"].powerful_share == pytest.approx(0.75)

    by_category = {c.mt_category: c for c in report.category_rows}
    assert set(by_category) == {"coding", "writing", "math"}
    assert by_category["coding"].correct == 1 and by_category["writing"].correct == 1
    assert by_category["math"].correct == 0 and by_category["math"].predicted["chat"] == 1
    assert report.category_accuracy == pytest.approx(2 / 3)
    assert report.confusion["math"]["chat"] == 1
    assert report.confusion["code"]["code"] == 1

    text = format_report(report)
    assert "| gsm8k | 2 | 2 | 0.875 | 0.000 |" in text
    assert "| math | math | 0/1 | 0% | chat 1 |" in text
    assert "**overall**" in text and "Confusion" in text


def test_missing_data_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(RoutingDataMissingError) as info:
        evaluate(tmp_path / "absent")
    message = str(info.value)
    assert DATA_ENV in message and "lm-sys/RouteLLM" in message


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv(DATA_ENV)
    assert default_data_dir().parts[-3:] == ("shared", "data", "routing")


def test_mt_bench_mapping_covers_all_categories() -> None:
    assert set(MT_BENCH_CATEGORIES) == {
        "writing",
        "roleplay",
        "reasoning",
        "math",
        "coding",
        "extraction",
        "stem",
        "humanities",
    }


@pytest.mark.slow
def test_shipped_weights_on_the_public_data() -> None:
    """Regression guard for the shipped weights; skipped when the data is not present."""
    data = default_data_dir()
    if not (data / "routellm_gsm8k_mmlu.jsonl").is_file():
        pytest.skip(f"routing data not found in {data}")
    report = evaluate(data)
    rows = {r.name: r for r in report.auc_rows}
    assert rows["gsm8k"].auc is not None and rows["gsm8k"].auc > 0.55
    assert rows["mmlu"].auc is not None and rows["mmlu"].auc > 0.65
    assert report.category_accuracy > 0.7
