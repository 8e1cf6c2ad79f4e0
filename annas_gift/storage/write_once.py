"""Idempotent `batch.write_events`: events the database already holds are skipped.

Replaying a journal or spool after a crash may offer events the database took just before the
crash; writing them again would count usage twice. Within one transaction, the stored keys are
looked up and only the new events are inserted (and only they reach the hourly metrics).
`batch.write_batch` (the tracker's writer) uses it; migration 0003 adds the unique index.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from annas_gift.storage.repositories.event_keys import EventKeyRepository, UsageKey, usage_key


def _new_usage(events: Sequence[UsageEvent], stored: set[UsageKey]) -> list[UsageEvent]:
    """The events not stored yet, each key once (a journal line may repeat a spooled one)."""
    seen = set(stored)
    fresh = []
    for event in events:
        key = usage_key(event)
        if key not in seen:
            seen.add(key)
            fresh.append(event)
    return fresh


async def write_events_once(
    sessions: async_sessionmaker[AsyncSession], events: Sequence[Event]
) -> int:
    """Insert the events not stored yet, atomically; returns how many were new."""
    usage = [e for e in events if isinstance(e, UsageEvent)]
    decisions = [e for e in events if isinstance(e, ClassificationEvent | SelectionEvent)]
    async with sessions() as session, session.begin():
        keys = EventKeyRepository(session)
        fresh = _new_usage(usage, await keys.stored_usage(usage) if usage else set())
        stored = await keys.stored_decisions(decisions) if decisions else set()
        seen: set[tuple[type[Event], str]] = set(stored)
        new_decisions: list[ClassificationEvent | SelectionEvent] = []
        for event in decisions:
            key = (type(event), event.request_id)
            if key not in seen:
                seen.add(key)
                new_decisions.append(event)
        repo = UsageRepository(session)
        await repo.add_records(fresh)
        await repo.add_hourly(hourly_deltas(fresh))
        await ClassificationRepository(session).add_many(
            [e for e in new_decisions if isinstance(e, ClassificationEvent)]
        )
        await SelectionRepository(session).add_many(
            [e for e in new_decisions if isinstance(e, SelectionEvent)]
        )
    return len(fresh) + len(new_decisions)
