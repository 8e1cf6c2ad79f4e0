"""Rate limits, cooldowns, client-key limits and the response cache, through the API.

Every test runs on the in-process state and on real Redis (when configured).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from annas_gift.api.app import create_app
from annas_gift.catalog.demo import demo_model_list
from annas_gift.catalog.registry import Catalog
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import load_settings
from tests.api.conftest import ALICE, AUTH, KEY

MSG = [{"role": "user", "content": "What is the capital of France?"}]


def limited_catalog(base_url: str) -> Catalog:
    entries: list[dict[str, Any]] = demo_model_list(base_url)
    entries[0]["model_info"]["rpm"] = 2  # sandbox/fast-small: two requests a minute
    return Catalog.from_model_list(entries, price=False)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def state_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
async def limited_client(
    state_url: str | None, sqlite_url: str, tmp_path: Path, upstream: RunningSandbox
) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        auth={"api_keys": [KEY, f"alice:{ALICE}"], "key_limits": {"alice": {"rpm": 2}}},
        storage={"database_url": sqlite_url, "spool_path": str(tmp_path / "spool.jsonl")},
        # A fresh namespace per test keeps Redis runs from seeing each other's counters.
        cache={
            "redis_url": state_url,
            "namespace": f"t{uuid.uuid4().hex[:8]}",
            "snapshot_max_age_s": 0,
        },
        litellm={"timeout_s": 5.0},
    )
    app: FastAPI = create_app(settings, catalog=limited_catalog(upstream.base_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


def chat(model: str = "sandbox/fast-small", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MSG, **extra}


async def test_model_limit_gives_429_with_retry_after(limited_client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (
            await limited_client.post("/v1/chat/completions", json=chat(), headers=AUTH)
        ).status_code == 200
    r = await limited_client.post("/v1/chat/completions", json=chat(), headers=AUTH)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "model_rate_limited"
    assert 0 < int(r.headers["retry-after"]) <= 60
    status = (
        await limited_client.get("/api/v1/models/sandbox/fast-small/status", headers=AUTH)
    ).json()
    assert status["remaining"]["rpm"] == 0
    assert status["headroom"] == 0
    usage = (await limited_client.get("/api/v1/usage", headers=AUTH)).json()["totals"]
    assert usage["rate_limit_hits"] == 1


async def test_exhausted_model_is_routed_around(
    limited_client: httpx.AsyncClient, upstream: RunningSandbox
) -> None:
    for _ in range(2):
        await limited_client.post("/v1/chat/completions", json=chat(), headers=AUTH)
    upstream.clear()
    r = await limited_client.post(
        "/v1/chat/completions", json=chat(fallbacks=["sandbox/fast-coder"]), headers=AUTH
    )
    assert r.status_code == 200
    assert r.headers["x-annas-model"] == "sandbox/fast-coder"
    assert [q["model"] for q in upstream.requests()] == [
        "fast-coder"
    ]  # never sent to the limited one


async def test_provider_429_cools_the_model_down_for_auto(
    limited_client: httpx.AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("fast-coder", ["status=429;retry_after=30"])
    body = chat(
        "auto:fast", messages=[{"role": "user", "content": "Debug: ```x = [1,2\nprint(x)```"}]
    )
    first = await limited_client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert first.status_code == 200
    status = (
        await limited_client.get("/api/v1/models/sandbox/fast-coder/status", headers=AUTH)
    ).json()
    assert status["cooled_down_until"] is not None
    assert status["last_error"]
    upstream.clear()
    again = await limited_client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert again.status_code == 200
    assert again.headers["x-annas-model"] != "sandbox/fast-coder"
    assert all(q["model"] != "fast-coder" for q in upstream.requests())


async def test_client_key_limit(limited_client: httpx.AsyncClient) -> None:
    alice = {"Authorization": f"Bearer {ALICE}"}
    for _ in range(2):
        r = await limited_client.post(
            "/v1/chat/completions", json=chat("sandbox/fast-coder"), headers=alice
        )
        assert r.status_code == 200
    r = await limited_client.post(
        "/v1/chat/completions", json=chat("sandbox/fast-coder"), headers=alice
    )
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "client_rate_limit_exceeded"
    assert int(r.headers["retry-after"]) >= 1
    other = await limited_client.post(
        "/v1/chat/completions", json=chat("sandbox/fast-coder"), headers=AUTH
    )
    assert other.status_code == 200  # limits are per key


async def test_deterministic_requests_are_cached(
    limited_client: httpx.AsyncClient, upstream: RunningSandbox
) -> None:
    body = chat("sandbox/powerful-large", temperature=0)
    first = await limited_client.post("/v1/chat/completions", json=body, headers=AUTH)
    second = await limited_client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert first.headers["x-annas-cache"] == "miss"
    assert second.headers["x-annas-cache"] == "hit"
    assert second.json()["choices"] == first.json()["choices"]
    assert float(second.headers["x-annas-cost-usd"]) == 0
    assert len(upstream.requests()) == 1
    usage = (await limited_client.get("/api/v1/usage", headers=AUTH)).json()["totals"]
    assert usage["requests"] == 2
    assert usage["saved_cost_usd"] == pytest.approx(float(first.headers["x-annas-cost-usd"]))


async def test_cache_opt_out_and_non_deterministic_requests_miss(
    limited_client: httpx.AsyncClient, upstream: RunningSandbox
) -> None:
    for extra in ({"temperature": 0, "cache": False}, {"temperature": 0.7}, {}):
        for _ in range(2):
            r = await limited_client.post(
                "/v1/chat/completions", json=chat("sandbox/powerful-large", **extra), headers=AUTH
            )
            assert r.headers["x-annas-cache"] == "miss"
    assert len(upstream.requests()) == 6
    assert all("cache" not in q["body"] for q in upstream.requests())  # our flag stays ours


async def test_cache_opt_in_and_errors_not_cached(
    limited_client: httpx.AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("powerful-large", ["status=500"])
    body = chat("sandbox/powerful-large", temperature=0.9, cache=True)
    failed = await limited_client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert failed.status_code == 502
    ok = await limited_client.post("/v1/chat/completions", json=body, headers=AUTH)
    hit = await limited_client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert (ok.status_code, ok.headers["x-annas-cache"]) == (200, "miss")
    assert (hit.status_code, hit.headers["x-annas-cache"]) == (200, "hit")


async def test_ready_reports_state_backend(
    limited_client: httpx.AsyncClient, state_url: str | None
) -> None:
    body = (await limited_client.get("/health/ready")).json()
    assert body["checks"]["redis"] == ("ok" if state_url else "not configured")
