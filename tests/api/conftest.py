"""Fixtures for the API: the sandbox upstream on a real port, the app on SQLite, clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from annas_gift.api.app import create_app
from annas_gift.catalog.demo import demo_model_list
from annas_gift.catalog.registry import Catalog
from annas_gift.sandbox import RunningSandbox, start_in_thread
from annas_gift.settings import Settings, load_settings

KEY = "sk-test-key"
ALICE = "sk-alice-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ADMIN_KEY = "sk-test-admin"  # an admin key: VPN, keys and everyone's usage
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
MISSING_ENV = "ANNAS_TEST_UNSET_PROVIDER_KEY"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """One sandbox upstream for the session; each test starts with a clean script and log."""
    with start_in_thread() as sb:
        yield sb


@pytest.fixture
def upstream(sandbox: RunningSandbox) -> RunningSandbox:
    sandbox.clear()
    return sandbox


def make_catalog(base_url: str) -> Catalog:
    """The demo models plus one whose provider key is never set."""
    entries: list[dict[str, Any]] = demo_model_list(base_url)
    entries.append(
        {
            "model_name": "needs-key/model",
            "litellm_params": {
                "model": "openai/needs-key",
                "api_base": base_url,
                "api_key": f"os.environ/{MISSING_ENV}",
            },
            "model_info": {"provider": "needs-key", "tier": "fast", "categories": ["chat"]},
        }
    )
    return Catalog.from_model_list(entries, price=False)


@pytest.fixture
def upstream_path() -> str:
    """Which provider path the app uses; test modules override it to cover both."""
    return "direct"


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path, upstream_path: str) -> Settings:
    return load_settings(
        auth={"api_keys": [KEY, f"alice:{ALICE}"], "admin_keys": [f"ops:{ADMIN_KEY}"]},
        storage={
            "database_url": sqlite_url,
            "flush_interval_s": 0.05,
            "spool_path": str(tmp_path / "spool.jsonl"),
        },
        server={"max_body_bytes": 64 * 1024, "access_log": True},
        litellm={"timeout_s": 5.0, "direct_openai_wire": upstream_path == "direct"},
    )


@pytest.fixture
def app(settings: Settings, upstream: RunningSandbox) -> FastAPI:
    return create_app(settings, catalog=make_catalog(upstream.base_url))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client with the app's lifespan running (DB migrated, tracker started)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
            yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveGateway:
    """The app served by uvicorn on a real port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> LiveGateway:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def live_gateway(app: FastAPI) -> Iterator[LiveGateway]:
    with LiveGateway(app) as gw:
        yield gw
