"""Routing decisions: task classifications and model selections, written in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from annas_gift.core.events import ClassificationEvent, JSONText, SelectionEvent
from annas_gift.storage.models import ClassificationRow, SelectionRow
from annas_gift.storage.repositories._bulk import BulkInsert

_CLASSIFICATIONS: Table = ClassificationRow.__table__  # type: ignore[assignment]  # declarative tables are Tables
_SELECTIONS: Table = SelectionRow.__table__  # type: ignore[assignment]  # declarative tables are Tables


def _stored_ranking(text: Any) -> Any:
    """The ranking as its JSON column takes it: this process's JSONText as it is, text read
    back from a journal or spool decoded (and so checked), a damaged one dropped."""
    if isinstance(text, str) and not isinstance(text, JSONText):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # a damaged spool line: keep the decision, not its ranking
            return None
    return text


_INSERT_CLASSIFICATIONS = BulkInsert(_CLASSIFICATIONS, ClassificationEvent)
_INSERT_SELECTIONS = BulkInsert(_SELECTIONS, SelectionEvent, adjust={"ranking": _stored_ranking})


class ClassificationRepository:
    """Writes and reads task_classifications."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, events: Sequence[ClassificationEvent]) -> None:
        """Insert classifications in bulk statements."""
        await _INSERT_CLASSIFICATIONS.run(self._session, events)

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
        """Insert selections in bulk statements (a ranking read back from disk decoded first)."""
        await _INSERT_SELECTIONS.run(self._session, events)

    async def for_request(self, request_id: str) -> list[SelectionRow]:
        """Selections stored for one request, oldest first."""
        query = (
            select(SelectionRow)
            .where(SelectionRow.request_id == request_id)
            .order_by(SelectionRow.id)
        )
        return list((await self._session.scalars(query)).all())
