"""Helpers for the tracker tests: wait for a condition, read back what was written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.storage.models import UsageRecord
from annas_gift.storage.repositories import UsageRepository

Sessions = async_sessionmaker[AsyncSession]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Wait until `check` holds, failing the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)


async def count(sessions: Sessions) -> int:
    async with sessions() as session:
        return await UsageRepository(session).count()


def rows_reach(sessions: Sessions, expected: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await count(sessions) == expected

    return check


async def request_ids(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return sorted((await session.scalars(select(UsageRecord.request_id))).all())
