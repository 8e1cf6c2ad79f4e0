"""UsageRepository on both backends: records, hourly upserts and aggregates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.events import MetricDelta, UsageEvent, UsageStat
from annas_gift.storage.repositories import UsageRepository

Make = Callable[..., UsageEvent]
T0 = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


async def _add(sessions: async_sessionmaker[AsyncSession], events: list[UsageEvent]) -> None:
    async with sessions() as session, session.begin():
        await UsageRepository(session).add_records(events)


@pytest.fixture
def mixed(usage_event: Make) -> list[UsageEvent]:
    """Two providers, three models, two UTC days, successes and failures."""
    return [
        usage_event(request_id="a", provider="openai", model="gpt-small", prompt_tokens=10,
                    completion_tokens=5, cost_usd=0.01, latency_ms=100.0, status=200),
        usage_event(request_id="b", provider="openai", model="gpt-small", prompt_tokens=20,
                    completion_tokens=10, cost_usd=0.02, latency_ms=300.0, status=429,
                    error_type="RateLimitError"),
        usage_event(request_id="c", provider="openai", model="gpt-large", prompt_tokens=100,
                    completion_tokens=50, cost_usd=0.5, latency_ms=900.0, status=500,
                    error_type="InternalServerError", stream=True),
        # 23:30 at UTC-5 on 1 March is 04:30 UTC on 2 March.
        usage_event(request_id="d", provider="anthropic", model="claude-fast", prompt_tokens=7,
                    completion_tokens=3, cost_usd=0.003, latency_ms=200.0, status=200,
                    created_at=datetime(2024, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
                    cached=True, saved_cost_usd=0.004),
    ]  # fmt: skip


async def test_add_records_and_count(
    sessions: async_sessionmaker[AsyncSession], mixed: list[UsageEvent]
) -> None:
    async with sessions() as session:
        assert await UsageRepository(session).count() == 0
    await _add(sessions, mixed)
    await _add(sessions, [])  # no-op, no error
    async with sessions() as session:
        assert await UsageRepository(session).count() == 4


async def test_stats_totals(
    sessions: async_sessionmaker[AsyncSession], mixed: list[UsageEvent]
) -> None:
    await _add(sessions, mixed)
    async with sessions() as session:
        (total,) = await UsageRepository(session).stats()
    assert total.key is None
    assert (total.requests, total.prompt_tokens, total.completion_tokens) == (4, 137, 68)
    assert (total.errors, total.rate_limit_hits) == (2, 1)
    assert total.cost_usd == pytest.approx(0.533)
    assert total.saved_cost_usd == pytest.approx(0.004)
    assert total.avg_latency_ms == pytest.approx(375.0)
    assert total.total_tokens == 205


async def test_stats_on_an_empty_table(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await UsageRepository(session).stats() == [
            UsageStat(None, 0, 0, 0, 0, 0, 0.0, 0.0, None)
        ]
        assert await UsageRepository(session).stats(group_by="model") == []


async def test_stats_group_by_provider(
    sessions: async_sessionmaker[AsyncSession], mixed: list[UsageEvent]
) -> None:
    await _add(sessions, mixed)
    async with sessions() as session:
        stats = await UsageRepository(session).stats(group_by="provider")
    assert [(s.key, s.requests, s.errors, s.rate_limit_hits) for s in stats] == [
        ("anthropic", 1, 0, 0),
        ("openai", 3, 2, 1),
    ]
    assert stats[1].cost_usd == pytest.approx(0.53)


async def test_stats_group_by_model(
    sessions: async_sessionmaker[AsyncSession], mixed: list[UsageEvent]
) -> None:
    await _add(sessions, mixed)
    async with sessions() as session:
        stats = await UsageRepository(session).stats(group_by="model")
    by_key = {s.key: s for s in stats}
    assert list(by_key) == ["claude-fast", "gpt-large", "gpt-small"]
    assert by_key["gpt-small"].requests == 2
    assert by_key["gpt-small"].prompt_tokens == 30
    assert by_key["gpt-small"].avg_latency_ms == pytest.approx(200.0)
    assert by_key["claude-fast"].saved_cost_usd == pytest.approx(0.004)


async def test_stats_group_by_day_uses_utc_days(
    sessions: async_sessionmaker[AsyncSession], mixed: list[UsageEvent]
) -> None:
    await _add(sessions, mixed)
    async with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            # A session zone west of UTC would put event "d" on 1 March if days were local.
            await session.execute(text("SET TIME ZONE 'America/Los_Angeles'"))
        stats = await UsageRepository(session).stats(group_by="day")
    assert [(s.key, s.requests) for s in stats] == [("2024-03-01", 3), ("2024-03-02", 1)]


async def test_stats_window_is_half_open(
    sessions: async_sessionmaker[AsyncSession], usage_event: Make
) -> None:
    await _add(sessions, [usage_event(request_id=str(h), created_at=T0 + timedelta(hours=h))
                          for h in range(5)])  # fmt: skip
    async with sessions() as session:
        repo = UsageRepository(session)
        (window,) = await repo.stats(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
        (after,) = await repo.stats(since=T0 + timedelta(hours=3))
        (before,) = await repo.stats(until=T0 + timedelta(hours=1))
    assert (window.requests, after.requests, before.requests) == (2, 2, 1)


async def test_model_stats(
    sessions: async_sessionmaker[AsyncSession], mixed: list[UsageEvent]
) -> None:
    await _add(sessions, mixed)
    async with sessions() as session:
        repo = UsageRepository(session)
        small = await repo.model_stats("openai", "gpt-small")
        other_provider = await repo.model_stats("anthropic", "gpt-small")
        later = await repo.model_stats("openai", "gpt-small", since=T0 + timedelta(days=1))
    assert (small.key, small.requests, small.errors, small.rate_limit_hits) == (
        "gpt-small",
        2,
        1,
        1,
    )
    assert small.cost_usd == pytest.approx(0.03)
    assert (other_provider.requests, other_provider.avg_latency_ms) == (0, None)
    assert later.requests == 0


async def test_hourly_upsert_accumulates_across_transactions(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    hour = datetime(2024, 3, 1, 12, tzinfo=UTC)
    first = [
        MetricDelta("openai", "gpt-small", hour + timedelta(minutes=5), requests=2,
                    prompt_tokens=30, completion_tokens=15, errors=1, rate_limit_hits=1,
                    cost_usd=0.03),
        # Same key within one call: merged before the upsert (PostgreSQL refuses duplicates).
        MetricDelta("openai", "gpt-small", hour + timedelta(minutes=50), requests=1, cost_usd=0.01),
        MetricDelta("openai", "gpt-large", hour, requests=1, cost_usd=0.5),
    ]  # fmt: skip
    second = [
        MetricDelta("openai", "gpt-small", hour, requests=3, prompt_tokens=5, errors=2,
                    cost_usd=0.06),
        MetricDelta("openai", "gpt-small", hour + timedelta(hours=1), requests=1),
    ]  # fmt: skip
    for deltas in (first, second):
        async with sessions() as session, session.begin():
            await UsageRepository(session).add_hourly(deltas)
    async with sessions() as session:
        rows = await UsageRepository(session).hourly()
        only_small = await UsageRepository(session).hourly(
            model="gpt-small", until=hour + timedelta(hours=1)
        )
    got = {(r.model, r.hour): (r.requests, r.prompt_tokens, r.completion_tokens, r.errors,
                               r.rate_limit_hits, round(r.cost_usd, 6)) for r in rows}  # fmt: skip
    assert got == {
        ("gpt-large", hour): (1, 0, 0, 0, 0, 0.5),
        ("gpt-small", hour): (6, 35, 15, 3, 1, 0.1),
        ("gpt-small", hour + timedelta(hours=1)): (1, 0, 0, 0, 0, 0.0),
    }
    assert all(r.hour.tzinfo is UTC for r in rows)
    assert [(r.model, r.hour, r.requests) for r in only_small] == [("gpt-small", hour, 6)]


async def test_over_long_labels_are_cut_not_rejected(
    sessions: async_sessionmaker[AsyncSession], usage_event: Make
) -> None:
    await _add(sessions, [usage_event(request_id="r" * 200, model="m" * 500, route="x" * 40)])
    async with sessions() as session:
        (stat,) = await UsageRepository(session).stats(group_by="model")
    assert stat.key == "m" * 128


async def test_a_batch_larger_than_one_statement_is_written_whole(
    sessions: async_sessionmaker[AsyncSession], usage_event: Make
) -> None:
    from annas_gift.storage.repositories._sql import ROWS_PER_STATEMENT

    n = ROWS_PER_STATEMENT * 2 + 7  # three INSERTs, the last one partial
    await _add(sessions, [usage_event(request_id=f"r{i}", prompt_tokens=i) for i in range(n)])
    async with sessions() as session:
        repo = UsageRepository(session)
        assert await repo.count() == n
        (total,) = await repo.stats()
    assert total.prompt_tokens == sum(range(n))
