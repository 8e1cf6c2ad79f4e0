"""Speed of the classifier on the request path (a benchmark: it reports, it does not assert)."""

from __future__ import annotations

from typing import Any

from annas_gift.routing.task_classifier import classify_task

TYPICAL = [
    {
        "role": "user",
        "content": (
            "I am studying for my exam on thermodynamics. Can you explain the difference between "
            "enthalpy and entropy, and give an example of a process where entropy increases while "
            "enthalpy stays constant? Please keep it short."
        ),
    }
]
SENTENCE = (
    "The committee reviewed the regional water budget and noted that reservoir levels had "
    "fallen for the third consecutive year, while demand from agriculture kept rising. "
)
PASSAGE = [
    {
        "role": "user",
        "content": "Read the report below and answer: which two causes does it give for the "
        "shortfall, and what does it recommend?\n\n" + SENTENCE * 160,  # about 4,000 words
    }
]
CONVERSATION = [
    {"role": "system", "content": "You are a patient tutor for first-year students."},
    {"role": "user", "content": "Write a Python function that merges two sorted lists."},
    {"role": "assistant", "content": "def merge(a, b):\n    ...\n"},
    {"role": "user", "content": "Now make it work for k lists and explain its complexity."},
]


def test_bench_typical_prompt(benchmark: Any) -> None:
    # pedantic with a fixed number of rounds keeps this to a fraction of a second.
    result = benchmark.pedantic(
        classify_task, args=(TYPICAL,), rounds=300, iterations=10, warmup_rounds=20
    )
    assert result.tier == "fast"  # (its category, knowledge, is a known miss: writing)


def test_bench_conversation(benchmark: Any) -> None:
    result = benchmark.pedantic(
        classify_task, args=(CONVERSATION,), rounds=200, iterations=10, warmup_rounds=20
    )
    assert result.category == "code"


def test_bench_4000_word_passage(benchmark: Any) -> None:
    assert len(PASSAGE[0]["content"].split()) > 4_000
    result = benchmark.pedantic(
        classify_task, args=(PASSAGE,), rounds=100, iterations=5, warmup_rounds=10
    )
    assert result.category == "reading"
