"""Two gateway processes sharing Redis and PostgreSQL enforce one budget and one revocation."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from annas_gift.sandbox import RunningSandbox, start_in_thread
from tests.integration.gateways import GatewayProcess, write_catalog
from tests.keys.gateway_fixtures import ADMIN, BODY, COST, PRICE_OUT, auth, sandbox_defaults

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
BUDGET, SENT = 0.03, 80
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with start_in_thread(defaults=sandbox_defaults()) as sb:
        yield sb


@pytest.fixture
def two_gateways(
    tmp_path: Path, pg_url: str, redis_url: str, sandbox: RunningSandbox
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    prices = {"input_cost_per_token": 0, "output_cost_per_token": PRICE_OUT}
    catalog = write_catalog(tmp_path / "catalog.yaml", sandbox.base_url, {"shared/budget": prices})
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "ANNAS_GIFT_ADMIN_KEY": f"ops:{ADMIN}",
        "ANNAS_GIFT_CACHE__NAMESPACE": f"kmi{uuid.uuid4().hex[:8]}",
        "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(catalog),
        "ANNAS_GIFT_SERVER__ACCESS_LOG": "false",
        # The processes run in temporary directories: import this checkout, not an installed copy.
        "PYTHONPATH": str(REPO),
    }
    gateways = []
    for i in range(2):
        workdir = tmp_path / f"gw{i}"
        workdir.mkdir()
        spool = {"ANNAS_GIFT_STORAGE__SPOOL_PATH": str(workdir / "spool.jsonl")}
        gateways.append(GatewayProcess(workdir, {**env, **spool}))
    for gw in gateways:  # started together, as instances behind a load balancer are
        gw.launch()
    try:
        for gw in gateways:
            gw.wait_ready()
        yield gateways[0], gateways[1]
    finally:
        logs = [gw.stop() for gw in gateways]
        for log in logs:
            assert "ag-" not in log  # no secret (nor its prefix) in either process's log


async def _new_key(client: httpx.AsyncClient, url: str, **fields: object) -> tuple[str, str]:
    made = await client.post(f"{url}/api/v1/keys", json=fields, headers=auth(ADMIN))
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["secret"]


async def test_one_budget_across_two_instances_admits_exactly_its_worth(
    two_gateways: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = two_gateways
    async with httpx.AsyncClient(timeout=30) as client:
        _, secret = await _new_key(client, a.url, name="lab", budget_daily_usd=BUDGET)
        await asyncio.sleep(0.5)  # b hears of the key by pub/sub

        async def one(i: int) -> int:
            url = (a, b)[i % 2].url
            r = await client.post(f"{url}/v1/chat/completions", json=BODY, headers=auth(secret))
            if r.status_code != 200:
                assert r.json()["error"]["code"] == "budget_exceeded", r.text
            return r.status_code

        codes = await asyncio.gather(*(one(i) for i in range(SENT)))
    admitted, expected = codes.count(200), round(BUDGET / COST)
    print(f"two instances: sent {SENT}, admitted {admitted}, expected {expected}")
    assert admitted == expected
    assert codes.count(429) == SENT - expected


async def test_a_key_revoked_on_one_instance_is_refused_by_the_other_within_a_second(
    two_gateways: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = two_gateways
    async with httpx.AsyncClient(timeout=30) as client:
        key_id, secret = await _new_key(client, a.url, name="leaver")
        deadline = time.monotonic() + 5
        while (await client.get(f"{b.url}/v1/models", headers=auth(secret))).status_code != 200:
            assert time.monotonic() < deadline, "b never accepted the new key"
            await asyncio.sleep(0.05)
        revoked = await client.delete(f"{a.url}/api/v1/keys/{key_id}", headers=auth(ADMIN))
        assert revoked.status_code == 200
        began = time.monotonic()
        while (await client.get(f"{b.url}/v1/models", headers=auth(secret))).status_code == 200:
            assert time.monotonic() - began < 1.0, "b still accepts a revoked key after 1 s"
            await asyncio.sleep(0.01)
        took = time.monotonic() - began
        print(f"revocation seen by the other instance after {took * 1000:.0f} ms")
        refused = await client.get(f"{b.url}/v1/models", headers=auth(secret))
        assert refused.status_code == 401
