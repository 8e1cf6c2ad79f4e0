"""The native /api/v1 API: chat with decisions in the body, models, providers, usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from annas_gift.sandbox import RunningSandbox
from tests.api.conftest import AUTH, MISSING_ENV

MSG = [{"role": "user", "content": "Summarise the abstract in one line."}]


async def test_native_chat_returns_answer_and_accounting(client: AsyncClient) -> None:
    r = await client.post(
        "/api/v1/chat", json={"model": "sandbox/powerful-large", "messages": MSG}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "sandbox/powerful-large"
    assert body["provider"] == "sandbox"
    assert body["upstream_model"] == "openai/powerful-large"
    assert body["tier"] == "powerful"
    assert "abstract" in body["content"]
    assert body["message"]["role"] == "assistant"
    assert body["usage"]["total_tokens"] > 0
    assert body["cost_usd"] > 0
    assert body["request_id"] == r.headers["x-request-id"]
    assert [a["status"] for a in body["attempts"]] == [200]


async def test_native_chat_stream(client: AsyncClient) -> None:
    r = await client.post(
        "/api/v1/chat",
        json={"model": "sandbox/fast-small", "messages": MSG, "stream": True},
        headers=AUTH,
    )
    assert r.status_code == 200
    assert r.text.rstrip().endswith("data: [DONE]")


async def test_models_lists_catalog_with_availability(client: AsyncClient) -> None:
    models = (await client.get("/api/v1/models", headers=AUTH)).json()
    by_name = {m["name"]: m for m in models}
    assert by_name["sandbox/fast-small"]["available"] is True
    assert by_name["sandbox/fast-small"]["tier"] == "fast"
    assert by_name["needs-key/model"]["available"] is False
    assert by_name["needs-key/model"]["missing_env"] == [MISSING_ENV]


async def test_models_by_provider(client: AsyncClient) -> None:
    r = await client.get("/api/v1/models/sandbox", headers=AUTH)
    assert {m["provider"] for m in r.json()} == {"sandbox"}
    assert len(r.json()) == 4
    missing = await client.get("/api/v1/models/nope", headers=AUTH)
    assert missing.status_code == 404
    assert "sandbox" in missing.json()["error"]["message"]


async def test_providers_status(client: AsyncClient) -> None:
    rows = {
        p["provider"]: p
        for p in (await client.get("/api/v1/providers/status", headers=AUTH)).json()
    }
    assert rows["sandbox"]["available_models"] == 4
    assert rows["needs-key"]["missing_env"] == [MISSING_ENV]


async def test_usage_groups_and_filters(client: AsyncClient, upstream: RunningSandbox) -> None:
    for model in ("sandbox/fast-small", "sandbox/fast-small", "sandbox/fast-coder"):
        r = await client.post(
            "/v1/chat/completions", json={"model": model, "messages": MSG}, headers=AUTH
        )
        assert r.status_code == 200
    upstream.script("fast-coder", ["status=500"])
    await client.post(
        "/v1/chat/completions", json={"model": "sandbox/fast-coder", "messages": MSG}, headers=AUTH
    )

    report = (await client.get("/api/v1/usage?group_by=model", headers=AUTH)).json()
    assert report["totals"]["requests"] == 4
    assert report["totals"]["errors"] == 1
    groups = {g["key"]: g for g in report["groups"]}
    assert groups["sandbox/fast-small"]["requests"] == 2
    assert groups["sandbox/fast-coder"]["errors"] == 1
    assert report["totals"]["cost_usd"] > 0

    by_day = (await client.get("/api/v1/usage?group_by=day", headers=AUTH)).json()
    assert [g["key"] for g in by_day["groups"]] == [datetime.now(UTC).date().isoformat()]

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = await client.get("/api/v1/usage", params={"since": future}, headers=AUTH)
    assert later.json()["totals"]["requests"] == 0


async def test_usage_rejects_bad_filters(client: AsyncClient) -> None:
    r = await client.get("/api/v1/usage?group_by=week", headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["param"] == "group_by"
    r = await client.get(
        "/api/v1/usage",
        params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        headers=AUTH,
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "since"


async def test_health_needs_no_key_and_ready_checks_database(client: AsyncClient) -> None:
    assert (await client.get("/health")).json()["status"] == "ok"
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_openapi_docs_are_served(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/chat/completions" in spec["paths"]
    assert "/api/v1/chat" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
