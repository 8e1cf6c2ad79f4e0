"""Redis outages: fall back to per-instance state with one warning, resume when Redis returns."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from state_helpers import eventually, make_model

from annas_gift.catalog.rate_limits import ClientLimits
from annas_gift.state import GatewayState

pytestmark = [pytest.mark.redis, pytest.mark.slow]
LOGGER = "annas_gift.state"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A throwaway redis-server on its own port, to stop and start mid-test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = await asyncio.create_subprocess_exec(
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = aioredis.Redis.from_url(self.url)
        try:
            for _ in range(200):
                try:
                    if await client.ping():
                        return
                except (aioredis.ConnectionError, OSError):
                    await asyncio.sleep(0.02)
            raise AssertionError("redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server binary not available")
    srv = RedisServer(_free_port())
    await srv.start()
    yield srv
    await srv.stop()


def _messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


async def _exercise(state: GatewayState) -> None:
    """Every facade call, as the gateway makes them per request."""
    model = make_model("out", rpm=100, tpm=10_000)
    admitted = await state.admit(model, 10)
    assert admitted.ok
    await state.settle(
        model, 10, 12, {"x-ratelimit-remaining-requests": "50"}, ticket=admitted.ticket
    )
    await state.report(model, ok=True, latency_ms=12)
    await state.report(make_model("out429"), ok=False, latency_ms=12, status=429)
    assert "out" in await state.snapshot([model])
    assert (await state.admit_client("key", ClientLimits(rpm=100), 10)).ok
    await state.cache_set("c", b"v", 60)
    assert await state.cache_get("c") == b"v"
    assert await state.inflight(model, 1) >= 1
    await state.inflight(model, -1)


async def test_redis_dies_and_comes_back(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    state = await GatewayState.create(server.url, retry_interval_s=0.1, socket_timeout=0.5)
    try:
        assert state.backend == "redis"
        await _exercise(state)

        await server.stop()
        for _ in range(3):
            await _exercise(state)  # nothing raises
        assert state.backend == "memory (redis unavailable)"
        assert not await state.ping()
        await asyncio.sleep(0.35)  # several failed recovery attempts
        await _exercise(state)
        warnings = _messages(caplog, logging.WARNING)
        assert len(warnings) == 1, warnings
        assert "per-instance state" in warnings[0]

        await server.start()
        await eventually(lambda: state.backend == "redis")
        assert len(_messages(caplog, logging.INFO)) == 1
        model = make_model("back", rpm=5)
        assert (await state.admit(model, 0)).ok
        assert (await state.snapshot([model]))["back"].remaining["rpm"] == 4
        probe = aioredis.Redis.from_url(server.url)
        try:
            assert await probe.exists("{annas}:rl:m:back:60") == 1  # really in Redis again
        finally:
            await probe.aclose()
        assert len(_messages(caplog, logging.WARNING)) == 1
    finally:
        await state.aclose()


async def test_redis_down_at_start(caplog: pytest.LogCaptureFixture, redis_url: str) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    state = await GatewayState.create(f"redis://127.0.0.1:{_free_port()}/0", retry_interval_s=0.05)
    try:
        assert state.backend == "memory (redis unavailable)"
        await _exercise(state)
        await asyncio.sleep(0.2)
        await _exercise(state)
        assert not await state.ping()
        assert len(_messages(caplog, logging.WARNING)) == 1
    finally:
        await state.aclose()
