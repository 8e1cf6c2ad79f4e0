"""UsageTracker when the database is down: buffering, spooling, replay, no loss."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tracker_probes import eventually, request_ids, rows_reach

from annas_gift.core.events import ClassificationEvent, SelectionEvent, UsageEvent
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.storage import database, migrate
from annas_gift.storage.repositories import (
    ClassificationRepository,
    SelectionRepository,
    UsageRepository,
)
from annas_gift.storage.spool import Spool

Make = Callable[..., UsageEvent]
Sessions = async_sessionmaker[AsyncSession]
HOUR = datetime(2024, 3, 1, 12, tzinfo=UTC)


async def test_outage_buffers_then_writes_everything(
    database_url: str, raw_engine: AsyncEngine, usage_event: Make
) -> None:
    sessions = database.session_factory(raw_engine)
    tracker = UsageTracker(sessions, flush_interval=0.02, max_backoff=0.1)
    await tracker.start()
    try:
        for i in range(30):
            tracker.record_request(usage_event(request_id=f"r{i:02}", status=429 if i % 3 else 200))
        tracker.record_decision(ClassificationEvent("r00", HOUR, "fast", "chat", 1, 0, {}), None)
        assert not await tracker.flush()  # no schema yet: the database refuses
        assert tracker.pending == 31
        assert tracker.last_error is not None
        await asyncio.sleep(0.2)  # a few background retries fail too; nothing is lost
        assert tracker.pending == 31

        await asyncio.to_thread(migrate.upgrade, database_url)  # the database comes back
        await eventually(rows_reach(sessions, 30))  # the flusher retries by itself
        assert tracker.pending == 0
    finally:
        await tracker.stop()
    assert await request_ids(sessions) == [f"r{i:02}" for i in range(30)]
    async with sessions() as session:
        (metric,) = await UsageRepository(session).hourly()
        assert len(await ClassificationRepository(session).for_request("r00")) == 1
    assert (metric.requests, metric.rate_limit_hits, metric.errors) == (30, 20, 20)
    assert (tracker.written, tracker.dropped) == (31, 0)


async def test_overflow_spills_to_the_spool_and_is_replayed(
    database_url: str, raw_engine: AsyncEngine, usage_event: Make, tmp_path: Path
) -> None:
    spool = tmp_path / "spool" / "usage.jsonl"
    sessions = database.session_factory(raw_engine)
    tracker = UsageTracker(
        sessions, flush_interval=0.02, max_buffer=5, spool_path=spool, max_backoff=0.1
    )
    await tracker.start()
    try:
        # 5 fill the buffer; the next 5 overflow and are spooled at once (a whole buffer
        # behind); the last 2 overflow and are spooled by the background task.
        for i in range(12):
            tracker.record_request(usage_event(request_id=f"r{i:02}"))
        assert tracker.pending + tracker.spooled == 12

        async def all_spooled() -> bool:
            return tracker.spooled == 7

        await eventually(all_spooled)
        assert len(spool.read_text().splitlines()) == 7
        assert (tracker.pending, tracker.dropped) == (5, 0)

        await asyncio.to_thread(migrate.upgrade, database_url)
        assert await tracker.flush()
        assert not spool.exists()
    finally:
        await tracker.stop()
    assert await request_ids(sessions) == [f"r{i:02}" for i in range(12)]
    async with sessions() as session:
        (metric,) = await UsageRepository(session).hourly()
    assert metric.requests == 12  # replayed records count in the hourly metrics too
    assert (tracker.written, tracker.dropped) == (12, 0)


async def test_stop_during_outage_spools_and_next_start_replays(
    database_url: str, raw_engine: AsyncEngine, usage_event: Make, tmp_path: Path
) -> None:
    spool = tmp_path / "usage.jsonl"
    sessions = database.session_factory(raw_engine)
    first = UsageTracker(sessions, flush_interval=3600, spool_path=spool, stop_timeout=2)
    await first.start()
    for i in range(12):
        first.record_request(usage_event(request_id=f"r{i:02}"))
    first.record_decision(None, SelectionEvent("r00", HOUR, "fast", "chat", "p", "m", "why",
                                               None, None, None, None))  # fmt: skip
    await first.stop()  # the database is still down: everything goes to the spool
    assert (first.spooled, first.dropped, first.pending) == (13, 0, 0)
    assert len(spool.read_text().splitlines()) == 13

    await asyncio.to_thread(migrate.upgrade, database_url)
    second = UsageTracker(sessions, flush_interval=3600, spool_path=spool)
    await second.start()  # replays the spool before serving
    try:
        assert await request_ids(sessions) == [f"r{i:02}" for i in range(12)]
        async with sessions() as session:
            assert len(await SelectionRepository(session).for_request("r00")) == 1
        assert not spool.exists()
    finally:
        await second.stop()


async def test_replay_resumes_after_a_partial_failure(
    sessions: Sessions, usage_event: Make, tmp_path: Path
) -> None:
    """A replay cut short by an outage continues where it stopped, without duplicates."""
    spool = tmp_path / "usage.jsonl"
    tracker = UsageTracker(sessions, flush_interval=3600, batch_size=4, spool_path=spool)
    # Fill the spool with 10 events (as a previous run would have) and checkpoint after 4.
    spooled = Spool(spool)
    spooled.append([usage_event(request_id=f"r{i:02}") for i in range(10)])
    _, end_of_first_four, _ = spooled.read(0, 4)
    spooled.commit(end_of_first_four)
    assert await tracker.flush()
    assert await request_ids(sessions) == [f"r{i:02}" for i in range(4, 10)]
    assert not spool.exists()


async def test_without_a_spool_the_oldest_are_dropped_and_counted(
    database_url: str, raw_engine: AsyncEngine, usage_event: Make
) -> None:
    sessions = database.session_factory(raw_engine)
    tracker = UsageTracker(sessions, flush_interval=3600, max_buffer=3)
    for i in range(5):
        tracker.record_request(usage_event(request_id=f"r{i}"))
    assert (tracker.pending, tracker.dropped) == (3, 2)
    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await tracker.flush()
    assert await request_ids(sessions) == ["r2", "r3", "r4"]


async def test_an_unwritable_event_is_dropped_alone(sessions: Sessions, usage_event: Make) -> None:
    tracker = UsageTracker(sessions, flush_interval=3600)
    tracker.record_request(usage_event(request_id="before"))
    tracker.record_decision(ClassificationEvent("bad", HOUR, "fast", "chat", 1, 0, {"o": object()}),
                            None)  # fmt: skip
    tracker.record_request(usage_event(request_id="after"))
    assert await tracker.flush()
    assert await request_ids(sessions) == ["after", "before"]
    assert (tracker.written, tracker.dropped, tracker.pending) == (2, 1, 0)


async def test_record_request_never_blocks(raw_engine: AsyncEngine, usage_event: Make) -> None:
    """With the database refusing, recording 20k events stays in memory and takes no time."""
    tracker = UsageTracker(
        database.session_factory(raw_engine), flush_interval=0.01, stop_timeout=0.5
    )
    await tracker.start()
    events = [usage_event(request_id=str(i)) for i in range(20_000)]
    try:
        started = time.perf_counter()
        for event in events:
            tracker.record_request(event)
        elapsed = time.perf_counter() - started
        assert tracker.pending == 20_000
        assert elapsed < 0.5, f"{elapsed:.3f}s for 20k calls"
    finally:
        await tracker.stop()  # the database never comes back in this test
    assert tracker.dropped == 20_000  # no spool configured: the loss is counted, not hidden


async def test_postgres_database_that_does_not_exist_yet(usage_event: Make) -> None:
    """The server answers but the database is missing (connections fail), then it appears."""
    admin = os.environ.get("ANNAS_GIFT_TEST_DATABASE_URL")
    if not admin:
        pytest.skip("needs PostgreSQL: set ANNAS_GIFT_TEST_DATABASE_URL")
    name = f"annas_late_{uuid.uuid4().hex[:10]}"
    url = f"{admin.rpartition('/')[0]}/{name}"
    plain = admin.replace("+asyncpg", "")
    engine = database.create_engine(url)
    tracker = UsageTracker(database.session_factory(engine), flush_interval=0.02, max_backoff=0.1)
    try:
        await tracker.start()
        for i in range(8):
            tracker.record_request(usage_event(request_id=f"r{i}"))
        assert not await tracker.flush()
        assert tracker.pending == 8
        assert tracker.last_error is not None and name in tracker.last_error

        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await asyncio.to_thread(migrate.upgrade, url)
        sessions = database.session_factory(engine)
        await eventually(rows_reach(sessions, 8))
        await tracker.stop()
        assert await request_ids(sessions) == [f"r{i}" for i in range(8)]
    finally:
        await tracker.stop()
        await engine.dispose()
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
