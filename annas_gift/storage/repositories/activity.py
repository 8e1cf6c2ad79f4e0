"""Read-only views of recent activity for the dashboard: latest calls, latencies, routing split."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from annas_gift.storage.models import SelectionRow, UsageRecord


class LatencyPoint(NamedTuple):
    """One recorded call's time and latency."""

    created_at: datetime
    latency_ms: float


class RouteCount(NamedTuple):
    """How many auto-routed requests went to one (tier, category, model)."""

    tier: str
    category: str
    provider: str
    model: str
    requests: int


class ActivityRepository:
    """Reads usage_records and model_selections newest first; never writes."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def recent_records(
        self, limit: int, *, errors_only: bool = False, since: datetime | None = None
    ) -> list[UsageRecord]:
        """The newest usage records (optionally only those with status >= 400)."""
        query = select(UsageRecord).order_by(UsageRecord.created_at.desc(), UsageRecord.id.desc())
        if errors_only:
            query = query.where(UsageRecord.status >= 400)
        if since is not None:
            query = query.where(UsageRecord.created_at >= since)
        return list((await self._session.scalars(query.limit(limit))).all())

    async def records_for(self, request_id: str) -> list[UsageRecord]:
        """Every usage record (one per attempt) of one request, oldest first."""
        query = (
            select(UsageRecord)
            .where(UsageRecord.request_id == request_id)
            .order_by(UsageRecord.created_at, UsageRecord.id)
        )
        return list((await self._session.scalars(query)).all())

    async def latencies(
        self, since: datetime, until: datetime | None = None, limit: int = 50_000
    ) -> list[LatencyPoint]:
        """Time and latency of the newest `limit` upstream calls in [since, until)."""
        query = (
            select(UsageRecord.created_at, UsageRecord.latency_ms)
            .where(UsageRecord.created_at >= since, UsageRecord.cached.is_(False))
            .order_by(UsageRecord.created_at.desc())
            .limit(limit)
        )
        if until is not None:
            query = query.where(UsageRecord.created_at < until)
        rows = (await self._session.execute(query)).all()
        return [LatencyPoint(row[0], float(row[1])) for row in rows]

    async def route_counts(self, since: datetime | None = None) -> list[RouteCount]:
        """Auto-routing decisions since `since`, counted per (tier, category, chosen model)."""
        columns = (
            SelectionRow.tier,
            SelectionRow.category,
            SelectionRow.selected_provider,
            SelectionRow.selected_model,
        )
        query = select(*columns, func.count(SelectionRow.id)).group_by(*columns)
        if since is not None:
            query = query.where(SelectionRow.created_at >= since)
        rows = (await self._session.execute(query.order_by(*columns))).all()
        return [RouteCount(row[0], row[1], row[2], row[3], int(row[4])) for row in rows]

    async def recent_selections(self, limit: int) -> list[SelectionRow]:
        """The newest routing decisions."""
        query = (
            select(SelectionRow)
            .order_by(SelectionRow.created_at.desc(), SelectionRow.id.desc())
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())
