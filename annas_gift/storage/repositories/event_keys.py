"""Which tracker events are stored already: the keys that make a replay idempotent.

A usage record is one upstream attempt, so a request with fallbacks has several; its key is
(request_id, model, created_at). A request has at most one classification and one selection,
so their key is the request id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from annas_gift.core.events import ClassificationEvent, SelectionEvent, UsageEvent
from annas_gift.storage.models import ClassificationRow, SelectionRow, UsageRecord
from annas_gift.storage.repositories._sql import fit_row

UsageKey = tuple[str, str, datetime]
_RECORDS: Table = UsageRecord.__table__  # type: ignore[assignment]  # declarative tables are Tables
_IN_CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def usage_key(event: UsageEvent) -> UsageKey:
    """The key of a usage event as it will be stored (over-long labels are cut, as on insert)."""
    row = fit_row(_RECORDS, {"request_id": event.request_id, "model": event.model})
    return row["request_id"], row["model"], _utc(event.created_at)


def _chunks(ids: Iterable[str]) -> list[list[str]]:
    unique = sorted(set(ids))
    return [unique[i : i + _IN_CHUNK] for i in range(0, len(unique), _IN_CHUNK)]


class EventKeyRepository:
    """Looks up stored usage records and decisions by their idempotency keys."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def stored_usage(self, events: Sequence[UsageEvent]) -> set[UsageKey]:
        """The keys among `events` that usage_records already holds."""
        wanted = {usage_key(e) for e in events}
        found: set[UsageKey] = set()
        for ids in _chunks(key[0] for key in wanted):
            query = select(UsageRecord.request_id, UsageRecord.model, UsageRecord.created_at).where(
                UsageRecord.request_id.in_(ids)
            )
            for request_id, model, created_at in (await self._session.execute(query)).all():
                key = (request_id, model, _utc(created_at))
                if key in wanted:
                    found.add(key)
        return found

    async def stored_decisions(
        self, events: Sequence[ClassificationEvent | SelectionEvent]
    ) -> set[tuple[type[Any], str]]:
        """(event class, request id) for the decisions among `events` already stored."""
        found: set[tuple[type[Any], str]] = set()
        for cls, model in (
            (ClassificationEvent, ClassificationRow),
            (SelectionEvent, SelectionRow),
        ):
            ids = [e.request_id for e in events if isinstance(e, cls)]
            for chunk in _chunks(ids):
                query = select(model.request_id).where(model.request_id.in_(chunk))
                found.update((cls, rid) for rid in (await self._session.scalars(query)).all())
        return found
