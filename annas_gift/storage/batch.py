"""Writes a batch of tracker events in one transaction, isolating any event the database rejects."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.events import (
    ClassificationEvent,
    Event,
    SelectionEvent,
    UsageEvent,
    hourly_deltas,
)
from annas_gift.storage.repositories import (
    ClassificationRepository,
    SelectionRepository,
    UsageRepository,
)
from annas_gift.storage.write_once import write_events_once

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchResult:
    """How far a batch got: `handled` events from its front were written or rejected."""

    handled: int = 0
    written: int = 0
    rejected: int = 0
    error: Exception | None = None  # the retryable failure that stopped it, if any


def is_data_error(exc: BaseException) -> bool:
    """True when the failure is about the values themselves, so retrying cannot help."""
    # Anything else (refused connection, missing table, timeout) may heal and is retried.
    if isinstance(exc, DataError):
        return True
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return isinstance(exc.orig, TypeError | ValueError)
    return False


def describe_error(exc: BaseException) -> str:
    """A one-line description of a database error, without its SQL or parameters."""
    # SQLAlchemy appends the statement and its parameters on the lines after the first.
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


async def write_events(sessions: async_sessionmaker[AsyncSession], events: Sequence[Event]) -> None:
    """Insert usage records, upsert their hourly metrics and insert decisions, atomically."""
    usage = [e for e in events if isinstance(e, UsageEvent)]
    async with sessions() as session, session.begin():
        repo = UsageRepository(session)
        await repo.add_records(usage)
        await repo.add_hourly(hourly_deltas(usage))
        await ClassificationRepository(session).add_many(
            [e for e in events if isinstance(e, ClassificationEvent)]
        )
        await SelectionRepository(session).add_many(
            [e for e in events if isinstance(e, SelectionEvent)]
        )


async def _write_fresh(
    sessions: async_sessionmaker[AsyncSession], events: Sequence[Event]
) -> BatchResult | None:
    """Plain inserts in one transaction; None when the batch needs the idempotent path."""
    try:
        await write_events(sessions, events)
    except IntegrityError:
        return None  # stored already after all: the idempotent path skips what is
    except Exception as exc:
        return None if is_data_error(exc) else BatchResult(error=exc)
    return BatchResult(handled=len(events), written=len(events))


async def write_batch(
    sessions: async_sessionmaker[AsyncSession], events: Sequence[Event], *, fresh: bool = False
) -> BatchResult:
    """Write events in one transaction; if one is unwritable, write them singly and skip it.

    `fresh` events were never offered to the database before (the tracker's live buffer):
    they are inserted without first looking up which of them are stored, which costs about a
    sixth of an `auto` request's write. If the unique index refuses one anyway, the batch is
    written the idempotent way.
    """
    if fresh and (result := await _write_fresh(sessions, events)) is not None:
        return result
    # Idempotent: a spool or journal replay may offer events stored just before a crash, and
    # the unique index on usage_records would refuse them (forever) with plain inserts.
    try:
        await write_events_once(sessions, events)
    except Exception as exc:
        if not is_data_error(exc):
            return BatchResult(error=exc)
    else:
        return BatchResult(handled=len(events), written=len(events))
    # A poison event would fail the batch on every retry: find it and reject it alone.
    result = BatchResult()
    for event in events:
        try:
            await write_events_once(sessions, [event])
        except Exception as exc:
            if not is_data_error(exc):
                result.error = exc
                return result
            result.rejected += 1
            log.error("dropped a %s the database rejects: %s", type(event).__name__,
                      describe_error(exc))  # fmt: skip
        else:
            result.written += 1
        result.handled += 1
    return result
