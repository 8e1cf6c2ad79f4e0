"""Key change notifications between gateway instances: Redis pub/sub, or in process.

A message is just a key id ("vk-…", or "team:<label>" for team budgets): receivers re-read
that row from the database, so a message carries no secret and a lost or repeated one does no
harm. After a Redis outage receivers resynchronise in full, since messages may have been missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from annas_gift.state.redis_errors import redis_down

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("annas_gift.state")
OnChange = Callable[[str], Awaitable[None]]
OnResync = Callable[[], Awaitable[None]]


class KeyEvents(Protocol):
    """Publishes key changes and delivers every instance's changes to `on_change`."""

    async def publish(self, key_id: str) -> None:
        """Tell the other instances that a key changed (Redis echoes it to this one too)."""
        ...

    async def start(self, on_change: OnChange, on_resync: OnResync) -> None:
        """Start delivering changes."""
        ...

    async def aclose(self) -> None:
        """Stop delivering changes."""
        ...


class LocalKeyEvents:
    """Without Redis there is no one to tell: other instances see changes on their refresh."""

    async def publish(self, key_id: str) -> None:
        """Nothing to do: the cache that made the change has applied it already."""

    async def start(self, on_change: OnChange, on_resync: OnResync) -> None:
        """Nothing to subscribe to."""

    async def aclose(self) -> None:
        """Nothing to stop."""


class RedisKeyEvents:
    """Changes over one Redis pub/sub channel per namespace."""

    def __init__(self, client: Redis, namespace: str, *, retry_interval_s: float = 1.0) -> None:
        self._client = client
        self.channel = f"{namespace}:keys"
        self._retry_interval_s = retry_interval_s
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def publish(self, key_id: str) -> None:
        """Publish on the channel; a Redis failure is logged (the periodic refresh catches up)."""
        try:
            await self._client.publish(self.channel, key_id)
        except redis_down() as exc:
            log.warning("cannot publish a key change (%s); other instances refresh later", exc)

    async def start(self, on_change: OnChange, on_resync: OnResync) -> None:
        """Subscribe in the background; returns once subscribed (or after one failed try)."""
        self._task = asyncio.get_running_loop().create_task(self._listen(on_change, on_resync))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)

    async def _listen(self, on_change: OnChange, on_resync: OnResync) -> None:
        first = True
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                if not first:
                    await on_resync()  # messages sent while we were away are lost
                    log.info("key change notifications resumed")
                first = False
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        await on_change(data.decode() if isinstance(data, bytes) else str(data))
            except redis_down() as exc:
                log.warning("key change notifications interrupted (%s)", type(exc).__name__)
                first = False
                self._subscribed.set()
                await asyncio.sleep(self._retry_interval_s)
            finally:
                with contextlib.suppress(*redis_down()):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    async def aclose(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
