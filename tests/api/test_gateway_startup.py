"""Start-up is all or nothing: a step that fails closes everything opened before it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from annas_gift.api.app import create_app
from annas_gift.catalog.registry import Catalog
from annas_gift.egress.log_guard import SecretFilter
from annas_gift.services.model_probes import ModelProbes
from annas_gift.settings import load_settings
from annas_gift.upstream.base import Completion, UpstreamCall


class ClosableUpstream:
    """An upstream that is never called here; it only notes being closed."""

    def __init__(self) -> None:
        self.closed = 0

    async def complete(self, call: UpstreamCall) -> Completion:
        raise AssertionError("not called during start-up")

    async def relay(self, call: UpstreamCall, view: Any) -> AsyncIterator[bytes]:
        raise AssertionError("not called during start-up")
        yield b""  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        self.closed += 1


async def test_a_late_start_up_failure_closes_what_was_opened(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database may be down at start (the gateway then serves with usage buffered), so the
    # late failing step here is the model probes, the last one before the gateway is ready.
    settings = load_settings(
        auth={"api_keys": ["sk-start"]},
        storage={
            "database_url": sqlite_url,
            "spool_path": str(tmp_path / "spool.jsonl"),
        },
        vpn={"enabled": True, "endpoints": [{"name": "a", "url": "http://127.0.0.1:9"}]},
    )

    def fail() -> None:
        raise RuntimeError("probes could not start")

    monkeypatch.setattr(ModelProbes, "start", lambda self: fail())
    upstream = ClosableUpstream()
    app = create_app(settings, catalog=Catalog([]), upstream=upstream)
    before = asyncio.all_tasks()
    with pytest.raises(RuntimeError, match="probes could not start"):
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover - start-up must fail
    assert upstream.closed == 1  # opened before the failure, closed after it
    leftover = [t.get_name() for t in asyncio.all_tasks() - before if not t.done()]
    assert leftover == []  # the usage tracker's and the VPN's background tasks are gone
    for name in ("httpx", "annas_gift", "sqlalchemy.engine"):
        filters = logging.getLogger(name).filters
        assert not any(isinstance(f, SecretFilter) for f in filters)  # the VPN's log guard too
    assert not hasattr(app.state, "gateway")
