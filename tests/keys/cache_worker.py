"""Another "gateway instance" for the revocation test: hold a key in a KeyCache subscribed to
Redis, report when a secret stops working.

Run as `TEST_KEY_SECRET=… python tests/keys/cache_worker.py DATABASE_URL REDIS_URL NAMESPACE`.
Prints "ready" once the key is cached, then "gone" as soon as the key no longer works (the
parent times it).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import redis.asyncio as aioredis

from annas_gift.services.key_cache import KeyCache
from annas_gift.state.key_events import RedisKeyEvents
from annas_gift.storage import database


async def main(db_url: str, redis_url: str, namespace: str, secret: str) -> None:
    engine = database.create_engine(db_url)
    client = aioredis.Redis.from_url(redis_url)
    # A refresh far in the future: only the notification can make the key disappear in time.
    cache = KeyCache(
        database.session_factory(engine),
        RedisKeyEvents(client, namespace),
        refresh_interval_s=3600,
    )
    try:
        await cache.start()
        assert cache.lookup(secret) is not None, "the key is not cached"
        print("ready", flush=True)
        deadline = time.monotonic() + 20
        # Polls what a request would see; the cache exposes no event on purpose.
        while cache.lookup(secret) is not None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        print("gone" if cache.lookup(secret) is None else "still-there", flush=True)
    finally:
        await cache.aclose()
        await client.aclose()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4], os.environ["TEST_KEY_SECRET"]))
