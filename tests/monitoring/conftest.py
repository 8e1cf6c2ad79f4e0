"""Tracker fixtures (the migrated-database fixtures come from tests/db_fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from annas_gift.storage import database


@pytest.fixture
async def raw_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database whose schema is not there yet (an outage until migrated)."""
    engine = database.create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
