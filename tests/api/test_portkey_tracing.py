"""A chat request through the gateway produces one Portkey log entry, without prompts or keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from annas_gift.api.app import create_app
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import Settings
from tests.api.conftest import AUTH, make_catalog
from tests.portkey.conftest import API_KEY, FakePortkey

SECRET_PROMPT = "my unpublished thesis result is 42"


@pytest.fixture
async def fake_portkey() -> AsyncIterator[FakePortkey]:
    server = FakePortkey()
    await server.start()
    yield server
    await server.stop()


async def test_request_is_traced_to_portkey(
    settings: Settings,
    upstream: RunningSandbox,
    fake_portkey: FakePortkey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    traced = settings.model_copy(
        update={
            "portkey": settings.portkey.model_copy(
                update={
                    "enabled": True,
                    "api_key": SecretStr(API_KEY),
                    "base_url": fake_portkey.base_url,
                    "flush_interval_s": 0.02,
                }
            )
        }
    )
    app = create_app(traced, catalog=make_catalog(upstream.base_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            r = await client.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": [{"role": "user", "content": SECRET_PROMPT}]},
                headers=AUTH,
            )
            assert r.status_code == 200
            entries = await fake_portkey.wait_for(1)
    entry = entries[0]
    assert entry["metadata"]["trace_id"] == r.headers["x-annas-trace-id"]
    assert entry["metadata"]["model"] == r.headers["x-annas-model"]
    assert entry["response"]["status"] == 200
    assert SECRET_PROMPT not in str(entry)  # prompts stay home unless send_prompts is on
    assert API_KEY not in caplog.text
