"""POST /v1/chat/completions through the sandbox upstream: answers, headers, streams, usage."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from httpx import AsyncClient

from annas_gift.sandbox import RunningSandbox
from tests.api.conftest import ALICE, AUTH

MODEL = "sandbox/fast-small"


@pytest.fixture(params=["direct", "litellm"])
def upstream_path(request: pytest.FixtureRequest) -> str:
    """Every test here runs on the direct OpenAI-wire path and on the LiteLLM path."""
    return str(request.param)


def chat_body(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello to the seminar group."}],
    }
    body.update(extra)
    return body


def sse_events(text: str) -> list[object]:
    events: list[object] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            events.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return events


async def test_completion_returns_answer_with_decision_headers(client: AsyncClient) -> None:
    r = await client.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert "seminar" in body["choices"][0]["message"]["content"]
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert r.headers["x-annas-model"] == MODEL
    assert r.headers["x-annas-provider"] == "sandbox"
    assert r.headers["x-annas-tier"] == "fast"
    assert float(r.headers["x-annas-cost-usd"]) > 0
    assert r.headers["x-annas-request-id"] == r.headers["x-request-id"]


async def test_client_request_id_is_echoed(client: AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions", json=chat_body(), headers={**AUTH, "x-request-id": "thesis-42"}
    )
    assert r.headers["x-request-id"] == "thesis-42"
    unsafe = await client.post(
        "/v1/chat/completions", json=chat_body(), headers={**AUTH, "x-request-id": "a b<script>"}
    )
    assert unsafe.headers["x-request-id"].startswith("req_")


async def test_unknown_openai_params_pass_through(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    tools = [{"type": "function", "function": {"name": "cite", "parameters": {"type": "object"}}}]
    r = await client.post(
        "/v1/chat/completions",
        json=chat_body(seed=7, tools=tools, temperature=0.2, max_tokens=50),
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    sent = upstream.requests()[-1]["body"]
    assert sent["seed"] == 7
    assert sent["tools"][0]["function"]["name"] == "cite"
    assert sent["temperature"] == 0.2
    assert "fallbacks" not in sent


async def test_stream_with_include_usage(client: AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions",
        json=chat_body(stream=True, stream_options={"include_usage": True}),
        headers=AUTH,
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-annas-model"] == MODEL
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert "seminar" in text
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_stream_without_include_usage_hides_usage_but_records_it(
    client: AsyncClient,
) -> None:
    r = await client.post("/v1/chat/completions", json=chat_body(stream=True), headers=AUTH)
    chunks = [e for e in sse_events(r.text) if isinstance(e, dict)]
    assert chunks and all("usage" not in c for c in chunks)
    stats = await client.get("/api/v1/usage", headers=AUTH)
    totals = stats.json()["totals"]
    assert totals["requests"] == 1
    assert totals["completion_tokens"] > 0


async def test_usage_is_recorded_per_key(client: AsyncClient) -> None:
    await client.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    await client.post(
        "/v1/chat/completions", json=chat_body(), headers={"Authorization": f"Bearer {ALICE}"}
    )
    app = client._transport.app  # type: ignore[attr-defined]
    await app.state.gateway.tracker.flush()
    from sqlalchemy import select

    from annas_gift.storage.models import UsageRecord

    async with app.state.gateway.tracker._sessions() as session:
        rows = (await session.execute(select(UsageRecord.key_id, UsageRecord.cost_usd))).all()
    key_ids = sorted(r[0] for r in rows)
    assert key_ids[0] == "alice" and key_ids[1].startswith("key-")
    assert ALICE not in str(rows)
    assert all(r[1] > 0 for r in rows)


@pytest.mark.parametrize(
    ("behavior", "status", "code"),
    [
        ("status=500", 502, "upstream_server_error"),
        ("status=503", 502, "upstream_server_error"),
        ("malformed", 502, "upstream_server_error"),
        ("status=401", 502, "provider_authentication_failed"),
    ],
)
async def test_provider_errors_are_mapped(
    client: AsyncClient, upstream: RunningSandbox, behavior: str, status: int, code: str
) -> None:
    upstream.script("fast-small", [behavior])
    r = await client.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert "Traceback" not in r.text
    assert error["type"] == "upstream_error"


async def test_rate_limit_keeps_retry_after(client: AsyncClient, upstream: RunningSandbox) -> None:
    upstream.script("fast-small", ["status=429;retry_after=7"])
    r = await client.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    stats = (await client.get("/api/v1/usage", headers=AUTH)).json()["totals"]
    assert stats["rate_limit_hits"] == 1


async def test_timeout_maps_to_504(client: AsyncClient, upstream: RunningSandbox) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    chat = app.state.gateway.chat
    chat.config = dataclasses.replace(chat.config, attempt_timeout_s=0.5)
    upstream.script("fast-small", ["timeout"])
    r = await client.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "upstream_timeout"


async def test_explicit_fallbacks_move_to_next_model(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("fast-small", ["status=503"])
    r = await client.post(
        "/v1/chat/completions", json=chat_body(fallbacks=["sandbox/fast-coder"]), headers=AUTH
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-annas-model"] == "sandbox/fast-coder"
    assert r.headers["x-annas-attempts"] == "2"


async def test_explicit_model_does_not_fall_back_without_fallbacks(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("fast-small", ["status=503"])
    r = await client.post("/v1/chat/completions", json=chat_body(), headers=AUTH)
    assert r.status_code == 502
    assert [req["model"] for req in upstream.requests()] == ["fast-small"]


async def test_all_fallbacks_failing_lists_attempts(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("fast-small", ["status=500"])
    upstream.script("fast-coder", ["status=503"])
    r = await client.post(
        "/v1/chat/completions", json=chat_body(fallbacks=["sandbox/fast-coder"]), headers=AUTH
    )
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "all_models_failed"
    assert [a["model"] for a in error["attempts"]] == [MODEL, "sandbox/fast-coder"]


async def test_stream_cut_mid_way_ends_with_error_event(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("fast-small", ["cut=2"])
    r = await client.post("/v1/chat/completions", json=chat_body(stream=True), headers=AUTH)
    assert r.status_code == 200
    events = sse_events(r.text)
    assert "[DONE]" not in events
    assert isinstance(events[-1], dict) and "error" in events[-1]


async def test_stream_error_before_first_chunk_is_a_normal_error(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("fast-small", ["status=429;retry_after=3"])
    r = await client.post("/v1/chat/completions", json=chat_body(stream=True), headers=AUTH)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"


async def test_models_lists_available_models_and_aliases(client: AsyncClient) -> None:
    r = await client.get("/v1/models", headers=AUTH)
    ids = [m["id"] for m in r.json()["data"]]
    assert "auto" in ids and MODEL in ids
    assert "needs-key/model" not in ids
