"""Liveness (/health) and readiness (/health/ready), without auth for load balancers and probes."""

from __future__ import annotations

from fastapi import APIRouter

from annas_gift import __version__
from annas_gift.api.deps import Engine, State, Tracker
from annas_gift.api.responses import JSONResponse
from annas_gift.storage import database

routes = APIRouter(tags=["health"])


@routes.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process is up."""
    return {"status": "ok", "version": __version__}


@routes.get("/health/ready")
async def ready(engine: Engine, tracker: Tracker, state: State) -> JSONResponse:
    """Readiness: 503 if the database is down; Redis loss is reported as degraded (still 200)."""
    db_ok = await database.ping(engine)
    if state.backend == "memory":
        redis = "not configured"
    else:
        # Without Redis the gateway still serves, on per-instance state: degraded, not down.
        redis = "ok" if await state.ping() else "unreachable (per-instance state)"
    body = {
        "status": "ready" if db_ok and redis != "unreachable (per-instance state)" else "degraded",
        "checks": {"database": "ok" if db_ok else "unreachable", "redis": redis},
        "state_backend": state.backend,
        "usage_pending": tracker.pending,
    }
    return JSONResponse(body, status_code=200 if db_ok else 503)
