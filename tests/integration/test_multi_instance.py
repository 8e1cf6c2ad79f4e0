"""Two gateway processes sharing one Redis and one PostgreSQL behave as one gateway.

They admit exactly a model's limit in total, see each other's cooldowns, share one response
cache, and write all their usage to the one database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from annas_gift.sandbox import RunningSandbox
from annas_gift.storage import database, migrate
from annas_gift.storage.models import UsageRecord
from tests.integration.gateways import KEY, GatewayProcess, write_catalog

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMIT = 20


@pytest.fixture
def two_gateways(
    tmp_path: Path, pg_url: str, redis_url: str, sandbox: RunningSandbox
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    catalog = write_catalog(
        tmp_path / "catalog.yaml",
        sandbox.base_url,
        {"shared/limited": {"rpm": LIMIT}, "shared/cooled": {}, "shared/cached": {}},
    )
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "ANNAS_GIFT_CACHE__NAMESPACE": f"mi{uuid.uuid4().hex[:8]}",
        "ANNAS_GIFT_CACHE__SNAPSHOT_MAX_AGE_S": "0",
        "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(catalog),
        "ANNAS_GIFT_SERVER__ACCESS_LOG": "false",
    }
    gateways = []
    for i in range(2):
        workdir = tmp_path / f"gw{i}"
        workdir.mkdir()
        spool = {"ANNAS_GIFT_STORAGE__SPOOL_PATH": str(workdir / "spool.jsonl")}
        gateways.append(GatewayProcess(workdir, {**env, **spool}))
    # Both start (and migrate) at the same time, as instances behind a load balancer do.
    for gw in gateways:
        gw.launch()
    try:
        for gw in gateways:
            gw.wait_ready()
        yield gateways[0], gateways[1]
    finally:
        for gw in gateways:
            gw.stop()


async def _chat(client: httpx.AsyncClient, url: str, model: str, **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    return await client.post(f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


async def test_two_instances_share_limits_cooldowns_cache_and_usage(
    two_gateways: tuple[GatewayProcess, GatewayProcess], sandbox: RunningSandbox, pg_url: str
) -> None:
    a, b = two_gateways
    sent = 60
    async with httpx.AsyncClient() as client:
        # 60 concurrent requests, alternating instances, against a 20-rpm model.
        responses = await asyncio.gather(
            *(_chat(client, (a, b)[i % 2].url, "shared/limited") for i in range(sent))
        )
        per_instance = {
            gw.url: {
                "sent": sum(1 for i in range(sent) if (a, b)[i % 2] is gw),
                "admitted": sum(
                    1
                    for i, r in enumerate(responses)
                    if (a, b)[i % 2] is gw and r.status_code == 200
                ),
            }
            for gw in (a, b)
        }
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) == LIMIT, per_instance
        assert statuses.count(429) == sent - LIMIT
        assert all(r.headers.get("retry-after") for r in responses if r.status_code == 429)
        print(f"multi-instance admission: {per_instance}")

        # A provider 429 seen by A cools the model down for B too.
        sandbox.script("cooled", ["status=429;retry_after=30"])
        assert (await _chat(client, a.url, "shared/cooled")).status_code == 429
        sandbox.clear()
        status = (
            await client.get(f"{b.url}/api/v1/models/shared/cooled/status", headers=AUTH)
        ).json()
        assert status["cooled_down_until"] is not None
        from_b = await _chat(client, b.url, "shared/cooled")
        assert from_b.status_code == 429
        assert from_b.json()["error"]["code"] == "model_rate_limited"
        assert sandbox.requests() == []  # B never sent it to the provider

        # One cache: A answers, B serves the same deterministic request from the cache.
        first = await _chat(client, a.url, "shared/cached", temperature=0)
        second = await _chat(client, b.url, "shared/cached", temperature=0)
        assert (first.headers["x-annas-cache"], second.headers["x-annas-cache"]) == ("miss", "hit")
        assert len(sandbox.requests()) == 1

    for gw in (a, b):
        gw.stop()  # graceful: each flushes its usage
    engine = database.create_engine(pg_url)
    try:
        async with database.session_factory(engine)() as session:
            rows = await session.scalar(select(func.count()).select_from(UsageRecord))
    finally:
        await engine.dispose()
    # 60 limited attempts + 2 cooled (A's provider 429, B's local refusal) + 2 cached.
    assert rows == sent + 2 + 2
    assert migrate.current(pg_url) == migrate.head()
