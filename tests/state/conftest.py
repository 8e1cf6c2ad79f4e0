"""Fixtures for the state layer: both backends, a controllable clock, unique Redis namespaces."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from state_helpers import FakeClock, StateFactory

from annas_gift.state import GatewayState


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis_namespace(redis_url: str) -> AsyncIterator[str]:
    """A namespace unique to the test; its keys are deleted afterwards."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    yield namespace
    client = aioredis.Redis.from_url(redis_url)
    try:
        for pattern in (f"{{{namespace}}}:*", f"{namespace}:*"):
            keys = [k async for k in client.scan_iter(match=pattern, count=1000)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


class _Factory:
    def __init__(self, backend: str, url: str | None, namespace: str, clock: FakeClock) -> None:
        self.backend = backend
        self.url = url
        self.namespace = namespace
        self.clock = clock
        self.created: list[GatewayState] = []

    async def __call__(self, **kwargs: Any) -> GatewayState:
        if self.url is None:
            kwargs.setdefault("clock", self.clock)
        else:
            # A loaded CI box must not turn a slow reply into a (correctly handled) "outage".
            kwargs.setdefault("socket_timeout", 5.0)
        state = await GatewayState.create(self.url, namespace=self.namespace, **kwargs)
        self.created.append(state)
        return state

    async def advance(self, seconds: float) -> None:
        if self.url is None:
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        for state in self.created:
            await state.aclose()


@pytest.fixture
async def redis_states(
    redis_url: str, redis_namespace: str, clock: FakeClock
) -> AsyncIterator[StateFactory]:
    """A factory of Redis-backed GatewayStates sharing one namespace (several instances)."""
    factory = _Factory("redis", redis_url, redis_namespace, clock)
    yield factory
    for state in factory.created:
        assert state.backend == "redis", "a Redis test silently fell back to memory"
    await factory.close()


@pytest.fixture
async def memory_states(clock: FakeClock) -> AsyncIterator[StateFactory]:
    """A factory of memory-backed GatewayStates on the fake clock."""
    factory = _Factory("memory", None, "annas", clock)
    yield factory
    await factory.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def new_state(request: pytest.FixtureRequest) -> StateFactory:
    """A factory of GatewayStates on the parametrized backend (memory uses the fake clock)."""
    factory: StateFactory = request.getfixturevalue(f"{request.param}_states")
    return factory


@pytest.fixture
async def state(new_state: StateFactory) -> GatewayState:
    """One GatewayState on the parametrized backend."""
    return await new_state()


@pytest.fixture
async def memory_state(clock: FakeClock) -> AsyncIterator[GatewayState]:
    """A memory GatewayState on the fake clock."""
    state = await GatewayState.create(None, clock=clock)
    yield state
    await state.aclose()
