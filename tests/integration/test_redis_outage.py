"""Redis going away under load costs no request: per-instance state, then shared again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from annas_gift.sandbox import RunningSandbox
from tests.api.conftest import free_port
from tests.integration.gateways import KEY, GatewayProcess, write_catalog

pytestmark = [pytest.mark.slow, pytest.mark.redis]
AUTH = {"Authorization": f"Bearer {KEY}"}


class RedisServer:
    """A throwaway redis-server the test can kill and restart on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_server(redis_url: str) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    yield server
    server.kill()


async def test_redis_stop_and_start_under_load_loses_nothing(
    tmp_path: Path, redis_server: RedisServer, sandbox: RunningSandbox
) -> None:
    catalog = write_catalog(
        tmp_path / "catalog.yaml", sandbox.base_url, {"shared/m": {"rpm": 100000}}
    )
    gw = GatewayProcess(
        tmp_path,
        {
            "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
            "ANNAS_GIFT_CACHE__NAMESPACE": f"o{uuid.uuid4().hex[:8]}",
            "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(catalog),
            "ANNAS_GIFT_SERVER__ACCESS_LOG": "false",
            # A cap far above what the test spends: every request reserves in the budget
            # ledger (uncapped keys skip it), so its Redis outage is exercised too.
            "ANNAS_GIFT_BUDGETS__GLOBAL_MONTHLY_USD": "1000000",
        },
    ).start()
    statuses: list[int] = []
    readiness: list[str] = []
    stop = asyncio.Event()

    async def load(client: httpx.AsyncClient) -> None:
        body = {"model": "shared/m", "messages": [{"role": "user", "content": "hi"}]}
        while not stop.is_set():
            r = await client.post(
                f"{gw.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30
            )
            statuses.append(r.status_code)

    try:
        async with httpx.AsyncClient() as client:
            workers = [asyncio.create_task(load(client)) for _ in range(4)]
            await asyncio.sleep(1.0)
            redis_server.kill()
            await asyncio.sleep(1.5)
            readiness.append((await client.get(f"{gw.url}/health/ready")).json()["checks"]["redis"])
            redis_server.start()
            await asyncio.sleep(3.0)  # the gateway re-checks Redis every 2 s
            readiness.append((await client.get(f"{gw.url}/health/ready")).json()["checks"]["redis"])
            stop.set()
            await asyncio.gather(*workers)
    finally:
        log = gw.stop()
    print(f"redis outage: {len(statuses)} requests, {statuses.count(200)} answered 200")
    assert len(statuses) > 50
    assert set(statuses) == {200}
    assert readiness == ["unreachable (per-instance state)", "ok"]
    # One warning for the outage, not one per request, from each part that uses Redis: the
    # shared state and the budget ledger (its own client); and one line each when it is back.
    assert log.count("Redis unavailable (") == 1
    assert log.count("Redis unavailable for budgets") == 1
    assert log.count("Redis unavailable") == 2
    assert log.count("Redis is back; shared state resumed") == 1
    assert log.count("Redis is back; budgets shared again") == 1
