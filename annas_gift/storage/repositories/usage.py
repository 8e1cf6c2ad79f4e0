"""Usage records, hourly metrics and the aggregates read back from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, Table, case, func, null, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from annas_gift.core.events import MetricDelta, UsageEvent, UsageStat, merge_deltas
from annas_gift.storage.models import ClassificationRow, UsageMetric, UsageRecord
from annas_gift.storage.repositories._bulk import BulkInsert
from annas_gift.storage.repositories._sql import row_of, utc_day

GroupBy = Literal["provider", "model", "day", "key", "category", "tier"]
NO_KEY = "(none)"  # usage recorded without a key id
EXPLICIT = "(explicit)"  # requests that named their model: no classification, tier or category
Column = ColumnElement[Any] | QueryableAttribute[Any] | None

_METRIC_SUMS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "errors",
    "rate_limit_hits",
    "cost_usd",
)
_RECORDS: Table = UsageRecord.__table__  # type: ignore[assignment]  # declarative tables are Tables
_INSERT_RECORDS = BulkInsert(_RECORDS, UsageEvent)


class UsageRepository:
    """Reads and writes usage_records and usage_metrics."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_records(self, records: Sequence[UsageEvent]) -> None:
        """Insert usage records by driver-level executemany (see _bulk.py for why)."""
        await _INSERT_RECORDS.run(self._session, records)

    async def add_hourly(self, deltas: Sequence[MetricDelta]) -> None:
        """Add deltas to the hourly metrics, creating rows as needed (one upsert per batch)."""
        rows = [row_of(d) for d in merge_deltas(deltas)]
        if not rows:
            return
        dialect = self._session.get_bind().dialect.name
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(UsageMetric)
        elif dialect == "sqlite":
            stmt = sqlite.insert(UsageMetric)
        else:
            raise NotImplementedError(f"hourly upsert is not implemented for {dialect}")
        table = UsageMetric.__table__
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.provider, table.c.model, table.c.hour],
            set_={name: table.c[name] + stmt.excluded[name] for name in _METRIC_SUMS},
        )
        await self._session.execute(stmt, rows)

    async def hourly(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> list[UsageMetric]:
        """Hourly metric rows in [since, until), oldest first."""
        query = select(UsageMetric).order_by(
            UsageMetric.hour, UsageMetric.provider, UsageMetric.model
        )
        if since is not None:
            query = query.where(UsageMetric.hour >= since)
        if until is not None:
            query = query.where(UsageMetric.hour < until)
        if provider is not None:
            query = query.where(UsageMetric.provider == provider)
        if model is not None:
            query = query.where(UsageMetric.model == model)
        return list((await self._session.scalars(query)).all())

    async def stats(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: GroupBy | None = None,
        key_id: str | None = None,
    ) -> list[UsageStat]:
        """Aggregates over usage records in [since, until) (of one key id if given), per group.

        `key` groups by key id; `tier` and `category` by the classifier's verdict for the
        request, so requests that named their model fall in the "(explicit)" group.
        """
        if group_by in ("tier", "category"):
            return await self._stats_by_decision(since, until, group_by, key_id)
        key: Column = {
            None: None,
            "provider": UsageRecord.provider,
            "model": UsageRecord.model,
            "day": utc_day(UsageRecord.created_at),
            "key": func.coalesce(UsageRecord.key_id, NO_KEY),
        }[group_by]
        query = _aggregate(since, until, key)
        if key_id is not None:
            query = query.where(UsageRecord.key_id == key_id)
        if key is not None:
            query = query.group_by(key).order_by(key)
        return [_stat(row) for row in (await self._session.execute(query)).all()]

    async def _stats_by_decision(
        self,
        since: datetime | None,
        until: datetime | None,
        field: Literal["tier", "category"],
        key_id: str | None = None,
    ) -> list[UsageStat]:
        # One verdict per request id (max() picks one if a client reused an id), joined outer
        # so that explicit requests count too and no usage row is counted twice.
        verdicts = (
            select(
                ClassificationRow.request_id,
                func.max(getattr(ClassificationRow, field)).label("value"),
            )
            .group_by(ClassificationRow.request_id)
            .subquery()
        )
        key = func.coalesce(verdicts.c.value, EXPLICIT)
        query = (
            _aggregate(since, until, key)
            .select_from(UsageRecord)
            .outerjoin(verdicts, verdicts.c.request_id == UsageRecord.request_id)
            .group_by(key)
            .order_by(key)
        )
        if key_id is not None:
            query = query.where(UsageRecord.key_id == key_id)
        return [_stat(row) for row in (await self._session.execute(query)).all()]

    async def latency_quantile(self, since: datetime, q: float = 0.95) -> tuple[float | None, int]:
        """The q-quantile of successful requests' latency (ms) since `since`, and their count."""
        ok = (UsageRecord.created_at >= since, UsageRecord.status < 400)
        count = int(
            await self._session.scalar(select(func.count()).select_from(UsageRecord).where(*ok))
            or 0
        )
        if not count:
            return None, 0
        # Nearest-rank quantile; portable (SQLite has no percentile function).
        rank = max(0, min(count - 1, int(q * count + 0.999999) - 1))
        value = await self._session.scalar(
            select(UsageRecord.latency_ms)
            .where(*ok)
            .order_by(UsageRecord.latency_ms)
            .offset(rank)
            .limit(1)
        )
        return (None if value is None else float(value)), count

    async def model_stats(
        self,
        provider: str,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> UsageStat:
        """Aggregates for one provider's model in [since, until); zeros when it has no usage."""
        query = _aggregate(since, until, None).where(
            UsageRecord.provider == provider, UsageRecord.model == model
        )
        row = (await self._session.execute(query)).one()
        return _stat(row, key=model)

    async def count(self) -> int:
        """How many usage records are stored."""
        return int(await self._session.scalar(select(func.count()).select_from(UsageRecord)) or 0)


def _aggregate(since: datetime | None, until: datetime | None, key: Column) -> Select[Any]:
    columns: list[ColumnElement[Any]] = [
        func.count(UsageRecord.id),
        func.coalesce(func.sum(UsageRecord.prompt_tokens), 0),
        func.coalesce(func.sum(UsageRecord.completion_tokens), 0),
        func.coalesce(func.sum(case((UsageRecord.status >= 400, 1), else_=0)), 0),
        func.coalesce(func.sum(case((UsageRecord.status == 429, 1), else_=0)), 0),
        func.coalesce(func.sum(UsageRecord.cost_usd), 0.0),
        func.coalesce(func.sum(UsageRecord.saved_cost_usd), 0.0),
        func.avg(UsageRecord.latency_ms),
    ]
    query = select(key if key is not None else null(), *columns)
    if since is not None:
        query = query.where(UsageRecord.created_at >= since)
    if until is not None:
        query = query.where(UsageRecord.created_at < until)
    return query


def _stat(row: Any, key: str | None = None) -> UsageStat:
    return UsageStat(
        key=key if key is not None else row[0],
        requests=int(row[1]),
        prompt_tokens=int(row[2]),
        completion_tokens=int(row[3]),
        errors=int(row[4]),
        rate_limit_hits=int(row[5]),
        cost_usd=float(row[6]),
        saved_cost_usd=float(row[7]),
        avg_latency_ms=None if row[8] is None else float(row[8]),
    )
