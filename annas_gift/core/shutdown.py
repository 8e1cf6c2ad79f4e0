"""A shutdown that always ends: every closing step gets a bounded time, and a step that overruns
is named in the log and left behind.

A stuck close (a database pool waiting on a connection a cancelled query left, a Redis or
webhook peer that stopped answering) must not keep a stopping gateway alive until its supervisor
kills it: what it would have written is in the usage journal, replayed at the next start, as
after a kill -9 (tests/integration/test_kill9.py), so leaving the step behind loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

log = logging.getLogger("annas_gift")

# Per closing step. Above the usage writer's own bound (monitoring/tracker.py: the final flush
# gets 10 s, then what the database did not take is spooled to local disk), so that a slow
# database never cuts the spooling short; a stuck step still ends within a supervisor's grace
# of 30 s (Kubernetes' default).
STEP_TIMEOUT_S = 20.0


class ShutdownStack(AsyncExitStack):
    """An AsyncExitStack whose async callbacks each run for at most `step_timeout_s`.

    Only a timeout of the step itself is caught (logged with the step's name); any other error
    of a step, a TimeoutError of its own included, propagates as from AsyncExitStack."""

    def __init__(self, step_timeout_s: float = STEP_TIMEOUT_S) -> None:
        super().__init__()
        self.step_timeout_s = step_timeout_s

    def push_async_callback(
        self, callback: Callable[..., Awaitable[Any]], /, *args: Any, **kwds: Any
    ) -> Callable[..., Awaitable[Any]]:
        name = getattr(callback, "__qualname__", repr(callback))
        limit = self.step_timeout_s

        async def bounded() -> None:
            deadline = asyncio.timeout(limit)
            try:
                async with deadline:
                    await callback(*args, **kwds)
            except TimeoutError:
                if not deadline.expired():
                    raise
                log.warning("shutdown: %s did not finish within %.0f s; left behind", name, limit)

        super().push_async_callback(bounded)
        return callback
