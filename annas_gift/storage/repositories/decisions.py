"""Routing decisions: task classifications and model selections, written in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from annas_gift.core.events import ClassificationEvent, JSONText, SelectionEvent
from annas_gift.storage.models import ClassificationRow, SelectionRow
from annas_gift.storage.repositories._sql import fit_row, row_of, statement_chunks

_CLASSIFICATIONS: Table = ClassificationRow.__table__  # type: ignore[assignment]  # declarative tables are Tables
_SELECTIONS: Table = SelectionRow.__table__  # type: ignore[assignment]  # declarative tables are Tables


def _selection_row(event: SelectionEvent) -> dict[str, Any]:
    row = fit_row(_SELECTIONS, row_of(event))
    text = row["ranking"]
    if isinstance(text, str) and not isinstance(text, JSONText):  # read back from disk: check it
        try:
            row["ranking"] = orjson.loads(text)
        except orjson.JSONDecodeError:  # a damaged spool line: keep the decision, not its ranking
            row["ranking"] = None
    return row


class ClassificationRepository:
    """Writes and reads task_classifications."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, events: Sequence[ClassificationEvent]) -> None:
        """Insert classifications in bulk statements."""
        for chunk in statement_chunks(events):
            await self._session.execute(
                insert(_CLASSIFICATIONS), [fit_row(_CLASSIFICATIONS, row_of(e)) for e in chunk]
            )

    async def for_request(self, request_id: str) -> list[ClassificationRow]:
        """Classifications stored for one request, oldest first."""
        query = (
            select(ClassificationRow)
            .where(ClassificationRow.request_id == request_id)
            .order_by(ClassificationRow.id)
        )
        return list((await self._session.scalars(query)).all())


class SelectionRepository:
    """Writes and reads model_selections."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, events: Sequence[SelectionEvent]) -> None:
        """Insert selections in bulk statements (the ranking's JSON text decoded for its column)."""
        for chunk in statement_chunks(events):
            await self._session.execute(insert(_SELECTIONS), [_selection_row(e) for e in chunk])

    async def for_request(self, request_id: str) -> list[SelectionRow]:
        """Selections stored for one request, oldest first."""
        query = (
            select(SelectionRow)
            .where(SelectionRow.request_id == request_id)
            .order_by(SelectionRow.id)
        )
        return list((await self._session.scalars(query)).all())
