"""The operations API of a running app: /metrics, /api/v1/alerts, usage grouped by tier/key."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from annas_gift.api.app import create_app
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import Settings
from tests.api.conftest import AUTH, make_catalog

HI = [{"role": "user", "content": "hello there"}]


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of one metric in a scrape: (labels, value)."""
    return [
        (dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def total(text: str, name: str, **match: str) -> float:
    return sum(v for labels, v in samples(text, name) if match.items() <= labels.items())


async def _traffic(client: httpx.AsyncClient, upstream: RunningSandbox) -> None:
    cached = {"model": "sandbox/fast-small", "temperature": 0, "messages": HI}
    for _ in range(2):  # the second is a cache hit
        r = await client.post("/v1/chat/completions", json=cached, headers=AUTH)
        assert r.is_success
    stream = {"model": "sandbox/fast-coder", "stream": True, "messages": HI}
    async with client.stream("POST", "/v1/chat/completions", json=stream, headers=AUTH) as r:
        assert r.status_code == 200
        await r.aread()
    upstream.script("powerful-large", ["status=400"])
    failing = {"model": "sandbox/powerful-large", "messages": HI}
    for body, status in ((failing, 400), ({"model": "nope/none", "messages": HI}, 404)):
        r = await client.post("/v1/chat/completions", json=body, headers=AUTH)
        assert r.status_code == status, r.text


async def test_metrics_count_every_finished_request_once(
    client: httpx.AsyncClient, upstream: RunningSandbox
) -> None:
    await _traffic(client, upstream)
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    # whole, cache hit, stream, upstream 400, unknown model: five requests, each counted once
    assert total(text, "annas_gift_requests_total") == 5
    assert total(text, "annas_gift_requests_total", model="sandbox/fast-small") == 2
    assert total(text, "annas_gift_requests_total", status_class="4xx") == 2
    assert total(text, "annas_gift_cache_requests_total", result="hit") == 1
    assert total(text, "annas_gift_cache_requests_total", result="miss") == 1
    assert total(text, "annas_gift_time_to_first_token_seconds_count") == 1
    assert total(text, "annas_gift_errors_total", code="model_not_found") == 1
    assert total(text, "annas_gift_request_duration_seconds_count") == 5
    assert total(text, "annas_gift_tokens_total", direction="completion") > 0
    # live state read at scrape time
    assert total(text, "annas_gift_model_healthy", model="sandbox/fast-small") == 1
    assert total(text, "annas_gift_database_up") == 1
    assert samples(text, "annas_gift_usage_flush_errors_total") == [({}, 0.0)]
    assert "sk-test-key" not in text and "hello there" not in text


@pytest.fixture
def keyed_app(settings: Settings, upstream: RunningSandbox) -> FastAPI:
    locked = settings.model_copy(
        update={"metrics": settings.metrics.model_copy(update={"require_key": True})}
    )
    return create_app(locked, catalog=make_catalog(upstream.base_url))


async def test_metrics_can_require_a_gateway_key(keyed_app: FastAPI) -> None:
    async with keyed_app.router.lifespan_context(keyed_app):
        transport = httpx.ASGITransport(app=keyed_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            anonymous = await client.get("/metrics")
            assert anonymous.status_code == 401
            assert anonymous.json()["error"]["type"] == "authentication_error"
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer sk-nope"})
            assert wrong.status_code == 401
            assert (await client.get("/metrics", headers=AUTH)).status_code == 200


async def test_alerts_listing_is_empty_and_says_off_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/alerts")).status_code == 401
    r = await client.get("/api/v1/alerts", headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {"enabled": False, "active": [], "recent": []}


async def _usage(client: httpx.AsyncClient, group_by: str) -> dict[str, Any]:
    r = await client.get("/api/v1/usage", params={"group_by": group_by}, headers=AUTH)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_usage_groups_by_tier_and_key(
    client: httpx.AsyncClient, upstream: RunningSandbox
) -> None:
    body = {"model": "sandbox/fast-small", "messages": HI}
    assert (await client.post("/v1/chat/completions", json=body, headers=AUTH)).is_success
    by_tier = await _usage(client, "tier")
    assert by_tier["group_by"] == "tier"
    assert sum(g["requests"] for g in by_tier["groups"]) == by_tier["totals"]["requests"] == 1
    by_key = await _usage(client, "key")
    assert len(by_key["groups"]) == 1 and by_key["groups"][0]["requests"] == 1
    bad = await client.get("/api/v1/usage", params={"group_by": "prompt"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"
