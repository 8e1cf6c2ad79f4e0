"""Issue 9's must-haves for `model="auto"`, end to end: the gateway over HTTP to the sandbox
upstream, the tier and category it reports, the model the upstream actually received, and
the plain-words explanation on the native and classify routes."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from annas_gift.sandbox import RunningSandbox
from tests.api.conftest import AUTH

PASSAGE = (
    "Read the passage and answer the questions.\n\n"
    "The Great Barrier Reef is the world's largest coral reef system, composed of over 2,900 "
    "individual reefs and 900 islands stretching for over 2,300 kilometres. It lies in the Coral "
    "Sea, off the coast of Queensland, Australia. The reef can be seen from outer space and is "
    "the world's biggest single structure made by living organisms. It is built by billions of "
    "tiny organisms known as coral polyps. Since 1981 it has been a World Heritage Site. Rising "
    "sea temperatures have caused mass bleaching events in 1998, 2002, 2016 and 2017, and "
    "scientists warn that the reef's future depends on limiting global warming.\n\n"
    "1. How many individual reefs make up the Great Barrier Reef?\n"
    "2. What organisms build the reef?\n"
    "3. According to the passage, what threatens the reef's future?"
)
PROOF = "Prove that the square root of 2 is irrational."
OLYMPIAD = (
    "Find all functions f from the reals to the reals such that f(x + y) = f(x) + f(y) + 2xy "
    "for all real numbers x and y, and f(1) = 3. Justify every step."
)
COMPLETE = (
    "Complete this function:\n\n```python\ndef is_palindrome(s: str) -> bool:\n"
    '    """Return True if s reads the same forwards and backwards, ignoring case."""\n```'
)
TRACEBACK = (
    "Why does this fail and how do I fix it?\n\nTraceback (most recent call last):\n"
    '  File "app.py", line 12, in <module>\n    total = sum(prices) / len(prices)\n'
    "ZeroDivisionError: division by zero"
)
SQL = (
    "Explain what this query does:\n\nSELECT department, AVG(salary) AS avg_salary\n"
    "FROM employees\nWHERE hired_at > '2020-01-01'\nGROUP BY department\n"
    "HAVING COUNT(*) > 5\nORDER BY avg_salary DESC;"
)
ESSAY = "Write a 500-word essay on the causes of the First World War for my history class."
EMAIL = "Write an email to my professor asking for a one-week extension on my lab report."


def _msg(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def _auto(client: AsyncClient, upstream: RunningSandbox, text: str) -> tuple[str, str]:
    """Send `text` as model=auto; (tier, category) as reported, checked against what ran."""
    r = await client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": _msg(text)}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    served = r.headers["x-annas-model"]
    models = {m["name"]: m for m in (await client.get("/api/v1/models", headers=AUTH)).json()}
    assert models[served]["tier"] == r.headers["x-annas-tier"]  # the served model's own tier
    received = [req["model"] for req in upstream.requests()]
    assert received[-1] == models[served]["litellm_model"].split("/", 1)[1]
    return r.headers["x-annas-tier"], r.headers["x-annas-category"]


@pytest.mark.parametrize("text", [PROOF, OLYMPIAD], ids=["proof", "olympiad"])
async def test_a_proof_or_olympiad_problem_goes_to_a_powerful_model(
    client: AsyncClient, upstream: RunningSandbox, text: str
) -> None:
    tier, _ = await _auto(client, upstream, text)
    assert tier == "powerful"


@pytest.mark.parametrize(
    "text", ["hi", "Count to five.", "What is the capital of Australia?"], ids=str
)
async def test_small_talk_and_simple_facts_go_to_a_fast_model(
    client: AsyncClient, upstream: RunningSandbox, text: str
) -> None:
    tier, _ = await _auto(client, upstream, text)
    assert tier == "fast"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        (ESSAY, "writing"),
        (EMAIL, "writing"),
        (COMPLETE, "code"),
        (TRACEBACK, "code"),
        (SQL, "code"),
        (PASSAGE, "reading"),
    ],
    ids=["essay", "email", "function", "traceback", "sql", "passage"],
)
async def test_the_category_follows_the_task(
    client: AsyncClient, upstream: RunningSandbox, text: str, category: str
) -> None:
    _, got = await _auto(client, upstream, text)
    assert got == category


def _check_explanation(explanation: dict[str, Any], body: dict[str, Any]) -> None:
    """The explanation agrees with the decision it explains and names its parts in words."""
    classification, selection = body["classification"], body["selection"]
    assert explanation["model"] == selection["model"]
    assert explanation["tier"] == body["tier"]
    assert explanation["category"] == classification["category"]
    # The factors are the classifier's own contributions, in its order, with plain labels.
    assert {f["name"]: f["contribution"] for f in explanation["factors"]} == classification[
        "factors"
    ]
    assert all(f["label"] and "_" not in f["label"] for f in explanation["factors"])
    assert explanation["runner_up"] in [r["name"] for r in selection["ranking"][1:]]
    assert explanation["runner_up"] == selection["explanation"]["runner_up"]
    assert explanation["choice_reason"] == selection["explanation"]["summary"]
    assert explanation["summary"].startswith(f"Sent to {selection['model']}.")
    assert explanation["runner_up"] in explanation["summary"]


async def test_native_chat_explains_a_proof_in_plain_words(client: AsyncClient) -> None:
    r = await client.post("/api/v1/chat", json={"messages": _msg(PROOF)}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    explanation = body["explanation"]
    _check_explanation(explanation, body)
    top = explanation["factors"][0]
    assert top["name"] == "proof_cue" and top["contribution"] > 0
    assert "words like prove or theorem" in explanation["tier_reason"]
    assert "needs a powerful model" in explanation["summary"]


async def test_classify_names_the_deciding_benchmark_and_runner_up(client: AsyncClient) -> None:
    r = await client.post("/api/v1/classify", json={"messages": _msg(SQL)}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    explanation = body["explanation"]
    _check_explanation(explanation, body)
    assert explanation["tier_reason"].startswith("A fast model is enough")
    assert explanation["decided_by"] == body["selection"]["explanation"]["decided_by"]
    if explanation["decided_by"] == "benchmark":
        assert explanation["benchmark_label"] in explanation["summary"]


async def test_explicit_model_has_no_routing_explanation(client: AsyncClient) -> None:
    r = await client.post(
        "/api/v1/chat",
        json={"model": "sandbox/fast-small", "messages": _msg("hi")},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert r.json()["explanation"] is None


async def test_openapi_documents_the_explanation(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert "DecisionExplanation" in schemas
    assert "explanation" in schemas["ChatResponse"]["properties"]
    assert schemas["ClassifyResponse"]["properties"]["explanation"] == {
        "$ref": "#/components/schemas/DecisionExplanation"
    }
    fields = set(schemas["DecisionExplanation"]["properties"])
    assert {"factors", "benchmark", "runner_up", "summary"} <= fields
