"""Fixtures for keys and budgets: a settable clock, Redis clients on a throwaway namespace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.services.keys import hash_secret, new_secret, secret_prefix
from annas_gift.state.budgets import BudgetLedger
from annas_gift.storage.repositories.keys import KeyRepository


async def add_key(sessions: async_sessionmaker[AsyncSession], name: str, **fields: object) -> str:
    """Store virtual key `vk-<name>` straight through the repository; returns its secret."""
    secret = new_secret()
    async with sessions() as session, session.begin():
        await KeyRepository(session).create(
            key_id=f"vk-{name}",
            name=name,
            secret_hash=hash_secret(secret),
            prefix=secret_prefix(secret),
            **fields,  # type: ignore[arg-type]
        )
    return secret


class FakeClock:
    """A settable clock (epoch seconds)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# 2026-12-31 23:59:00 UTC: a day and a month (and a year) end a minute later.
NEW_YEARS_EVE = 1_798_761_540.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NEW_YEARS_EVE)


@pytest.fixture
async def redis_namespace(redis_url: str) -> AsyncIterator[str]:
    """A namespace unique to the test; its keys are deleted afterwards."""
    namespace = f"k{uuid.uuid4().hex[:10]}"
    yield namespace
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{{{namespace}}}:*", count=1000)]
        keys += [k async for k in client.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


LedgerFactory = Callable[[], Awaitable[BudgetLedger]]


@pytest.fixture
async def redis_ledgers(redis_url: str, redis_namespace: str) -> AsyncIterator[LedgerFactory]:
    """Redis-backed ledgers sharing one namespace (several gateway instances)."""
    clients: list[aioredis.Redis] = []

    async def make() -> BudgetLedger:
        client = aioredis.Redis.from_url(redis_url, socket_timeout=5.0)
        clients.append(client)
        return BudgetLedger(client, namespace=redis_namespace)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def memory_ledgers(clock: FakeClock) -> LedgerFactory:
    """Memory ledgers on the fake clock (each its own process, as far as budgets go)."""

    async def make() -> BudgetLedger:
        return BudgetLedger(clock=clock)

    return make


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def new_ledger(request: pytest.FixtureRequest) -> LedgerFactory:
    """A ledger factory on the parametrized store."""
    factory: LedgerFactory = request.getfixturevalue(f"{request.param}_ledgers")
    return factory


@pytest.fixture
async def ledger(new_ledger: LedgerFactory) -> BudgetLedger:
    """One ledger on the parametrized store (memory uses the fake clock)."""
    return await new_ledger()
