"""ShutdownStack: closing steps in reverse order, each bounded; only its own timeout is caught."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from annas_gift.core.shutdown import ShutdownStack


async def test_a_stuck_step_is_named_and_left_behind_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []

    async def close_db() -> None:
        closed.append("db")

    async def stuck_pool_close() -> None:
        await asyncio.sleep(3600)  # a close that never returns

    async def close_redis(label: str) -> None:
        closed.append(label)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="annas_gift"):
        async with ShutdownStack(step_timeout_s=0.05) as stack:
            stack.push_async_callback(close_db)
            stack.push_async_callback(stuck_pool_close)
            stack.push_async_callback(close_redis, "redis")
    assert time.monotonic() - started < 5
    assert closed == ["redis", "db"]  # reverse order, past the stuck one
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "stuck_pool_close" in warnings[0]
    assert "left behind" in warnings[0]


async def test_a_steps_own_errors_propagate() -> None:
    async def fails() -> None:
        raise RuntimeError("close failed")

    async def own_timeout() -> None:
        raise TimeoutError("the step's own timeout, not the stack's")

    with pytest.raises(RuntimeError, match="close failed"):
        async with ShutdownStack(step_timeout_s=5) as stack:
            stack.push_async_callback(fails)
    with pytest.raises(TimeoutError, match="own timeout"):
        async with ShutdownStack(step_timeout_s=5) as stack:
            stack.push_async_callback(own_timeout)
