"""The driver-level bulk insert stores exactly what SQLAlchemy's compiled INSERT stores.

The repositories write usage and decision rows through `_bulk.BulkInsert` (the dialect's bind
processors applied by hand, one tuple per row). Each case here writes the same events both
ways, on SQLite and PostgreSQL, and compares the rows as the database holds them (read back
with driver-level SQL, so no result processing can hide a difference).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.events import ClassificationEvent, JSONText, SelectionEvent, UsageEvent
from annas_gift.storage.models import ClassificationRow, SelectionRow, UsageRecord, UTCDateTime
from annas_gift.storage.repositories import (
    ClassificationRepository,
    SelectionRepository,
    UsageRepository,
)
from annas_gift.storage.repositories._bulk import BulkInsert
from annas_gift.storage.repositories._sql import fit_row, row_of

Sessions = async_sessionmaker[AsyncSession]
USAGE: Table = UsageRecord.__table__  # type: ignore[assignment]
CLASSIFICATIONS: Table = ClassificationRow.__table__  # type: ignore[assignment]
SELECTIONS: Table = SelectionRow.__table__  # type: ignore[assignment]

AWARE = datetime(2026, 12, 2, 19, 5, 7, 123456, tzinfo=UTC)
ELSEWHERE = datetime(2026, 12, 2, 14, 5, 7, 5, tzinfo=timezone(timedelta(hours=-5)))
NAIVE = datetime(2026, 12, 2, 19, 5, 7)  # taken as UTC
EARLY = datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)  # a three-digit year, zero-padded as text


def _usage(request_id: str, created_at: datetime, **changes: Any) -> UsageEvent:
    event = UsageEvent(
        request_id, created_at, "alice", "openai", "openai", "gpt-small", "openai/gpt-small",
        10, 5, 0.01, 100.0, 200, None, False,
    )  # fmt: skip
    return replace(event, **changes)


USAGE_EVENTS = [
    _usage("u1", AWARE),
    _usage(
        "u2",
        ELSEWHERE,
        key_id=None,
        upstream_model=None,
        error_type="RateLimited",
        status=429,
        stream=True,
        cached=True,
        saved_cost_usd=0.5,
        prompt_excerpt="the start of a prompt",
    ),
    _usage("u3", NAIVE, model="m" * 300, provider="p" * 80, error_type="e" * 200),
    _usage("u4", EARLY, cost_usd=0, latency_ms=3),  # ints for float columns
]
CLASSIFICATION_EVENTS = [
    ClassificationEvent("c1", AWARE, "powerful", "math", 0.9, 0.8, {"proof_cue": 1.25}),
    ClassificationEvent("c2", ELSEWHERE, "fast", "chat", 0.6, 0.1, {}),
    ClassificationEvent("c3" * 40, NAIVE, "t" * 20, "c" * 40, 1.0, 0.0, {"nested": {"a": [1]}}),
]
RANKING = {"ranked": 2, "candidates": [{"rank": 1, "name": "m", "score": 0.5}]}
SELECTION_EVENTS = [
    SelectionEvent(
        "s1",
        AWARE,
        "powerful",
        "code",
        "openai",
        "gpt-large",
        "best code",
        0.87,
        91.5,
        {"benchmark": 0.5},
        [{"model": "x", "status": 500}],
        JSONText(orjson.dumps(RANKING).decode()),
    ),
    SelectionEvent(
        "s2", ELSEWHERE, "fast", "chat", "groq", "llama", "cheapest", None, None, None, None, None
    ),
    # Read back from a journal: plain text, decoded (and so checked) before it is stored...
    SelectionEvent(
        "s3",
        NAIVE,
        "fast",
        "chat",
        "groq",
        "llama",
        "r" * 5000,
        0.1,
        None,
        None,
        [],
        orjson.dumps(RANKING).decode(),
    ),
    # ... and a damaged one keeps the decision without its ranking.
    SelectionEvent(
        "s4",
        AWARE,
        "fast",
        "chat",
        "groq",
        "llama",
        "x",
        0.1,
        None,
        None,
        None,
        '{"ranked": 2, "cand',
    ),
]


def _reference_row(table: Table, event: Any) -> dict[str, Any]:
    """The row as the compiled INSERT took it before the bulk path existed."""
    row = fit_row(table, row_of(event))
    ranking = row.get("ranking")
    if isinstance(ranking, str) and not isinstance(ranking, JSONText):
        try:
            row["ranking"] = orjson.loads(ranking)
        except orjson.JSONDecodeError:
            row["ranking"] = None
    return row


async def _stored(session: AsyncSession, table: Table) -> list[tuple[Any, ...]]:
    names = ", ".join(c.name for c in table.c if c.name != "id")
    result = await session.connection()
    rows = await result.exec_driver_sql(f"SELECT {names} FROM {table.name} ORDER BY id")
    return [tuple(r) for r in rows.all()]


CASES = [
    pytest.param(USAGE, USAGE_EVENTS, UsageRepository, "add_records", id="usage_records"),
    pytest.param(
        CLASSIFICATIONS,
        CLASSIFICATION_EVENTS,
        ClassificationRepository,
        "add_many",
        id="task_classifications",
    ),
    pytest.param(
        SELECTIONS, SELECTION_EVENTS, SelectionRepository, "add_many", id="model_selections"
    ),
]


@pytest.mark.parametrize(("table", "events", "repository", "method"), CASES)
async def test_rows_are_stored_as_the_compiled_insert_stores_them(
    sessions: Sessions, table: Table, events: list[Any], repository: Any, method: str
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(insert(table), [_reference_row(table, e) for e in events])
        expected = await _stored(session, table)
        await session.rollback()
    async with sessions() as session, session.begin():
        await getattr(repository(session), method)(events)
        stored = await _stored(session, table)
    assert stored == expected
    assert len(stored) == len(events)


async def test_what_the_bulk_path_stored_reads_back_as_the_events_said(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await SelectionRepository(session).add_many(SELECTION_EVENTS)
        await UsageRepository(session).add_records(USAGE_EVENTS)
    async with sessions() as session:
        (s1,) = await SelectionRepository(session).for_request("s1")
        (s3,) = await SelectionRepository(session).for_request("s3")
        (s4,) = await SelectionRepository(session).for_request("s4")
        records = {r.request_id: r for r in await session.scalars(select(UsageRecord))}
    assert s1.ranking == RANKING and s3.ranking == RANKING and s4.ranking is None
    assert s1.created_at == AWARE and s3.created_at == NAIVE.replace(tzinfo=UTC)
    assert records["u2"].created_at == ELSEWHERE  # the same instant, read back in UTC
    assert records["u4"].created_at == EARLY
    assert len(records["u3"].model) == 128 and len(records["u3"].error_type or "") == 128
    assert records["u2"].stream is True and records["u2"].cached is True


async def test_a_batch_larger_than_one_statement_is_stored_whole(sessions: Sessions) -> None:
    events = [_usage(f"bulk-{i}", AWARE) for i in range(1_203)]
    async with sessions() as session, session.begin():
        await UsageRepository(session).add_records(events)
    async with sessions() as session:
        stored = await _stored(session, USAGE)
    assert len(stored) == 1_203


def test_events_that_do_not_fit_the_table_are_refused_at_definition() -> None:
    with pytest.raises(ValueError, match=r"not in task_classifications: \['key_id', 'route'"):
        BulkInsert(CLASSIFICATIONS, UsageEvent)
    # usage_records has Python-side defaults (cached, ...) that a narrower event would skip.
    with pytest.raises(ValueError, match="columns with Python defaults not carried"):
        BulkInsert(USAGE, _NarrowUsage)


@dataclass
class _NarrowUsage:
    request_id: str
    created_at: datetime
    route: str
    provider: str
    model: str
    status: int


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_sqlite_timestamps_are_sqlalchemys_datetime_text(moment: datetime) -> None:
    """UTCDateTime's own SQLite binding writes the text SQLite's DATETIME type would: rows
    written before it and after it sort and compare as one column."""
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    stock = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None and stock is not None
    utc = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    assert ours(moment) == stock(utc)
    assert ours(None) is None
