"""Usage tracker: buffers usage and routing decisions in memory, writes them in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.errors import DatabaseUnavailable
from annas_gift.core.events import (
    ClassificationEvent,
    Event,
    SelectionEvent,
    UsageEvent,
    UsageStat,
)
from annas_gift.storage.batch import describe_error, is_data_error, write_batch
from annas_gift.storage.repositories import UsageRepository
from annas_gift.storage.repositories.usage import GroupBy
from annas_gift.storage.spool import Spool, replay

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    """A database that does not answer becomes a 503 `database_unavailable`, not a 500."""
    try:
        yield
    except (OSError, TimeoutError, DBAPIError) as exc:
        if is_data_error(exc):
            raise
        log.warning("usage query failed: %s", describe_error(exc))
        raise DatabaseUnavailable("The usage database is unavailable; try again later.") from None


# A backlog is written this many batches to a transaction (see `UsageTracker._drain`).
BACKLOG_BATCHES = 8


class UsageTracker:
    """Records usage off the request path; call its methods from the event loop's thread."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        flush_interval: float = 1.0,
        batch_size: int = 500,
        max_buffer: int = 100_000,
        spool_path: Path | None = None,
        max_backoff: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._flush_interval = flush_interval
        self._batch_size = max(1, batch_size)
        self._max_buffer = max(1, max_buffer)
        self._spool = None if spool_path is None else Spool(spool_path)
        # Whether the spool may hold lines; saves a file check per tick when it cannot.
        self._spool_dirty = spool_path is not None
        self._max_backoff = max_backoff
        self._stop_timeout = stop_timeout
        self._buffer: deque[Event] = deque()
        self._overflow: deque[Event] = deque()  # past max_buffer, waiting to be spooled
        self._inflight = 0
        # The first `_uncertain` buffered events went back after a failed write that may have
        # committed: they are written the idempotent way (storage/batch.py `fresh`).
        self._uncertain = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failures = 0
        self._retry_at = 0.0
        self._warned_full = False
        self.written = 0
        self.dropped = 0
        self.spooled = 0
        self.flush_errors = 0  # failed flush attempts since start (a metric)
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        """Events recorded but not yet in the database or the spool."""
        return len(self._buffer) + self._inflight + len(self._overflow)

    def record_request(
        self, event: UsageEvent, decision: tuple[ClassificationEvent, SelectionEvent] | None = None
    ) -> None:
        """Queue one usage event (after the decision that led to it); O(1), never blocks, never
        raises."""
        try:
            if decision is not None:
                self._enqueue(decision[0])
                self._enqueue(decision[1])
            self._enqueue(event)
        except Exception:  # the request must be answered whatever happens here
            log.exception("could not queue a usage event")

    def record_decision(
        self, classification: ClassificationEvent | None, selection: SelectionEvent | None
    ) -> None:
        """Queue a routing decision; O(1), never blocks, never raises."""
        try:
            for event in (classification, selection):
                if event is not None:
                    self._enqueue(event)
        except Exception:
            log.exception("could not queue a routing decision")

    def _enqueue(self, event: Event) -> None:
        if len(self._buffer) + self._inflight < self._max_buffer:
            self._buffer.append(event)
            if len(self._buffer) >= self._batch_size and not self._failures:
                self._wake.set()
            return
        if not self._warned_full:
            self._warned_full = True
            log.warning("usage buffer full (%d events); spooling or dropping", self._max_buffer)
        if self._spool is None:
            if self._buffer:
                self._buffer.popleft()
                self._uncertain = max(0, self._uncertain - 1)
                self._buffer.append(event)
            self.dropped += 1
            return
        self._overflow.append(event)
        if len(self._overflow) >= self._max_buffer:
            # The background spill fell a whole buffer behind: write here rather than lose data.
            events = list(self._overflow)
            self._overflow.clear()
            try:
                self._account(events, self._spool.append(events))
            except OSError as exc:
                self._account(events, exc)
        else:
            self._wake.set()

    async def start(self) -> None:
        """Replay any spool left by an earlier run, then start the background flusher."""
        if self._task is not None:
            return
        self._stopping = False
        try:
            async with asyncio.timeout(self._stop_timeout):
                await self.flush()
        except TimeoutError:
            log.warning("usage database not reachable at start; will keep retrying")
        self._task = asyncio.create_task(self._run(), name="annas-gift-usage-tracker")

    async def stop(self) -> None:
        """Write everything buffered (spooling what the database won't take) and stop."""
        task, self._task = self._task, None
        self._stopping = True
        self._wake.set()
        try:
            async with asyncio.timeout(self._stop_timeout):
                if task is not None:
                    await task
                await self.flush()
        except TimeoutError:
            log.warning("usage database did not take the final flush in time")
        finally:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.pending:
            await self._spool_everything()

    aclose = stop

    async def flush(self) -> bool:
        """Write all buffered events and any spool now; True when everything got written."""
        async with self._lock:
            await self._spill_overflow()
            ok = await self._drain() and await self._replay()
        if ok and self._failures:
            log.info("usage database reachable again after %d failed flushes", self._failures)
        if ok:
            self._failures = 0
            self._warned_full = False
        return ok

    async def get_stats(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: GroupBy | None = None,
        key_id: str | None = None,
    ) -> list[UsageStat]:
        """Usage aggregates (of one key id if given), after flushing this process's buffer."""
        await self.flush()
        with _database_errors():
            async with self._sessions() as session:
                return await UsageRepository(session).stats(since, until, group_by, key_id)

    async def get_model_stats(
        self,
        provider: str,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> UsageStat:
        """Usage aggregates of one model, after flushing this process's buffer."""
        await self.flush()
        with _database_errors():
            async with self._sessions() as session:
                return await UsageRepository(session).model_stats(provider, model, since, until)

    async def _run(self) -> None:
        while not self._stopping:
            delay = self._flush_interval
            if self._failures:
                delay = max(0.0, self._retry_at - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            try:
                if self._failures and time.monotonic() < self._retry_at:
                    async with self._lock:  # only spill; the database is still backing off
                        await self._spill_overflow()
                    continue
                if self.pending or self._spool_dirty:
                    await self.flush()
            except Exception:  # the flusher must outlive any bug in one iteration
                log.exception("usage flusher iteration failed")

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        self.flush_errors += 1
        backoff = min(self._max_backoff, self._flush_interval * 2 ** min(self._failures, 16))
        # Jitter keeps several gateway instances from retrying in lock-step.
        self._retry_at = time.monotonic() + backoff * random.uniform(0.8, 1.0)
        self.last_error = describe_error(exc)
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        log.log(level, "usage flush failed (%s); retrying in %.1fs", self.last_error, backoff)

    async def _write(self, events: Sequence[Event], fresh: bool = False) -> int:
        """Write events; returns how many were handled before a retryable failure."""
        result = await write_batch(self._sessions, events, fresh=fresh)
        self.written += result.written
        self.dropped += result.rejected
        if result.error is not None:
            self._failed(result.error)
        return result.handled

    async def _drain(self) -> bool:
        remaining = len(self._buffer)  # later arrivals wait for the next flush
        # Behind by more than a batch (a busy loop runs each of a write's awaits after every
        # request task), write bigger transactions: per-row work is the same, the per-batch
        # round trips are not. With 500-event transactions of 100-row statements, an `auto`
        # load on one core wrote 3,031 of 18,000 events in 3 rounds; with 4,000-event ones of
        # 500-row statements (storage ROWS_PER_STATEMENT), 11,100 (bench/inproc.py, 2026-12-02).
        size = (
            self._batch_size
            if remaining <= self._batch_size
            else self._batch_size * BACKLOG_BATCHES
        )
        while remaining > 0 and self._buffer:
            batch = [self._buffer.popleft() for _ in range(min(remaining, size))]
            self._inflight = len(batch)
            retried = min(self._uncertain, len(batch))
            self._uncertain -= retried
            done = 0
            try:
                done = await self._write(batch, fresh=not retried)
            finally:
                # Whatever was not written (failure or cancellation) goes back in front, in
                # order, and may have been stored: a commit can succeed and still report failure.
                self._buffer.extendleft(reversed(batch[done:]))
                self._uncertain += len(batch) - done
                self._inflight = 0
            if done < len(batch):
                return False
            remaining -= len(batch)
        return True

    async def _spill_overflow(self) -> None:
        if not self._overflow or self._spool is None:
            return
        events = list(self._overflow)
        self._overflow.clear()
        await self._to_spool(events)

    async def _spool_everything(self) -> None:
        async with self._lock:
            events = [*self._buffer, *self._overflow]
            self._buffer.clear()
            self._uncertain = 0  # the spool's replay is idempotent
            self._overflow.clear()
            if self._spool is None:
                self.dropped += len(events)
                log.error("lost %d usage events: database unavailable and no spool", len(events))
                return
            await self._to_spool(events)

    async def _to_spool(self, events: list[Event]) -> None:
        assert self._spool is not None
        try:
            # Shielded: once the thread runs, the lines land even if we are cancelled.
            self._account(
                events, await asyncio.shield(asyncio.to_thread(self._spool.append, events))
            )
        except OSError as exc:
            self._account(events, exc)

    def _account(self, events: list[Event], outcome: int | OSError) -> None:
        """Count a spool write: `outcome` is how many events could not be encoded, or the error."""
        if isinstance(outcome, OSError):
            self.dropped += len(events)
            log.error("lost %d usage events: spool not writable (%s)", len(events), outcome)
            return
        self.dropped += outcome
        self.spooled += len(events) - outcome
        self._spool_dirty = True

    async def _replay(self) -> bool:
        if self._spool is None:
            return True
        ok, damaged = await replay(self._spool, self._write, self._batch_size)
        self.dropped += damaged
        if ok:
            self._spool_dirty = False
        return ok
