"""KeyCache: lookups without SQL, revocation seen by other instances within a second."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from annas_gift.services.key_cache import KeyCache
from annas_gift.services.keys import new_secret
from annas_gift.state.key_events import RedisKeyEvents
from annas_gift.storage.repositories.keys import KeyRepository
from tests.keys.conftest import add_key

Sessions = async_sessionmaker[AsyncSession]
REPO_ROOT = Path(__file__).resolve().parents[2]


async def _revoke(sessions: Sessions, key_id: str) -> None:
    async with sessions() as session, session.begin():
        await KeyRepository(session).revoke(key_id)


async def test_lookups_come_from_memory_not_the_database(
    sessions: Sessions, engine: AsyncEngine
) -> None:
    live = await add_key(sessions, "alice", team="cs101")
    expired = await add_key(sessions, "old", expires_at=datetime.now(UTC) - timedelta(days=1))
    revoked = await add_key(sessions, "gone")
    await _revoke(sessions, "vk-gone")
    async with sessions() as session, session.begin():
        await KeyRepository(session).set_team_budget(
            "cs101", daily_usd=1.0, monthly_usd=None, total_usd=None
        )
    cache = KeyCache(sessions, refresh_interval_s=3600)
    await cache.start()
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        record = cache.lookup(live)
        assert record is not None and record.name == "alice"
        assert cache.lookup(new_secret()) is None
        assert cache.lookup("sk-not-even-ours") is None
        assert cache.lookup(revoked) is None  # revoked keys are not even cached
        old = cache.lookup(expired)
        assert old is not None and old.expires_at is not None  # expired: kept, to say why
        assert cache.get("vk-alice") == record
        team = cache.team("cs101")
        assert team is not None and team.daily_usd == 1.0
        assert cache.team("nope") is None and cache.team(None) is None
        assert statements == []
        assert len(cache) == 2
    finally:
        await cache.aclose()


async def test_a_change_made_here_applies_at_once(sessions: Sessions) -> None:
    secret = await add_key(sessions, "bob")
    cache = KeyCache(sessions, refresh_interval_s=3600)
    await cache.start()
    try:
        await _revoke(sessions, "vk-bob")
        assert cache.lookup(secret) is not None  # nobody said anything yet
        await cache.changed("vk-bob")
        assert cache.lookup(secret) is None
        fresh = await add_key(sessions, "carol")
        await cache.changed("vk-carol")
        assert cache.lookup(fresh) is not None
        async with sessions() as session, session.begin():
            await KeyRepository(session).set_team_budget(
                "lab", daily_usd=None, monthly_usd=3.0, total_usd=None
            )
        await cache.changed("team:lab")
        lab = cache.team("lab")
        assert lab is not None and lab.monthly_usd == 3.0
    finally:
        await cache.aclose()


async def test_without_redis_other_instances_catch_up_on_refresh(sessions: Sessions) -> None:
    secret = await add_key(sessions, "dave")
    other = KeyCache(sessions, refresh_interval_s=0.2)
    await other.start()
    try:
        assert other.lookup(secret) is not None
        await _revoke(sessions, "vk-dave")
        new = await add_key(sessions, "erin")
        await asyncio.sleep(0.5)
        assert other.lookup(secret) is None
        assert other.lookup(new) is not None
    finally:
        await other.aclose()


@pytest.mark.redis
async def test_revocation_reaches_another_cache_through_redis_within_a_second(
    sessions: Sessions, redis_url: str, redis_namespace: str
) -> None:
    secret = await add_key(sessions, "frank")
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    here, there = (
        KeyCache(sessions, RedisKeyEvents(c, redis_namespace), refresh_interval_s=3600)
        for c in clients
    )
    await here.start()
    await there.start()
    try:
        assert there.lookup(secret) is not None
        await _revoke(sessions, "vk-frank")
        started = time.monotonic()
        await here.changed("vk-frank")
        assert here.lookup(secret) is None
        while there.lookup(secret) is not None:
            assert time.monotonic() - started < 1.0, "revocation not seen within a second"
            await asyncio.sleep(0.005)
    finally:
        for cache in (here, there):
            await cache.aclose()
        for c in clients:
            await c.aclose()


@pytest.mark.redis
@pytest.mark.slow
async def test_revocation_reaches_another_process_within_a_second(
    sessions: Sessions, migrated_url: str, redis_url: str, redis_namespace: str
) -> None:
    secret = await add_key(sessions, "gina")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TEST_KEY_SECRET": secret}
    script = str(REPO_ROOT / "tests" / "keys" / "cache_worker.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        migrated_url,
        redis_url,
        redis_namespace,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    client = aioredis.Redis.from_url(redis_url)
    here = KeyCache(sessions, RedisKeyEvents(client, redis_namespace), refresh_interval_s=3600)
    await here.start()
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert line.strip() == b"ready"
        await _revoke(sessions, "vk-gina")
        started = time.monotonic()
        await here.changed("vk-gina")
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        elapsed = time.monotonic() - started
        print(f"revocation seen by the other process after {elapsed * 1000:.1f} ms")
        assert line.strip() == b"gone"
        assert elapsed < 1.0
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await here.aclose()
        await client.aclose()
