"""The served app freezes its start-up heap and collects young objects less often (issue 14)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest

from annas_gift.api.app import create_app
from annas_gift.api.gc_tuning import YOUNG_THRESHOLD
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import Settings
from tests.api.conftest import KEY, make_catalog


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()  # the rest of the test session keeps an ordinary collector
    gc.set_threshold(*threshold)


async def test_served_app_freezes_the_startup_heap_and_still_answers(
    settings: Settings, upstream: RunningSandbox, unfrozen: None
) -> None:
    app = create_app(settings, catalog=make_catalog(upstream.base_url), freeze_gc=True)
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            reply = await client.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {KEY}"},
                json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
            )
    assert frozen > 10_000  # the imported libraries and the gateway's long-lived parts
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # young collections every 10,000, not 700
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"]


async def test_apps_built_for_tests_leave_the_collector_alone(
    settings: Settings, upstream: RunningSandbox, unfrozen: None
) -> None:
    app = create_app(settings, catalog=make_catalog(upstream.base_url))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold()[0] != YOUNG_THRESHOLD
