"""`model=auto` end to end through the sandbox: the choice, its visibility, fallbacks, records."""

from __future__ import annotations

import dataclasses

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from annas_gift.sandbox import RunningSandbox
from annas_gift.storage.models import ClassificationRow, SelectionRow, UsageRecord
from tests.api.conftest import AUTH

CODE = "Fix this Python function: ```def mean(xs): return sum(xs) / len(x)```  It raises NameError."
ESSAY = "Write a short poem about autumn leaves for my creative writing class."


def _msg(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def _plan(client: AsyncClient, model: str, text: str) -> dict:  # type: ignore[type-arg]
    r = await client.post(
        "/api/v1/classify", json={"model": model, "messages": _msg(text)}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_classify_explains_without_calling_a_model(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    plan = await _plan(client, "auto", CODE)
    assert plan["category"] == "code"
    assert plan["classification"]["factors"]
    assert 0 <= plan["classification"]["score"] <= 1
    ranking = plan["selection"]["ranking"]
    assert [r["name"] for r in ranking] == plan["fallback_order"]
    assert set(ranking[0]["components"]) >= {
        "benchmark_rank",
        "benchmark_score",
        "headroom",
        "cost",
    }
    assert upstream.requests() == []
    totals = (await client.get("/api/v1/usage", headers=AUTH)).json()["totals"]
    assert totals["requests"] == 0


@pytest.mark.parametrize(
    ("model", "text", "tier", "expected"),
    [
        # The only fast demo model that lists `code` is fast-coder; category ranks first in tier.
        ("auto:fast", CODE, "fast", "sandbox/fast-coder"),
        ("auto:fast", ESSAY, "fast", "sandbox/fast-small"),
        ("auto:powerful", CODE, "powerful", None),
    ],
)
async def test_auto_lands_on_a_model_of_the_tier_and_category(
    client: AsyncClient, model: str, text: str, tier: str, expected: str | None
) -> None:
    r = await client.post(
        "/v1/chat/completions", json={"model": model, "messages": _msg(text)}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-annas-tier"] == tier
    chosen = r.headers["x-annas-model"]
    if expected:
        assert chosen == expected
    models = {m["name"]: m for m in (await client.get("/api/v1/models", headers=AUTH)).json()}
    assert models[chosen]["tier"] == tier
    assert r.headers["x-annas-category"] == (await _plan(client, model, text))["category"]


async def test_native_response_carries_the_decision(client: AsyncClient) -> None:
    r = await client.post("/api/v1/chat", json={"messages": _msg(CODE)}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["classification"]["category"] == "code"
    assert body["selection"]["model"] == body["selection"]["ranking"][0]["name"]
    assert body["model"] == body["selection"]["model"]
    assert body["tier"] == body["classification"]["tier"]


@pytest.mark.parametrize("failure", ["status=429;retry_after=2", "status=500", "timeout"])
async def test_retryable_failure_falls_back_to_the_second_choice(
    client: AsyncClient, upstream: RunningSandbox, failure: str
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    chat = app.state.gateway.chat
    chat.config = dataclasses.replace(chat.config, attempt_timeout_s=0.5)
    order = (await _plan(client, "auto:powerful", CODE))["fallback_order"]
    upstream.script(order[0].split("/", 1)[1], [failure])
    r = await client.post(
        "/v1/chat/completions",
        json={"model": "auto:powerful", "messages": _msg(CODE)},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-annas-model"] == order[1]
    assert r.headers["x-annas-attempts"] == "2"


async def test_all_failing_gives_one_503_listing_attempts(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    order = (await _plan(client, "auto", ESSAY))["fallback_order"]
    for name in order:
        upstream.script(name.split("/", 1)[1], ["status=503"])
    r = await client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": _msg(ESSAY)}, headers=AUTH
    )
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "all_models_failed"
    assert [a["model"] for a in error["attempts"]] == order


async def test_all_rate_limited_gives_429_with_earliest_retry_after(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    order = (await _plan(client, "auto", ESSAY))["fallback_order"]
    for i, name in enumerate(order):
        upstream.script(name.split("/", 1)[1], [f"status=429;retry_after={10 + i}"])
    r = await client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": _msg(ESSAY)}, headers=AUTH
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "10"


async def test_decisions_are_persisted_with_the_request_id(client: AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": _msg(CODE)}, headers=AUTH
    )
    request_id = r.headers["x-request-id"]
    app = client._transport.app  # type: ignore[attr-defined]
    await app.state.gateway.tracker.flush()
    async with app.state.gateway.tracker._sessions() as session:
        classification = (
            await session.execute(
                select(ClassificationRow).where(ClassificationRow.request_id == request_id)
            )
        ).scalar_one()
        selection = (
            await session.execute(select(SelectionRow).where(SelectionRow.request_id == request_id))
        ).scalar_one()
        usage = (
            await session.execute(select(UsageRecord).where(UsageRecord.request_id == request_id))
        ).scalar_one()
    assert classification.category == "code"
    assert classification.factors
    assert selection.selected_model == r.headers["x-annas-model"] == usage.model
    assert selection.fallbacks_tried and selection.fallbacks_tried[0]["status"] == 200
    assert selection.breakdown


async def test_auto_stream_falls_back_before_first_chunk(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    order = (await _plan(client, "auto:fast", ESSAY))["fallback_order"]
    upstream.script(order[0].split("/", 1)[1], ["status=500"])
    r = await client.post(
        "/v1/chat/completions",
        json={"model": "auto:fast", "messages": _msg(ESSAY), "stream": True},
        headers=AUTH,
    )
    assert r.status_code == 200
    assert r.headers["x-annas-model"] == order[1]
    assert r.text.rstrip().endswith("data: [DONE]")
