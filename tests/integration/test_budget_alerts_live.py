"""Budget alerts through a real gateway process: a virtual key spends through the sandbox past
80% and then 100% of its daily budget, and a loopback webhook receiver gets one `firing`
message for each threshold (and `resolved` for both once the budget is raised); the alerts
are listed by `GET /api/v1/alerts` and shown on the dashboard's alerts page.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from annas_gift.sandbox import RunningSandbox, start_in_thread
from tests.conftest import _create_pg_database, _drop_pg_database, _require_pg
from tests.integration.gateways import GatewayProcess, write_catalog
from tests.integration.test_alerts_live import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
ADMIN = "sk-budget-alerts-admin"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
MODEL = "shared/budget"
PRICE_OUT = 0.0001  # USD per completion token; prompts are free
DAILY_USD = 0.01  # 100 completion tokens


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    admin = _require_pg()
    url, name = await _create_pg_database(admin)
    yield url
    await _drop_pg_database(admin, name)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with start_in_thread() as sb:
        yield sb


def _gateway(
    tmp_path: Path, pg_url: str, redis_url: str, sandbox: RunningSandbox, hook: str
) -> GatewayProcess:
    prices: dict[str, object] = {"input_cost_per_token": 0, "output_cost_per_token": PRICE_OUT}
    catalog = write_catalog(tmp_path / "catalog.yaml", sandbox.base_url, {MODEL: prices})
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "ANNAS_GIFT_ADMIN_KEY": f"ops:{ADMIN}",
        "ANNAS_GIFT_CACHE__NAMESPACE": f"ba{uuid.uuid4().hex[:8]}",
        "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(catalog),
        "ANNAS_GIFT_SERVER__ACCESS_LOG": "false",
        "ANNAS_GIFT_STORAGE__FLUSH_INTERVAL_S": "0.05",
        "ANNAS_GIFT_STORAGE__SPOOL_PATH": str(tmp_path / "spool.jsonl"),
        "ANNAS_GIFT_ALERTS__ENABLED": "true",
        "ANNAS_GIFT_ALERTS__INTERVAL_S": "0.2",
        "ANNAS_GIFT_ALERTS__CHANNELS": json.dumps([{"name": "hook", "url": hook}]),
        "ANNAS_GIFT_ALERTS__DELIVERY__MIN_INTERVAL_S": "0",
        # Only the budget rule may fire: the scenario below is about that one.
        "ANNAS_GIFT_ALERTS__ERROR_RATE__ENABLED": "false",
        "ANNAS_GIFT_ALERTS__MODEL_ERROR_RATE__ENABLED": "false",
        "ANNAS_GIFT_ALERTS__BREAKER_OPEN": "false",
        "ANNAS_GIFT_ALERTS__TIER_DOWN": "false",
    }
    return GatewayProcess(tmp_path, env)


def _chat(url: str, secret: str) -> httpx.Response:
    # max_tokens=1 keeps the estimate tiny; the sandbox then reports more output than that
    # (tokens=<p>,<c>), as a provider ignoring max_tokens would: the real cost is recorded.
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    headers = {"Authorization": f"Bearer {secret}"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def _firing_subjects(receiver: Receiver) -> list[str]:
    return [b["subject"] for b in receiver.bodies if b["status"] == "firing"]


def _wait_for_count(receiver: Receiver, status: str, count: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while sum(b["status"] == status for b in receiver.bodies) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} {status} messages; got {receiver.bodies}")
        time.sleep(0.1)


def test_a_key_crossing_80_and_100_percent_of_its_budget_alerts_once_each(
    tmp_path: Path, pg_url: str, redis_url: str, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    gw = _gateway(tmp_path, pg_url, redis_url, sandbox, f"{receiver.url}/budget-hook")
    gw.launch()
    try:
        gw.wait_ready()
        made = httpx.post(
            f"{gw.url}/api/v1/keys",
            json={"name": "lab-alice", "budget_daily_usd": DAILY_USD},
            headers=ADMIN_AUTH,
            timeout=10,
        )
        assert made.status_code == 201, made.text
        key_id, secret = made.json()["id"], made.json()["secret"]
        at80, at100 = f"{key_id}/day/80%", f"{key_id}/day/100%"

        sandbox.script("budget", ["tokens=5,85"])  # $0.0085: 85% of the daily budget
        assert _chat(gw.url, secret).status_code == 200
        _wait_for_count(receiver, "firing", 1)
        assert _firing_subjects(receiver) == [at80]

        sandbox.script("budget", ["tokens=5,30"])  # +$0.0030: 115%
        assert _chat(gw.url, secret).status_code == 200
        _wait_for_count(receiver, "firing", 2)
        refused = _chat(gw.url, secret)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "budget_exceeded"
        time.sleep(1.5)  # several more evaluation rounds: nothing more is sent
        assert _firing_subjects(receiver) == [at80, at100]
        first, second = receiver.bodies[:2]
        assert first["severity"] == "warning" and second["severity"] == "critical"
        assert "'lab-alice' has used 115% of its daily budget" in second["summary"]

        spend = httpx.get(f"{gw.url}/api/v1/keys/{key_id}", headers=ADMIN_AUTH).json()["spend"]
        assert spend["day_usd"] == pytest.approx(0.0115)
        listed = httpx.get(f"{gw.url}/api/v1/alerts", headers=ADMIN_AUTH, timeout=10).json()
        assert sorted((a["rule"], a["subject"], a["state"]) for a in listed["active"]) == [
            ("key_budget", at100, "firing"),
            ("key_budget", at80, "firing"),
        ]
        with httpx.Client(base_url=gw.url, timeout=10, follow_redirects=True) as browser:
            page = browser.post(
                "/dashboard/login", data={"key": ADMIN, "next": "/dashboard/alerts"}
            )
            assert page.status_code == 200 and "/dashboard/alerts" in str(page.url)
            assert at80 in page.text and at100 in page.text
            assert "lab-alice" in page.text and secret not in page.text

        # The administrator raises the budget: both incidents resolve, once each.
        raised = httpx.patch(
            f"{gw.url}/api/v1/keys/{key_id}", json={"budget_daily_usd": 1.0}, headers=ADMIN_AUTH
        )
        assert raised.status_code == 200, raised.text
        _wait_for_count(receiver, "resolved", 2)
        time.sleep(1.0)
    finally:
        logs = gw.stop()
    got = sorted((b["status"], b["subject"]) for b in receiver.bodies)
    print(f"budget alerts: {json.dumps({'messages': len(got), 'got': got})}")
    assert got == [
        ("firing", at100), ("firing", at80), ("resolved", at100), ("resolved", at80)
    ]  # fmt: skip
    assert len({b["incident_id"] for b in receiver.bodies}) == 2  # one incident per threshold
    assert secret not in logs
