"""Evaluation: metrics against known answers, and the report on a tiny data set."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import pytest

from annas_gift.routing.baselines import System, Verdict, length_system
from annas_gift.routing.corpus import DATA_ENV, RoutingDataMissingError, default_data_dir
from annas_gift.routing.evaluate import MT_BENCH_CATEGORIES, evaluate, format_report
from annas_gift.routing.metrics import balanced_accuracy, performance_gap_recovered, roc_auc
from tests.routing.routing_data import write_routing_data


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [False, False, True, True], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [False, False, True, True], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [True, False, True, False], 0.5),
        ([0.8, 0.5, 0.5, 0.2], [True, True, False, False], 0.875),
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
    with pytest.raises(ValueError, match="positive and one negative"):
        roc_auc([0.1, 0.2], [True, True])


def test_balanced_accuracy() -> None:
    # positives: 2 of 3 found; negatives: 1 of 1 rejected -> (2/3 + 1) / 2
    assert balanced_accuracy([True, True, False, False], [True, True, True, False]) == (
        pytest.approx((2 / 3 + 1) / 2)
    )
    with pytest.raises(ValueError, match="both classes"):
        balanced_accuracy([True], [True])


def test_performance_gap_recovered() -> None:
    weak = [True, False, True, False]
    strong = [True, True, True, True]  # weak 0.5, strong 1.0
    # Sending the two prompts only the strong model solves recovers the whole gap.
    assert performance_gap_recovered([0, 9, 0, 8], weak, strong, 0.5) == pytest.approx(1.0)
    # Sending the two the weak model also solves recovers nothing.
    assert performance_gap_recovered([9, 0, 8, 0], weak, strong, 0.5) == pytest.approx(0.0)
    assert performance_gap_recovered([0, 9, 0, 0], weak, strong, 0.25) == pytest.approx(0.5)


def test_evaluate_on_a_tiny_data_set(tmp_path: Path) -> None:
    write_routing_data(tmp_path)
    by_length = length_system(12)

    def everything_is_chat(prompt: str) -> Verdict:
        return Verdict(0.0, False, "chat")

    report = evaluate(tmp_path, [by_length, System("chat", everything_is_chat, True)])
    length, chat = report.systems
    assert report.validation_rows == 9  # the train-split writing row is left out
    assert length.math_auc == 1.0 and length.math_auc_extremes == 1.0
    assert length.arc_auc == 1.0
    assert length.category_overall is None  # length has no category
    # Constant scores: every AUC is 0.5, and only chat rows are right.
    assert chat.math_auc == 0.5 and chat.arc_auc == 0.5
    assert chat.category_by_source == {
        "arc_challenge": 0.0,
        "arc_easy": 0.0,
        "chat_synth": 1.0,
        "hendrycks_math": 0.0,
    }
    assert chat.category_overall == pytest.approx(1 / 9)
    # Neither the writing nor the coding MT-Bench prompt is chat, nor any HumanEval function.
    assert chat.category_benchmarks == {"MT-Bench first turns": 0.0, "HumanEval prompts": 0.0}
    assert report.benchmark_rows == {"MT-Bench first turns": 2, "HumanEval prompts": 2}
    assert chat.tier_balanced == 0.5  # never powerful
    # RouteLLM: weak 2/4, strong 2/4 ... the strong model is not better: no PGR.
    assert chat.pgr == {}
    # ... and none of its questions is chat: GSM8K's are math, MMLU's knowledge.
    assert chat.category_routellm == {"GSM8K test": 0.0, "MMLU test": 0.0}
    assert chat.routellm_misses == {"GSM8K test": {"chat": 1.0}, "MMLU test": {"chat": 1.0}}
    assert length.category_routellm == {}
    # Within GSM8K alone the strong model is better (weak 1/2, strong 2/2): sending the long
    # problem, the one only the strong model solves, recovers the whole gap from 35% up.
    assert length.pgr_by_benchmark["GSM8K test"] == {0.2: 0.0, 0.35: 1.0, 0.5: 1.0}
    assert chat.pgr_by_benchmark["GSM8K test"] == {0.2: 0.0, 0.35: 0.0, 0.5: 0.0}
    text = format_report(report, today=date(2026, 1, 2))
    assert "2026-01-02" in text
    assert "| tier AUC: MATH level 1 vs 5 | 1.000 | 0.500 |" in text
    assert "| category accuracy: chat_synth | n/a | 1.000 |" in text
    assert (
        "| RouteLLM PGR at 20% / 35% / 50%, GSM8K test alone | 0.000 / 1.000 / 1.000 "
        "| 0.000 / 0.000 / 0.000 |" in text
    )
    assert (
        "| category accuracy: MMLU test (RouteLLM file; misses by category) | n/a "
        "| 0.000 (chat 1.000) |" in text
    )


def test_routellm_category_rows_split_by_benchmark(tmp_path: Path) -> None:
    write_routing_data(tmp_path)

    def math_when_long(prompt: str) -> Verdict:
        words = len(prompt.split())
        return Verdict(0.0, False, "math" if words > 3 else "reading" if words > 1 else "code")

    report = evaluate(tmp_path, [System("long math", math_when_long, True)])
    (result,) = report.systems
    # GSM8K: "short" (code) missed, the long one right; MMLU: "medium question here"
    # (reading) and "tiny" (code) both missed.
    assert result.category_routellm == {"GSM8K test": 0.5, "MMLU test": 0.0}
    assert result.routellm_misses == {
        "GSM8K test": {"code": 0.5},
        "MMLU test": {"code": 0.5, "reading": 0.5},
    }
    text = format_report(report)
    assert "| 0.500 (code 0.500) |" in text
    assert "| 0.000 (code 0.500, reading 0.500) |" in text


def test_benchmark_prompts_are_scored_for_their_category(tmp_path: Path) -> None:
    write_routing_data(tmp_path)

    def code_when_def(prompt: str) -> Verdict:
        return Verdict(0.0, False, "code" if prompt.startswith("def ") else "writing")

    report = evaluate(tmp_path, [System("def is code", code_when_def, True)])
    (result,) = report.systems
    # Both HumanEval functions are code; of MT-Bench's two, the haiku (writing) is right and
    # "hello there" (a coding question in the fixture) is not.
    assert result.category_benchmarks == {"MT-Bench first turns": 0.5, "HumanEval prompts": 1.0}
    text = format_report(report)
    assert "| category accuracy: HumanEval prompts (2) | 1.000 |" in text
    assert "| category accuracy: MT-Bench first turns (2) | 0.500 |" in text


def test_missing_data_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(RoutingDataMissingError, match="data/routing"):
        evaluate(tmp_path / "absent")


def test_default_data_dir_is_in_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv(DATA_ENV)
    assert default_data_dir().parts[-2:] == ("data", "routing")
    assert (default_data_dir() / "train").is_dir()


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
