"""Alerts through real gateway processes: a sandbox model starts failing, then recovers.

A loopback webhook receiver must get exactly one `firing` and one `resolved` message for the
incident, whether one gateway or two (sharing Redis and PostgreSQL) are watching it; the
incident is also listed by `GET /api/v1/alerts` and counted in `GET /metrics`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from annas_gift.sandbox import RunningSandbox, start_in_thread
from tests.conftest import _create_pg_database, _drop_pg_database, _require_pg
from tests.integration.gateways import KEY, GatewayProcess, write_catalog

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "shared/flaky"
HOOK_SECRET = "hook-s3cret-token"


class Receiver:
    """A webhook on 127.0.0.1 (its own thread) that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, status: str, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while not any(b["status"] == status for b in self.bodies):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {status} message; got {self.bodies}")
            time.sleep(0.1)


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


def _gateways(
    count: int, tmp_path: Path, pg_url: str, redis_url: str, sandbox: RunningSandbox, hook: str
) -> list[GatewayProcess]:
    catalog = write_catalog(tmp_path / "catalog.yaml", sandbox.base_url, {MODEL: {}})
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "ANNAS_GIFT_CACHE__NAMESPACE": f"al{uuid.uuid4().hex[:8]}",
        "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(catalog),
        "ANNAS_GIFT_SERVER__ACCESS_LOG": "false",
        "ANNAS_GIFT_STORAGE__FLUSH_INTERVAL_S": "0.05",
        "ANNAS_GIFT_ALERTS__ENABLED": "true",
        "ANNAS_GIFT_ALERTS__INTERVAL_S": "0.2",
        "ANNAS_GIFT_ALERTS__CHANNELS": json.dumps([{"name": "hook", "url": hook}]),
        "ANNAS_GIFT_ALERTS__DELIVERY__MIN_INTERVAL_S": "0",
        # Only the per-model error rate may fire: the scenario below is about that one rule.
        "ANNAS_GIFT_ALERTS__ERROR_RATE__ENABLED": "false",
        "ANNAS_GIFT_ALERTS__BREAKER_OPEN": "false",
        "ANNAS_GIFT_ALERTS__TIER_DOWN": "false",
        "ANNAS_GIFT_ALERTS__MODEL_ERROR_RATE__MIN_REQUESTS": "4",
        "ANNAS_GIFT_ALERTS__MODEL_ERROR_RATE__THRESHOLD": "0.5",
    }
    gateways = []
    for i in range(count):
        workdir = tmp_path / f"gw{i}"
        workdir.mkdir()
        spool = {"ANNAS_GIFT_STORAGE__SPOOL_PATH": str(workdir / "spool.jsonl")}
        gateways.append(GatewayProcess(workdir, {**env, **spool}))
    return gateways


def _chat(url: str) -> int:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)
    return r.status_code


@pytest.mark.parametrize("instances", [1, 2])
def test_a_failing_model_fires_once_and_resolves_once(
    instances: int,
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    sandbox: RunningSandbox,
    receiver: Receiver,
) -> None:
    hook = f"{receiver.url}/alerts/{HOOK_SECRET}"
    gateways = _gateways(instances, tmp_path, pg_url, redis_url, sandbox, hook)
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
        listed = httpx.get(f"{urls[-1]}/api/v1/alerts", headers=AUTH, timeout=10).json()
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
