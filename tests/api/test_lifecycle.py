"""Usage written during requests is in the database after the app shuts down."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from annas_gift.api.app import create_app
from annas_gift.settings import Settings
from annas_gift.storage import database
from annas_gift.storage.models import UsageMetric, UsageRecord
from tests.api.conftest import AUTH, make_catalog

MSG = [{"role": "user", "content": "Define a Banach space."}]


async def test_usage_is_flushed_on_shutdown(settings: Settings, upstream) -> None:  # type: ignore[no-untyped-def]
    # A long flush interval: only the shutdown flush can have written these rows.
    slow = settings.model_copy(
        update={"storage": settings.storage.model_copy(update={"flush_interval_s": 3600})}
    )
    app: FastAPI = create_app(slow, catalog=make_catalog(upstream.base_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for _ in range(5):
                r = await client.post(
                    "/v1/chat/completions",
                    json={"model": "sandbox/fast-small", "messages": MSG},
                    headers=AUTH,
                )
                assert r.status_code == 200
            assert app.state.gateway.tracker.pending == 5

    engine = database.create_engine(slow.storage.database_url)
    try:
        async with database.session_factory(engine)() as session:
            records = await session.scalar(select(func.count()).select_from(UsageRecord))
            hourly = await session.scalar(select(func.sum(UsageMetric.requests)))
    finally:
        await engine.dispose()
    assert records == 5
    assert hourly == 5
