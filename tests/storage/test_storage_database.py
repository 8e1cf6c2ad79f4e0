"""Engine set-up, URL handling, ping and timestamp round trips on both backends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from annas_gift.core.events import UsageEvent
from annas_gift.storage import database
from annas_gift.storage.models import UsageRecord
from annas_gift.storage.repositories import UsageRepository, VPNEndpointRepository


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./data/x.db", "sqlite+aiosqlite:///./data/x.db"),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert database.normalize_url(given) == expected


def test_normalize_url_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="scheme"):
        database.normalize_url("not a url")


def test_redact_url_hides_the_password() -> None:
    shown = database.redact_url("postgresql+asyncpg://anna:hunter2@db:5432/gw")
    assert "hunter2" not in shown
    assert shown.startswith("postgresql+asyncpg://anna:")
    assert "db:5432/gw" in shown


async def test_sqlite_engine_creates_its_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "gw.db"
    engine = database.create_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            sync = (await conn.execute(text("PRAGMA synchronous"))).scalar()
            busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
        assert path.exists()
        assert (mode, sync, busy) == ("wal", 1, database.SQLITE_BUSY_TIMEOUT_MS)  # 1 = NORMAL
    finally:
        await engine.dispose()


async def test_postgres_engine_pools_and_pre_pings(postgres_url: str) -> None:
    database_url = postgres_url
    engine = database.create_engine(database_url.replace("+asyncpg", ""))
    try:
        assert engine.dialect.driver == "asyncpg"
        assert engine.pool.size() == 10  # type: ignore[attr-defined]
        assert engine.pool._pre_ping
        assert await database.ping(engine)
    finally:
        await engine.dispose()


async def test_ping_is_true_when_up(engine: AsyncEngine) -> None:
    assert await database.ping(engine) is True


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
        "sqlite+aiosqlite:////proc/no-such-dir/x.db",
    ],
)
async def test_ping_is_false_when_down_and_never_raises(url: str) -> None:
    before = set(threading.enumerate())
    down = create_async_engine(url)  # not database.create_engine: that would mkdir the path
    try:
        assert await database.ping(down) is False
    finally:
        await down.dispose()
        # aiosqlite stops a failed connection's worker thread without awaiting it; let it finish
        # while this test's loop is still open, or it reports "Event loop is closed".
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=5)


async def test_objects_stay_readable_after_commit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        endpoint = await VPNEndpointRepository(session).add("eu-1", "http://proxy:3128")
    # With expire_on_commit=True this would need a lazy load, which async sessions refuse.
    assert endpoint.name == "eu-1"
    assert endpoint.id > 0


async def test_timestamps_come_back_aware_utc(
    sessions: async_sessionmaker[AsyncSession], usage_event: Callable[..., UsageEvent]
) -> None:
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2024, 5, 6, 1, 15, 30, 123456, tzinfo=plus_two)
    async with sessions() as session, session.begin():
        await UsageRepository(session).add_records([usage_event(created_at=moment)])
    async with sessions() as session:
        stored = (await session.scalars(select(UsageRecord))).one()
        # Filtering with an aware bound finds it on either side of the UTC day line.
        found = await session.scalar(
            select(UsageRecord.id).where(
                UsageRecord.created_at >= datetime(2024, 5, 5, 23, tzinfo=UTC)
            )
        )
    assert stored.created_at == moment
    assert stored.created_at.tzinfo is UTC
    assert stored.created_at.hour == 23
    assert found == stored.id
