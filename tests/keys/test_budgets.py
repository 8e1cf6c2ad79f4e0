"""Budget ledger: exact reservations under concurrency (memory, Redis, two processes)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from annas_gift.state.budgets import (
    BudgetDenial,
    BudgetLedger,
    BudgetLine,
    Reservation,
    period_reset,
    period_start,
    to_micro,
)
from tests.keys.conftest import FakeClock, LedgerFactory

KEY_DAY = BudgetLine("key:vk-1", "day", 0.10)
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_money_is_counted_in_exact_micro_dollars() -> None:
    assert to_micro(0.01) == 10_000
    assert to_micro(0.01, up=True) == 10_000  # 0.01 * 1e6 is 10000.000000000002 in floats
    assert to_micro(0.0000001, up=True) == 1  # a fraction of a micro-dollar still reserves one
    assert to_micro(0.0000004) == 0
    assert to_micro(-3.0) == 0
    assert sum(to_micro(0.1) for _ in range(10)) == to_micro(1.0)


def test_periods_reset_at_utc_midnight_and_month_start() -> None:
    now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert period_start("day", now) == datetime(2026, 12, 31, tzinfo=UTC)
    assert period_reset("day", now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_start("month", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert period_reset("month", now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_reset("month", datetime(2026, 2, 10, tzinfo=UTC)) == datetime(
        2026, 3, 1, tzinfo=UTC
    )
    assert period_reset("total", now) is None and period_start("total", now) is None


async def test_fifty_concurrent_one_cent_requests_fit_a_ten_cent_budget_ten_times(
    ledger: BudgetLedger,
) -> None:
    results = await asyncio.gather(*(ledger.reserve([KEY_DAY], 0.01) for _ in range(50)))
    assert sum(isinstance(r, Reservation) for r in results) == 10
    denials = [r for r in results if isinstance(r, BudgetDenial)]
    assert len(denials) == 40
    assert {d.line for d in denials} == {KEY_DAY}
    assert all(d.spent_usd == pytest.approx(0.10) for d in denials)
    assert await ledger.spent([KEY_DAY]) == [pytest.approx(0.10)]


@pytest.mark.redis
async def test_two_ledgers_on_one_redis_share_the_budget_exactly(
    redis_ledgers: LedgerFactory,
) -> None:
    first, second = await redis_ledgers(), await redis_ledgers()
    calls = [(first if i % 2 else second).reserve([KEY_DAY], 0.01) for i in range(50)]
    results = await asyncio.gather(*calls)
    assert sum(isinstance(r, Reservation) for r in results) == 10
    assert first.backend == second.backend == "redis"


@pytest.mark.redis
@pytest.mark.slow
def test_two_processes_sharing_redis_admit_exactly_the_budget(
    redis_url: str, redis_namespace: str
) -> None:
    """Two Python processes fire 40 reservations each at once: 10 cents admit exactly 10."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    script = str(REPO_ROOT / "tests" / "keys" / "budget_worker.py")
    procs = [
        subprocess.Popen(
            [sys.executable, script, redis_url, redis_namespace, "40"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    admitted = [int(out.split("admitted=")[1].split()[0]) for out, _ in outputs]
    assert all("backend=redis" in out for out, _ in outputs)
    print(f"two processes: sent 80, admitted {admitted} = {sum(admitted)}, expected 10")
    assert sum(admitted) == 10


async def test_any_line_can_refuse_and_then_nothing_is_charged(ledger: BudgetLedger) -> None:
    team = BudgetLine("team:cs101", "month", 0.05)
    key = BudgetLine("key:vk-2", "total", 1.00)
    for _ in range(5):
        assert isinstance(await ledger.reserve([key, team], 0.01), Reservation)
    denial = await ledger.reserve([key, team], 0.01)
    assert isinstance(denial, BudgetDenial)
    assert denial.line == team
    assert await ledger.spent([key, team]) == [pytest.approx(0.05), pytest.approx(0.05)]


async def test_a_request_bigger_than_what_is_left_is_refused(ledger: BudgetLedger) -> None:
    assert isinstance(await ledger.reserve([KEY_DAY], 0.07), Reservation)
    assert isinstance(await ledger.reserve([KEY_DAY], 0.04), BudgetDenial)
    assert isinstance(await ledger.reserve([KEY_DAY], 0.03), Reservation)
    # At the limit even a free request is refused: the key is over budget.
    assert isinstance(await ledger.reserve([KEY_DAY], 0.0), BudgetDenial)


async def test_reconcile_replaces_the_estimate_with_the_real_cost(ledger: BudgetLedger) -> None:
    held = await ledger.reserve([KEY_DAY], 0.05)
    assert isinstance(held, Reservation)
    await ledger.reconcile(held, 0.012)
    assert await ledger.spent([KEY_DAY]) == [pytest.approx(0.012)]
    over = await ledger.reserve([KEY_DAY], 0.08)
    assert isinstance(over, Reservation)
    await ledger.reconcile(over, 0.11)  # a stream that overran: recorded at its real cost
    assert await ledger.spent([KEY_DAY]) == [pytest.approx(0.122)]
    denial = await ledger.reserve([KEY_DAY], 0.001)
    assert isinstance(denial, BudgetDenial)
    assert denial.spent_usd == pytest.approx(0.122)


async def test_release_gives_the_reservation_back(ledger: BudgetLedger) -> None:
    held = [await ledger.reserve([KEY_DAY], 0.05) for _ in range(2)]
    assert all(isinstance(h, Reservation) for h in held)
    assert isinstance(await ledger.reserve([KEY_DAY], 0.01), BudgetDenial)
    first = held[0]
    assert isinstance(first, Reservation)
    await ledger.release(first)
    assert await ledger.spent([KEY_DAY]) == [pytest.approx(0.05)]
    assert isinstance(await ledger.reserve([KEY_DAY], 0.05), Reservation)


async def test_unlimited_lines_are_counted_too(ledger: BudgetLedger) -> None:
    counted = BudgetLine("global", "total")
    for _ in range(3):
        assert isinstance(await ledger.reserve([counted], 2.5), Reservation)
    assert await ledger.spent([counted]) == [pytest.approx(7.5)]
    await ledger.charge([counted], 0.5)
    assert await ledger.spent([counted]) == [pytest.approx(8.0)]


async def test_seed_starts_missing_counters_only(ledger: BudgetLedger) -> None:
    month = BudgetLine("key:vk-3", "month", 1.0)
    assert await ledger.seed([KEY_DAY, month], [0.04, 0.98]) == 2
    assert await ledger.spent([KEY_DAY, month]) == [pytest.approx(0.04), pytest.approx(0.98)]
    # A live counter (another instance's) wins over a later, staler read of the database.
    assert await ledger.seed([KEY_DAY], [0.0]) == 0
    assert await ledger.spent([KEY_DAY]) == [pytest.approx(0.04)]
    denial = await ledger.reserve([KEY_DAY, month], 0.05)  # fits the day, not the month
    assert isinstance(denial, BudgetDenial)
    assert denial.line == month


async def test_the_day_rolls_over_at_utc_midnight_but_the_month_goes_on(
    clock: FakeClock,
) -> None:
    ledger = BudgetLedger(clock=clock)  # 2026-12-31 23:59 UTC
    month = BudgetLine("key:vk-1", "month", 0.15)
    for _ in range(10):
        assert isinstance(await ledger.reserve([KEY_DAY, month], 0.01), Reservation)
    denial = await ledger.reserve([KEY_DAY, month], 0.01)
    assert isinstance(denial, BudgetDenial)
    assert denial.line == KEY_DAY
    assert denial.reset_at == datetime(2027, 1, 1, tzinfo=UTC)
    clock.advance(61)  # 2027-01-01 00:00:01: a new day and a new month
    assert await ledger.spent([KEY_DAY, month]) == [0.0, 0.0]
    assert isinstance(await ledger.reserve([KEY_DAY, month], 0.01), Reservation)


async def test_unreachable_redis_falls_back_to_exact_per_instance_counting() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    ledger = BudgetLedger(dead)
    try:
        results = await asyncio.gather(*(ledger.reserve([KEY_DAY], 0.01) for _ in range(30)))
        assert sum(isinstance(r, Reservation) for r in results) == 10
        assert ledger.backend == "memory (redis unavailable)"
    finally:
        await dead.aclose()
