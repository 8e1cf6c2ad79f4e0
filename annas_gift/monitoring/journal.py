"""A local journal of finished usage so that `kill -9` loses none of it.

The tracker buffers events in memory and writes them in the background; a killed process loses
that buffer. The journal appends a request's events (its usage row with its routing decision) to
a file with one `os.write` before the response completes (the kernel keeps it even if the
process dies at once); an `fsync` every 50 ms in a background thread also covers power loss.
Once the tracker has flushed everything recorded before a point, the segments sealed at that
point are deleted. At start-up, segments left by a dead process are replayed into the database
idempotently (stored events are skipped, see storage/write_once.py), so nothing is counted twice.

A segment is locked (`flock`) by the process writing it: a segment that can be locked belongs to
no live process and is safe to replay, even with several gateways sharing one directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.events import (
    ClassificationEvent,
    Event,
    SelectionEvent,
    UsageEvent,
    encode_event_line,
)
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.storage.batch import describe_error, is_data_error
from annas_gift.storage.spool import Spool, replay
from annas_gift.storage.write_once import write_events_once

log = logging.getLogger(__name__)

PREFIX = "usage-journal"


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    fd: int
    synced: bool = True


class UsageJournal:
    """Append-only segments of JSON lines in `directory`; thread-safe appends."""

    def __init__(self, directory: Path, *, fsync_interval_s: float = 0.05) -> None:
        self.directory = directory
        self._fsync_interval = fsync_interval_s
        self._name = f"{PREFIX}-{os.getpid()}-{time.time_ns()}"
        self._lock = threading.Lock()  # guards the segment lists; appends hold it briefly
        # Held by an fsync in progress, and by whoever closes fds: an fd being synced is never
        # closed (and its number reused) under it. Order: _sync_lock, then _lock.
        self._sync_lock = threading.Lock()
        self._active: _Segment | None = None
        self._sealed: list[_Segment] = []
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.appended = 0
        self.failed = 0  # events that could not be journaled (they still reach the tracker)

    def open(self) -> None:
        """Create the first segment and start the fsync thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._active = self._new_segment()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sync_loop, name="usage-journal", daemon=True)
        self._thread.start()

    def _new_segment(self) -> _Segment:
        self._seq += 1
        path = self.directory / f"{self._name}-{self._seq:06d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours while this process lives
        return _Segment(self._seq, path, fd)

    def append(self, event: Event) -> bool:
        """Journal one event with a single write; False (and counted) if it could not be."""
        return self.append_many((event,)) == 1

    def append_many(self, events: Sequence[Event]) -> int:
        """Journal events with a single write (one syscall for a request's usage and decision);
        how many were journaled, the rest counted as failed."""
        lines = []
        for event in events:
            try:
                lines.append(encode_event_line(event))
            except (TypeError, ValueError):
                self.failed += 1
        if not lines:
            return 0
        line = lines[0] if len(lines) == 1 else b"".join(lines)
        with self._lock:
            segment = self._active
            if segment is None:
                self.failed += len(lines)
                return 0
            try:
                os.write(segment.fd, line)  # O_APPEND: one write, whole lines
            except OSError as exc:
                first = self.failed == 0
                self.failed += len(lines)
                if first:
                    log.error("usage journal not writable (%s); crash safety is off", exc)
                return 0
            segment.synced = False
        self.appended += len(lines)
        return len(lines)

    def seal(self) -> int:
        """Start a new segment; returns the sealed one's number, for `release` after a flush."""
        with self._lock:
            if self._active is None:
                return self._seq
            sealed = self._active
            self._sealed.append(sealed)
            self._active = self._new_segment()
            return sealed.seq

    def release(self, upto: int) -> int:
        """Delete the sealed segments numbered <= `upto` (their events are stored); how many."""
        with self._lock:
            done = [s for s in self._sealed if s.seq <= upto]
            self._sealed = [s for s in self._sealed if s.seq > upto]
        with self._sync_lock:
            for segment in done:
                segment.path.unlink(missing_ok=True)
                os.close(segment.fd)  # unlinked first: the lock is held until the file is gone
        return len(done)

    def sync(self) -> None:
        """fsync every segment written since the last sync (the thread calls this)."""
        with self._sync_lock:
            with self._lock:  # appends wait only for this, never for the disk
                pending = [
                    s for s in (self._active, *self._sealed) if s is not None and not s.synced
                ]
                for segment in pending:
                    segment.synced = True
            for segment in pending:
                with contextlib.suppress(OSError):
                    os.fsync(segment.fd)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._fsync_interval):
            self.sync()

    def close(self, *, release_all: bool) -> None:
        """Stop syncing; delete every segment if `release_all` (all events are stored)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.sync()
        with self._lock:
            segments = [s for s in (*self._sealed, self._active) if s is not None]
            self._sealed, self._active = [], None
        with self._sync_lock:
            for segment in segments:
                if release_all:
                    segment.path.unlink(missing_ok=True)
                os.close(segment.fd)  # a kept segment is an orphan now: the next start replays it

    def orphans(self) -> list[Path]:
        """Segments in the directory whose writing process is gone, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(f"{PREFIX}-*.jsonl")):
            if not path.name.startswith(self._name) and not _locked_by_someone(path):
                found.append(path)
        return found


def _locked_by_someone(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return True  # gone meanwhile: nothing to replay
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@dataclass(slots=True)
class ReplayResult:
    """What a start-up replay did."""

    segments: int = 0
    offered: int = 0  # events read from the segments
    written: int = 0  # of those, new to the database (the rest were stored before the crash)
    damaged: int = 0  # unreadable lines (a write cut short by power loss)
    complete: bool = True  # False: the database stopped taking them; the rest stays for later


async def replay_orphans(
    journal: UsageJournal,
    sessions: async_sessionmaker[AsyncSession],
    *,
    batch_size: int = 500,
) -> ReplayResult:
    """Write the events of dead processes' segments that the database lacks; delete the files."""
    result = ReplayResult()

    async def write(events: list[Event]) -> int:
        result.offered += len(events)
        done, written = await _write_once(sessions, events)
        result.written += written
        return done

    for path in await asyncio.to_thread(journal.orphans):
        # Locked while replayed, so a second gateway starting now leaves this file alone.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            ok, damaged = await replay(Spool(path), write, batch_size)
        finally:
            os.close(fd)
        result.segments += 1
        result.damaged += damaged
        if not ok:
            result.complete = False
            break
    if result.segments:
        log.info(
            "usage journal replayed: %d segments, %d events, %d new, %d damaged lines",
            result.segments, result.offered, result.written, result.damaged,
        )  # fmt: skip
    return result


async def _write_once(
    sessions: async_sessionmaker[AsyncSession], events: Sequence[Event]
) -> tuple[int, int]:
    """(events handled, events new); a poison event is dropped alone, as batch.write_batch does."""
    try:
        return len(events), await write_events_once(sessions, events)
    except Exception as exc:
        if not is_data_error(exc):
            log.warning("usage journal replay paused: %s", describe_error(exc))
            return 0, 0
    handled = written = 0
    for event in events:
        try:
            written += await write_events_once(sessions, [event])
        except Exception as exc:
            if not is_data_error(exc):
                return handled, written
            log.error("dropped a journaled %s the database rejects: %s",
                      type(event).__name__, describe_error(exc))  # fmt: skip
        handled += 1
    return handled, written


class JournaledRecorder:
    """The tracker's recorder with the journal in front: journal first, then the buffer.

    For the integrator: use in place of the tracker as the chat service's recorder, call
    `start()` instead of `tracker.start()` and `stop()` instead of `tracker.stop()`.
    """

    def __init__(
        self,
        tracker: UsageTracker,
        journal: UsageJournal,
        sessions: async_sessionmaker[AsyncSession],
        *,
        checkpoint_interval_s: float = 2.0,
        batch_size: int = 500,
    ) -> None:
        self.tracker = tracker
        self.journal = journal
        self._sessions = sessions
        self._interval = checkpoint_interval_s
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self.replayed = ReplayResult()

    def record_request(
        self, event: UsageEvent, decision: tuple[ClassificationEvent, SelectionEvent] | None = None
    ) -> None:
        """Journal (the decision and the usage in one write), then queue; never raises (the
        tracker's own contract)."""
        if decision is None:
            self.journal.append(event)
        else:
            self.journal.append_many((*decision, event))
        self.tracker.record_request(event, decision)

    def record_decision(
        self, classification: ClassificationEvent | None, selection: SelectionEvent | None
    ) -> None:
        """Journal the decision events, then queue them."""
        self.journal.append_many([e for e in (classification, selection) if e is not None])
        self.tracker.record_decision(classification, selection)

    async def start(self) -> None:
        """Open a segment, start the tracker, replay dead processes' segments, checkpoint."""
        await asyncio.to_thread(self.journal.open)
        # The tracker replays its spool first, with plain inserts; the journal's replay comes
        # after and skips whatever is stored by then, so an event in both counts once.
        await self.tracker.start()
        await self._replay()
        self._task = asyncio.create_task(self._checkpoints(), name="annas-gift-usage-journal")

    async def _replay(self) -> None:
        try:
            self.replayed = await replay_orphans(
                self.journal, self._sessions, batch_size=self._batch_size
            )
        except Exception as exc:  # a database outage at start must not stop the gateway
            self.replayed = ReplayResult(complete=False)
            log.warning("usage journal replay deferred: %s", describe_error(exc))

    async def checkpoint(self) -> bool:
        """Seal the segment, flush the tracker; if all is stored, delete what was sealed."""
        upto = self.journal.seal()
        if await self.tracker.flush():
            await asyncio.to_thread(self.journal.release, upto)
            return True
        return False

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                if await self.checkpoint() and not self.replayed.complete:
                    await self._replay()  # the database was down at start; it is back
            except Exception:  # the loop must outlive one bad iteration
                log.exception("usage journal checkpoint failed")

    async def stop(self) -> None:
        """Stop checkpoints and the tracker; keep the journal unless everything is stored."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        dropped = self.tracker.dropped
        await self.tracker.stop()
        # Everything is in the database or the tracker's spool (which the next start replays):
        # the journal is redundant then, and keeping it too would offer each event twice.
        kept = self.tracker.pending == 0 and self.tracker.dropped == dropped
        await asyncio.to_thread(self.journal.close, release_all=kept)
