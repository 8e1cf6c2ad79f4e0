"""Usage tracker: buffers usage and routing decisions in memory, writes them in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DataError, DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.monitoring.events import (
    ClassificationEvent,
    Event,
    SelectionEvent,
    UsageEvent,
    UsageStat,
    hourly_deltas,
)
from annas_gift.storage.repositories import (
    ClassificationRepository,
    SelectionRepository,
    UsageRepository,
)
from annas_gift.storage.repositories.usage import GroupBy
from annas_gift.storage.spool import Spool

log = logging.getLogger(__name__)


def _is_data_error(exc: BaseException) -> bool:
    # A value the database (or bind processing) rejects fails the same way on every retry, so it
    # is dropped alone; anything else (refused connection, missing table) may heal and is retried.
    if isinstance(exc, DataError):
        return True
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return isinstance(exc.orig, TypeError | ValueError)
    return False


def _describe(exc: BaseException) -> str:
    # First line only: SQLAlchemy appends the SQL and its parameters on the lines below.
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


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
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        """Events recorded but not yet in the database or the spool."""
        return len(self._buffer) + self._inflight + len(self._overflow)

    def record_request(self, event: UsageEvent) -> None:
        """Queue one usage event; O(1), never blocks, never raises."""
        try:
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
            log.warning(
                "usage buffer full (%d events); %s",
                self._max_buffer,
                "spooling to disk" if self._spool else "dropping the oldest",
            )
        if self._spool is None:
            if self._buffer:
                self._buffer.popleft()
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
    ) -> list[UsageStat]:
        """Usage aggregates from the database, after flushing this process's buffer."""
        await self.flush()
        async with self._sessions() as session:
            return await UsageRepository(session).stats(since, until, group_by)

    async def get_model_stats(
        self,
        provider: str,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> UsageStat:
        """Usage aggregates of one model, after flushing this process's buffer."""
        await self.flush()
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
        backoff = min(self._max_backoff, self._flush_interval * 2 ** min(self._failures, 16))
        # Jitter keeps several gateway instances from retrying in lock-step.
        self._retry_at = time.monotonic() + backoff * random.uniform(0.8, 1.0)
        self.last_error = _describe(exc)
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        log.log(level, "usage flush failed (%s); retrying in %.1fs", self.last_error, backoff)

    async def _write_batch(self, events: Sequence[Event]) -> None:
        usage = [e for e in events if isinstance(e, UsageEvent)]
        async with self._sessions() as session, session.begin():
            usage_repo = UsageRepository(session)
            await usage_repo.add_records(usage)
            await usage_repo.add_hourly(hourly_deltas(usage))
            await ClassificationRepository(session).add_many(
                [e for e in events if isinstance(e, ClassificationEvent)]
            )
            await SelectionRepository(session).add_many(
                [e for e in events if isinstance(e, SelectionEvent)]
            )

    async def _write(self, events: Sequence[Event]) -> int:
        """Write events; returns how many were handled before a retryable failure (then set)."""
        try:
            await self._write_batch(events)
        except Exception as exc:
            if not _is_data_error(exc):
                self._failed(exc)
                return 0
        else:
            self.written += len(events)
            return len(events)
        # Something in the batch is unwritable: find it one event at a time and drop it alone.
        for done, event in enumerate(events):
            try:
                await self._write_batch([event])
            except Exception as exc:
                if not _is_data_error(exc):
                    self._failed(exc)
                    return done
                self.dropped += 1
                log.error(
                    "dropped a %s the database rejects: %s", type(event).__name__, _describe(exc)
                )
            else:
                self.written += 1
        return len(events)

    async def _drain(self) -> bool:
        remaining = len(self._buffer)  # later arrivals wait for the next flush
        while remaining > 0 and self._buffer:
            batch = [self._buffer.popleft() for _ in range(min(remaining, self._batch_size))]
            self._inflight = len(batch)
            done = 0
            try:
                done = await self._write(batch)
            finally:
                # Whatever was not written (failure or cancellation) goes back in front, in order.
                self._buffer.extendleft(reversed(batch[done:]))
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
        """Move the spool into the database, a batch at a time, remembering how far it got."""
        spool = self._spool
        if spool is None or not await asyncio.to_thread(spool.exists):
            self._spool_dirty = False
            return True
        offset = await asyncio.to_thread(spool.checkpoint)
        while True:
            chunk, end, bad = await asyncio.to_thread(spool.read, offset, self._batch_size)
            self.dropped += bad
            if not chunk:
                offset = end  # past any damaged lines
                # Deleted only if nothing was appended since that read; otherwise keep going.
                if await asyncio.to_thread(spool.clear, offset):
                    break
                continue
            done = await self._write([event for event, _ in chunk])
            if done == 0:
                return False
            # Remember progress so a failure (or crash) later does not write these twice.
            offset = end if done == len(chunk) else chunk[done - 1][1]
            await asyncio.to_thread(spool.commit, offset)
            if done < len(chunk):
                return False
        self._spool_dirty = False
        log.info("replayed the usage spool into the database")
        return True
