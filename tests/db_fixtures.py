"""Database fixtures shared by the storage and monitoring tests: migrated DBs, engines, sessions."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from annas_gift.core.events import UsageEvent
from annas_gift.storage import database, migrate


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """The fresh database with the Alembic migrations applied."""
    await asyncio.to_thread(migrate.upgrade, database_url)
    return database_url


@pytest.fixture
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    eng = database.create_engine(migrated_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return database.session_factory(engine)


@pytest.fixture
def usage_event() -> Callable[..., UsageEvent]:
    """Build a UsageEvent; keyword arguments override the defaults."""

    made = itertools.count(1)

    def make(**overrides: Any) -> UsageEvent:
        # A fresh request id each: (request_id, model, created_at) is unique in usage_records.
        fields: dict[str, Any] = {
            "request_id": f"req-{next(made)}",
            "created_at": datetime(2024, 3, 1, 12, 30, tzinfo=UTC),
            "key_id": "alice",
            "route": "openai",
            "provider": "openai",
            "model": "gpt-small",
            "upstream_model": "openai/gpt-small",
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "cost_usd": 0.01,
            "latency_ms": 100.0,
            "status": 200,
            "error_type": None,
            "stream": False,
        }
        fields.update(overrides)
        return UsageEvent(**fields)

    return make
