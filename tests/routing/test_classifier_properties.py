"""Property tests: the classifier never raises and returns well-formed, repeatable results."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annas_gift.routing.features import STRUCTURAL
from annas_gift.routing.task_classifier import (
    DEFAULT_MODEL,
    MEANING,
    TOP_FACTORS,
    WORDING,
    TaskClassification,
    classify_task,
)
from annas_gift.routing.types import CATEGORIES

ROLES = ["system", "developer", "user", "assistant", "tool", "function", "critic", ""]

# Text that exercises the scanners: code, math, lists, options, unicode, control characters.
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=400),
    st.lists(
        st.sampled_from(
            [
                "```",
                "def f(x):",
                "\n",
                "A. ",
                "B) ",
                "1. ",
                "- ",
                "Traceback",
                "x^2",
                "=",
                "prove",
                "write a poem",
                "hi",
                "the following",
                "500 words",
                "$3.50",
                "%",
                "\\frac{a}{b}",
                "camelCase",
                "snake_case",
                "O(n)",
                "you are a",
                "?",
                "日本語",
                "don't",
                "tl;dr",
                " ",
                "\t",
                "\x00",
                "🙂",
            ]
        ),
        max_size=60,
    ).map("".join),
)
junk = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(), st.binary())
parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.just({"url": "x"})}),
    st.dictionaries(st.text(max_size=8), st.one_of(texts, junk), max_size=3),
    texts,
    junk,
)
contents = st.one_of(st.none(), texts, st.lists(parts, max_size=5), junk)
messages = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(ROLES), "content": contents}),
    st.builds(SimpleNamespace, role=st.sampled_from(ROLES), content=contents),
    st.dictionaries(st.text(max_size=8), st.one_of(texts, junk), max_size=3),
    junk,
)
message_lists = st.lists(messages, max_size=8)
requests = st.one_of(
    message_lists,
    texts,
    st.fixed_dictionaries(
        {"messages": message_lists},
        optional={"max_tokens": st.one_of(st.integers(), junk, texts)},
    ),
    st.builds(SimpleNamespace, messages=message_lists, max_tokens=st.one_of(st.integers(), junk)),
    st.fixed_dictionaries({"messages": st.one_of(junk, texts)}),
    junk,
)


def check(result: TaskClassification) -> None:
    assert result.tier in ("fast", "powerful")
    assert result.category in CATEGORIES
    assert 0.0 <= result.score <= 1.0
    assert 0.0 <= result.confidence <= 1.0
    assert (result.tier == "powerful") == (result.score >= DEFAULT_MODEL.threshold)
    named = {*STRUCTURAL, WORDING, MEANING}
    for factors in (result.factors, result.category_factors):
        assert len(factors) <= TOP_FACTORS
        for name, value in factors.items():
            assert name in named and math.isfinite(value) and value != 0, (name, value)
        # Largest contribution first.
        sizes = [abs(v) for v in factors.values()]
        assert sizes == sorted(sizes, reverse=True)
    assert len(result.explanation) == 3
    json.dumps(result.to_dict(), allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(texts)
def test_any_text_as_a_user_message(text: str) -> None:
    messages = [{"role": "user", "content": text}]
    result = classify_task(messages)
    check(result)
    assert classify_task(messages) == result  # deterministic


# Nested request shapes of messages and junk: tens of ms per draw, seconds under load.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_any_request_shape(request: Any) -> None:
    result = classify_task(request)
    check(result)
    assert classify_task(request) == result


def test_empty_inputs() -> None:
    empty: list[Any] = [[], {}, {"messages": []}, [{"role": "user", "content": None}], "", None]
    for request in empty:
        check(classify_task(request))


def test_huge_inputs_stay_bounded() -> None:
    huge = "Prove that the series converges. " * 40_000  # about 1.3 MB
    result = classify_task([{"role": "user", "content": huge}])
    check(result)
    assert result.tier == "powerful"
    assert "passage_words" in result.factors
    many = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}] * 2_000
    check(classify_task(many))
    parts = [{"type": "text", "text": "x = 1\n"}] * 10_000
    check(classify_task([{"role": "user", "content": parts}]))


def test_does_not_mutate_the_request() -> None:
    request = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Solve x^2 = 4"}]},
        ],
        "max_tokens": 50,
    }
    before = json.dumps(request, sort_keys=True)
    classify_task(request)
    assert json.dumps(request, sort_keys=True) == before
