"""The usage journal: on disk at once, replayed once after a kill -9, released after a flush."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tracker_probes import count

from annas_gift.core.events import ClassificationEvent, SelectionEvent, UsageEvent, decode_event
from annas_gift.monitoring.journal import JournaledRecorder, UsageJournal, replay_orphans
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.storage import database
from annas_gift.storage.batch import write_batch, write_events
from annas_gift.storage.repositories import (
    ClassificationRepository,
    SelectionRepository,
    UsageRepository,
)

Make = Callable[..., UsageEvent]
Sessions = async_sessionmaker[AsyncSession]
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# A gateway stand-in: journals N events the way the request path would, then dies by SIGKILL.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from annas_gift.core.events import UsageEvent
    from annas_gift.monitoring.journal import UsageJournal

    journal = UsageJournal(Path(sys.argv[1]), fsync_interval_s=3600)  # no fsync: kill, not power
    journal.open()
    for i in range(int(sys.argv[2])):
        journal.append(UsageEvent(
            request_id=f"req-{i}", created_at=datetime(2024, 3, 1, 12, tzinfo=UTC)
            + timedelta(microseconds=i), key_id="alice", route="openai", provider="openai",
            model="gpt-small", upstream_model="openai/gpt-small", prompt_tokens=10,
            completion_tokens=5, cost_usd=0.01, latency_ms=100.0, status=200, error_type=None,
            stream=False,
        ))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _killed_writer(directory: Path, n: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(directory), str(n)], env=env, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL


def _append_bytes(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("usage-journal-*.jsonl"))


def _event(make: Make, i: int) -> UsageEvent:
    return make(request_id=f"req-{i}", created_at=T0 + timedelta(microseconds=i))


def test_an_append_is_in_the_file_before_any_sync(tmp_path: Path, usage_event: Make) -> None:
    journal = UsageJournal(tmp_path, fsync_interval_s=3600)
    journal.open()
    try:
        assert journal.append(_event(usage_event, 1))
        (segment,) = _segments(tmp_path)
        assert decode_event(segment.read_bytes()) == _event(usage_event, 1)
    finally:
        journal.close(release_all=True)
    assert list(tmp_path.iterdir()) == []


async def test_killed_process_is_replayed_once_and_not_double_counted(
    tmp_path: Path, sessions: Sessions, usage_event: Make
) -> None:
    _killed_writer(tmp_path, 40)
    # The tracker had written the first 15 before the kill: those must not count twice.
    await write_events(sessions, [_event(usage_event, i) for i in range(15)])

    result = await replay_orphans(UsageJournal(tmp_path), sessions, batch_size=7)
    assert (result.segments, result.offered, result.written, result.damaged) == (1, 40, 25, 0)
    assert result.complete
    assert await count(sessions) == 40
    async with sessions() as session:
        (metric,) = await UsageRepository(session).hourly()
    assert metric.requests == 40  # the hourly totals got only the 25 new ones added
    assert list(_segments(tmp_path)) == []  # replayed segments are gone

    again = await replay_orphans(UsageJournal(tmp_path), sessions)
    assert (again.segments, again.written) == (0, 0)
    assert await count(sessions) == 40


async def test_the_same_segment_replayed_twice_counts_once(
    tmp_path: Path, sessions: Sessions, usage_event: Make
) -> None:
    _killed_writer(tmp_path, 10)
    (segment,) = _segments(tmp_path)
    copy = tmp_path / segment.name.replace("usage-journal-", "usage-journal-copy-")
    copy.write_bytes(segment.read_bytes())  # e.g. a crash between the insert and the delete
    result = await replay_orphans(UsageJournal(tmp_path), sessions)
    assert (result.segments, result.offered, result.written) == (2, 20, 10)
    assert await count(sessions) == 10


async def test_a_line_cut_short_is_counted_and_the_rest_replayed(
    tmp_path: Path, sessions: Sessions, usage_event: Make
) -> None:
    _killed_writer(tmp_path, 5)
    (segment,) = _segments(tmp_path)
    _append_bytes(segment, b'{"kind":"usage","request_id":"torn')  # power loss mid-line
    result = await replay_orphans(UsageJournal(tmp_path), sessions)
    assert (result.written, result.damaged) == (5, 1)


async def test_decisions_are_replayed_once_by_request_id(
    tmp_path: Path, sessions: Sessions
) -> None:
    verdict = ClassificationEvent("req-d", T0, "fast", "chat", 0.9, 0.1, {"why": "short"})
    writer = UsageJournal(tmp_path)
    writer.open()
    writer.append(verdict)
    writer.append(verdict)  # journaled twice (a retry): still one row
    writer.close(release_all=False)
    result = await replay_orphans(UsageJournal(tmp_path), sessions)
    assert result.written == 1
    async with sessions() as session:
        assert len(await ClassificationRepository(session).for_request("req-d")) == 1


async def test_a_live_writers_segment_is_left_alone(
    tmp_path: Path, sessions: Sessions, usage_event: Make
) -> None:
    live = UsageJournal(tmp_path)
    live.open()
    try:
        live.append(_event(usage_event, 1))
        other = UsageJournal(tmp_path)  # a second gateway starting in the same folder
        assert other.orphans() == []
        assert (await replay_orphans(other, sessions)).segments == 0
        assert await count(sessions) == 0
    finally:
        live.close(release_all=True)


async def test_database_down_at_start_keeps_the_segment_for_later(
    tmp_path: Path, raw_engine: AsyncEngine, usage_event: Make
) -> None:
    _killed_writer(tmp_path, 3)
    sessions = database.session_factory(raw_engine)  # no schema yet: every insert fails
    result = await replay_orphans(UsageJournal(tmp_path), sessions)
    assert not result.complete and result.written == 0
    assert len(list(_segments(tmp_path))) == 1


async def test_recorder_journals_then_releases_after_a_flush(
    tmp_path: Path, sessions: Sessions, usage_event: Make
) -> None:
    tracker = UsageTracker(sessions, flush_interval=3600)
    recorder = JournaledRecorder(
        tracker, UsageJournal(tmp_path), sessions, checkpoint_interval_s=3600
    )
    await recorder.start()
    try:
        for i in range(5):
            recorder.record_request(_event(usage_event, i))
        (segment,) = _segments(tmp_path)
        assert len(segment.read_bytes().splitlines()) == 5  # on disk before any flush
        assert await count(sessions) == 0
        assert await recorder.checkpoint()
        assert await count(sessions) == 5
        (active,) = _segments(tmp_path)
        assert active != segment and active.read_bytes() == b""  # the flushed one is gone
    finally:
        await recorder.stop()
    assert list(_segments(tmp_path)) == []  # all stored: nothing kept


async def test_a_request_with_its_decision_is_journaled_in_one_write_and_stored(
    tmp_path: Path, sessions: Sessions, usage_event: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    import annas_gift.monitoring.journal as journal_module

    writes: list[bytes] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    verdict = ClassificationEvent("req-0", T0, "powerful", "math", 0.9, 0.8, {"proof_cue": 1.2})
    choice = SelectionEvent(
        "req-0", T0, "powerful", "math", "p", "gpt-big", "best on MATH-500", 0.9, 0.8,
        None, [], None,
    )  # fmt: skip
    tracker = UsageTracker(sessions, flush_interval=3600)
    recorder = JournaledRecorder(
        tracker, UsageJournal(tmp_path), sessions, checkpoint_interval_s=3600
    )
    await recorder.start()
    try:
        monkeypatch.setattr(journal_module.os, "write", counting_write)
        recorder.record_request(_event(usage_event, 0), (verdict, choice))
        monkeypatch.undo()
        # One syscall carries the three lines: a kill after it loses none, before it all three.
        assert len(writes) == 1
        (segment,) = _segments(tmp_path)
        lines = segment.read_bytes().splitlines(keepends=True)
        assert [decode_event(line) for line in lines] == [verdict, choice, _event(usage_event, 0)]
        assert await recorder.checkpoint()
        assert await count(sessions) == 1
        async with sessions() as session:
            assert len(await ClassificationRepository(session).for_request("req-0")) == 1
            assert len(await SelectionRepository(session).for_request("req-0")) == 1
    finally:
        await recorder.stop()


async def test_recorder_start_replays_what_a_killed_gateway_left(
    tmp_path: Path, sessions: Sessions, usage_event: Make
) -> None:
    _killed_writer(tmp_path, 12)
    recorder = JournaledRecorder(UsageTracker(sessions), UsageJournal(tmp_path), sessions)
    await recorder.start()
    try:
        assert (recorder.replayed.written, recorder.replayed.complete) == (12, True)
        assert await count(sessions) == 12
    finally:
        await recorder.stop()


async def test_fsync_thread_syncs_what_was_written(
    tmp_path: Path, usage_event: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    journal = UsageJournal(tmp_path, fsync_interval_s=0.01)
    journal.open()
    try:
        await asyncio.sleep(0.1)
        assert synced == []  # nothing written: no fsync
        journal.append(_event(usage_event, 1))
        for _ in range(100):
            if synced:
                break
            await asyncio.sleep(0.01)
        assert synced  # within a few intervals of the write
    finally:
        journal.close(release_all=True)


def _migration_0003() -> ModuleType:
    path = ROOT / "annas_gift/migrations/versions/0003_usage_request_id_unique.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_migration_0003_dedupes_then_refuses_duplicates(
    engine: AsyncEngine, sessions: Sessions, usage_event: Make
) -> None:
    migration = _migration_0003()

    def run(step: str) -> Callable[[Connection], None]:
        def apply(conn: Connection) -> None:
            with Operations.context(MigrationContext.configure(conn)):
                getattr(migration, step)()

        return apply

    async with engine.begin() as conn:  # a database from before 0003: no unique index
        await conn.run_sync(run("downgrade"))
    twice = _event(usage_event, 1)
    await write_events(sessions, [twice, twice, _event(usage_event, 2)])
    async with engine.begin() as conn:
        await conn.run_sync(run("upgrade"))
    assert await count(sessions) == 2
    with pytest.raises(IntegrityError):
        await write_events(sessions, [twice])
    result = await write_batch(sessions, [twice, _event(usage_event, 3)])  # the tracker's path
    assert (result.error, result.rejected) == (None, 0)
    assert await count(sessions) == 3  # the stored one skipped, the new one written
