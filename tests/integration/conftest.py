"""Fixtures the integration tests share: a throwaway PostgreSQL database, the sandbox
upstream in a thread, and the loopback webhook receiver of the alert tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from annas_gift.sandbox import RunningSandbox, start_in_thread
from tests.conftest import _create_pg_database, _drop_pg_database, _require_pg
from tests.integration.alerting import Receiver


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (skips when PostgreSQL is not configured)."""
    admin = _require_pg()
    url, name = await _create_pg_database(admin)
    yield url
    await _drop_pg_database(admin, name)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """The sandbox upstream on a free loopback port."""
    with start_in_thread() as sb:
        yield sb


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running webhook receiver."""
    rec = Receiver()
    rec.thread.start()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()
