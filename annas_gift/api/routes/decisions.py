"""`GET /api/v1/decisions`: the stored `auto` decisions the dashboard's routing pages show."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from annas_gift.api.deps import DashboardReader, DbSessions
from annas_gift.api.schemas.operations import DecisionOut, DecisionsOut
from annas_gift.core.errors import NotFound
from annas_gift.services import dashboard_data as data

routes = APIRouter(prefix="/api/v1/decisions", tags=["operations"])


@routes.get("", response_model=DecisionsOut)
async def decisions(
    _: DashboardReader,
    sessions: DbSessions,
    limit: int = Query(default=25, ge=1, le=200, description="how many, newest first"),
) -> DecisionsOut:
    """The newest routing decisions: chosen model, reason, ranking (top 10) and attempts."""
    return DecisionsOut.model_validate({"decisions": await data.recent_decisions(sessions, limit)})


@routes.get("/{request_id}", response_model=DecisionOut)
async def decision(
    _: DashboardReader,
    sessions: DbSessions,
    request_id: str = Path(max_length=64, description="the request's x-request-id"),
) -> DecisionOut:
    """One `auto` request's decision with the ranking that decided it (404 if none stored)."""
    found = await data.decision(sessions, request_id)
    if found is None:
        raise NotFound(
            f"no routing decision stored for request '{request_id}' (explicit models have none; "
            "usage is written about a second after a request ends)",
            param="request_id",
        )
    return DecisionOut.model_validate(found)
