"""One "gateway instance" for the two-process budget test: reserve concurrently, print admits.

Run as `python tests/keys/budget_worker.py REDIS_URL NAMESPACE COUNT`. Both workers wait on a
Redis barrier so their reservations really overlap.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from annas_gift.state.budgets import BudgetLedger, BudgetLine, Reservation

LINES = [BudgetLine("key:vk-shared", "day", 0.10), BudgetLine("global", "total")]


async def main(url: str, namespace: str, count: int) -> None:
    client = aioredis.Redis.from_url(url, socket_timeout=10.0)
    try:
        ledger = BudgetLedger(client, namespace=namespace)
        barrier = f"{{{namespace}}}:barrier"
        await client.incr(barrier)
        while int(await client.get(barrier) or 0) < 2:  # noqa: ASYNC110 - a cross-process barrier
            await asyncio.sleep(0.005)
        results = await asyncio.gather(*(ledger.reserve(LINES, 0.01) for _ in range(count)))
        admitted = sum(isinstance(r, Reservation) for r in results)
        print(f"admitted={admitted} backend={ledger.backend}", flush=True)
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
