"""Alerts through real gateway processes: a sandbox model starts failing, then recovers.

A loopback webhook receiver must get exactly one `firing` and one `resolved` message for the
incident, whether one gateway or two (sharing Redis and PostgreSQL) are watching it; the
incident is also listed by `GET /api/v1/alerts` and counted in `GET /metrics`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from annas_gift.sandbox import RunningSandbox
from tests.integration.alerting import Receiver, alerting_gateways
from tests.integration.gateways import KEY, write_catalog

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "shared/flaky"
HOOK_SECRET = "hook-s3cret-token"
# Only the per-model error rate may fire: the scenario below is about that one rule.
MODEL_ERROR_RATE = {
    "ANNAS_GIFT_ALERTS__MODEL_ERROR_RATE__ENABLED": "true",
    "ANNAS_GIFT_ALERTS__MODEL_ERROR_RATE__MIN_REQUESTS": "4",
    "ANNAS_GIFT_ALERTS__MODEL_ERROR_RATE__THRESHOLD": "0.5",
}


def _chat(url: str) -> int:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)
    return r.status_code


def _alerts_once_active(url: str, within: float = 15.0) -> dict[str, Any]:
    """The instance's alert listing as soon as it has an active alert (or at the deadline)."""
    deadline = time.monotonic() + within
    while True:
        listed: dict[str, Any] = httpx.get(f"{url}/api/v1/alerts", headers=AUTH, timeout=10).json()
        if listed["active"] or time.monotonic() > deadline:
            return listed
        time.sleep(0.1)


@pytest.mark.parametrize("instances", [1, 2])
def test_a_failing_model_fires_once_and_resolves_once(
    instances: int,
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    sandbox: RunningSandbox,
    receiver: Receiver,
) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", sandbox.base_url, {MODEL: {}})
    gateways = alerting_gateways(
        instances, tmp_path, pg_url=pg_url, redis_url=redis_url, catalog=catalog,
        hook=f"{receiver.url}/alerts/{HOOK_SECRET}", env=MODEL_ERROR_RATE,
    )  # fmt: skip
    for gw in gateways:
        gw.launch()
    logs = ""
    try:
        for gw in gateways:
            gw.wait_ready()
        urls = [gw.url for gw in gateways]
        # Failing: 4 of 6 calls fail, never 3 in a row (so the breaker stays closed).
        sandbox.script("flaky", ["status=500", "status=500", "ok", "status=500", "status=500"])
        seen = [_chat(urls[i % len(urls)]) for i in range(6)]
        assert seen.count(200) == 2 and len(seen) == 6, seen
        receiver.wait_for("firing")
        # Each instance lists what its own evaluation found: the one that did not send the
        # message may see the shared numbers a round later.
        listed = _alerts_once_active(urls[-1])
        assert [(a["rule"], a["subject"], a["state"]) for a in listed["active"]] == [
            ("model_error_rate", MODEL, "firing")
        ]
        scrape = httpx.get(f"{urls[0]}/metrics", timeout=10).text
        assert "annas_gift_requests_total{" in scrape and 'model="shared/flaky"' in scrape
        # Recovering: enough successes bring the rate under the threshold.
        assert [_chat(urls[i % len(urls)]) for i in range(10)] == [200] * 10
        receiver.wait_for("resolved")
        time.sleep(1.5)  # several more evaluation rounds on every instance: nothing more is sent
        listed = httpx.get(f"{urls[0]}/api/v1/alerts", headers=AUTH, timeout=10).json()
        assert listed["active"] == []
        assert [(r["rule"], r["state"]) for r in listed["recent"]] == [
            ("model_error_rate", "resolved")
        ]
    finally:
        for gw in gateways:
            logs += gw.stop()
    got = [(b["status"], b["rule"], b["subject"]) for b in receiver.bodies]
    print(f"alerts with {instances} gateway(s): {json.dumps({'messages': len(got)})}")
    assert got == [
        ("firing", "model_error_rate", MODEL),
        ("resolved", "model_error_rate", MODEL),
    ]
    assert len({b["incident_id"] for b in receiver.bodies}) == 1  # one incident, both messages
    assert all(p == f"/alerts/{HOOK_SECRET}" for p in receiver.paths)
    assert HOOK_SECRET not in logs  # the channel URL is a secret: never logged
