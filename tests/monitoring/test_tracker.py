"""UsageTracker against real databases: background writes, decisions, stats, shutdown."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tracker_probes import count, eventually, request_ids, rows_reach

from annas_gift.core.events import ClassificationEvent, SelectionEvent, UsageEvent
from annas_gift.monitoring import tracker as tracker_module
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.storage.batch import write_batch
from annas_gift.storage.repositories import (
    ClassificationRepository,
    SelectionRepository,
    UsageRepository,
)

Make = Callable[..., UsageEvent]
Sessions = async_sessionmaker[AsyncSession]
HOUR = datetime(2024, 3, 1, 12, tzinfo=UTC)


async def test_background_flush_writes_records_and_hourly_metrics(
    sessions: Sessions, usage_event: Make
) -> None:
    tracker = UsageTracker(sessions, flush_interval=0.05)
    await tracker.start()
    try:
        tracker.record_request(usage_event(request_id="a", created_at=HOUR, status=200))
        tracker.record_request(usage_event(request_id="b", created_at=HOUR, status=429))
        tracker.record_request(usage_event(request_id="c", created_at=HOUR, status=503))
        await eventually(rows_reach(sessions, 3))  # no explicit flush
        tracker.record_request(
            usage_event(request_id="d", created_at=HOUR + timedelta(minutes=59), cost_usd=1.0)
        )
        await eventually(rows_reach(sessions, 4))
    finally:
        await tracker.stop()
    async with sessions() as session:
        (metric,) = await UsageRepository(session).hourly()
    # Two flushes into the same (provider, model, hour) row: the upsert accumulated both.
    assert (metric.hour, metric.requests, metric.errors, metric.rate_limit_hits) == (HOUR, 4, 2, 1)
    assert (metric.prompt_tokens, metric.completion_tokens) == (40, 20)
    assert metric.cost_usd == pytest.approx(1.03)
    assert (tracker.written, tracker.pending, tracker.dropped, tracker.last_error) == (
        4,
        0,
        0,
        None,
    )


async def test_batch_size_triggers_an_early_flush(sessions: Sessions, usage_event: Make) -> None:
    tracker = UsageTracker(sessions, flush_interval=3600, batch_size=10)
    await tracker.start()
    try:
        for i in range(10):
            tracker.record_request(usage_event(request_id=str(i)))
        await eventually(rows_reach(sessions, 10), within=5)
    finally:
        await tracker.stop()


async def test_a_backlog_is_written_in_fewer_bigger_transactions(
    sessions: Sessions, usage_event: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind by more than a batch, the writer takes BACKLOG_BATCHES batches per transaction:
    # under load each transaction's round trips wait on the busy loop, rows barely cost more.
    writes: list[int] = []

    async def counting(sessions_: Sessions, events: Sequence[object], **kw: bool) -> object:
        writes.append(len(events))
        return await write_batch(sessions_, events, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(tracker_module, "write_batch", counting)
    tracker = UsageTracker(sessions, flush_interval=3600, batch_size=10)
    for i in range(10 * tracker_module.BACKLOG_BATCHES + 5):
        tracker.record_request(usage_event(request_id=str(i)))
    assert await tracker.flush()
    assert writes == [10 * tracker_module.BACKLOG_BATCHES, 5]
    assert await count(sessions) == 10 * tracker_module.BACKLOG_BATCHES + 5
    for i in range(7):  # no backlog: batches of batch_size as before
        tracker.record_request(usage_event(request_id=f"small-{i}"))
    assert await tracker.flush()
    assert writes[2:] == [7]


async def test_a_write_that_committed_but_failed_is_not_counted_twice(
    sessions: Sessions, usage_event: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Live batches are inserted without reading back what is stored (`fresh`); a commit that
    # succeeds and still reports failure (a connection lost after COMMIT) must not make the
    # retry store the usage or the decisions again.
    from annas_gift.storage import batch as batch_module

    real = batch_module.write_events
    calls: list[int] = []

    async def commits_then_fails(sessions_: Sessions, events: Sequence[object]) -> None:
        await real(sessions_, events)  # type: ignore[arg-type]
        calls.append(len(events))
        if len(calls) == 1:
            raise OSError("connection reset after COMMIT")

    monkeypatch.setattr(batch_module, "write_events", commits_then_fails)
    tracker = UsageTracker(sessions, flush_interval=3600)
    classification = ClassificationEvent("r1", HOUR, "fast", "chat", 0.9, 0.1, {"wording": 1})
    tracker.record_decision(classification, None)
    tracker.record_request(usage_event(request_id="r1", created_at=HOUR))
    assert not await tracker.flush()  # the reported failure: both go back to the buffer
    assert tracker.pending == 2
    tracker.record_request(usage_event(request_id="r2", created_at=HOUR))
    assert await tracker.flush()
    assert calls == [2]  # the retry took the idempotent path, not the plain insert
    assert await request_ids(sessions) == ["r1", "r2"]
    async with sessions() as session:
        assert len(await ClassificationRepository(session).for_request("r1")) == 1
        (metric,) = await UsageRepository(session).hourly()
    assert metric.requests == 2
    tracker.record_request(usage_event(request_id="r3", created_at=HOUR))
    assert await tracker.flush()
    assert calls == [2, 1]  # once the retried events are stored, new ones are fresh again


async def test_live_batches_do_not_read_back_stored_keys(
    sessions: Sessions, usage_event: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annas_gift.storage.repositories import event_keys

    async def no_lookup(*_args: object) -> set[object]:
        raise AssertionError("a fresh batch looked up stored keys")

    monkeypatch.setattr(event_keys.EventKeyRepository, "stored_usage", no_lookup)
    monkeypatch.setattr(event_keys.EventKeyRepository, "stored_decisions", no_lookup)
    tracker = UsageTracker(sessions, flush_interval=3600)
    tracker.record_request(usage_event(request_id="a", created_at=HOUR))
    tracker.record_decision(
        ClassificationEvent("a", HOUR, "fast", "chat", 0.9, 0.1, {"wording": 1}), None
    )
    assert await tracker.flush()
    assert (tracker.written, tracker.dropped, tracker.last_error) == (2, 0, None)


async def test_a_fresh_batch_with_a_stored_event_falls_back_to_the_idempotent_write(
    sessions: Sessions, usage_event: Make
) -> None:
    stored = usage_event(request_id="a", created_at=HOUR)
    assert (await write_batch(sessions, [stored], fresh=True)).written == 1
    result = await write_batch(
        sessions, [stored, usage_event(request_id="b", created_at=HOUR)], fresh=True
    )
    assert (result.handled, result.rejected, result.error) == (2, 0, None)
    assert await request_ids(sessions) == ["a", "b"]


async def test_decisions_are_written(sessions: Sessions) -> None:
    tracker = UsageTracker(sessions, flush_interval=3600)
    classification = ClassificationEvent("r1", HOUR, "powerful", "math", 0.9, 0.7, {"math": 2})
    selection = SelectionEvent(
        "r1", HOUR, "powerful", "math", "openai", "gpt-large", "top math score", 0.8, 88.0,
        {"benchmark": 0.6}, [],
    )  # fmt: skip
    tracker.record_decision(classification, selection)
    tracker.record_decision(None, None)
    assert tracker.pending == 2
    assert await tracker.flush()
    async with sessions() as session:
        (c,) = await ClassificationRepository(session).for_request("r1")
        (s,) = await SelectionRepository(session).for_request("r1")
    assert (c.category, c.factors) == ("math", {"math": 2})
    assert (s.selected_model, s.breakdown, s.fallbacks_tried) == (
        "gpt-large",
        {"benchmark": 0.6},
        [],
    )


async def test_stop_writes_what_is_buffered(sessions: Sessions, usage_event: Make) -> None:
    tracker = UsageTracker(sessions, flush_interval=3600)  # the timer never fires
    await tracker.start()
    for i in range(25):
        tracker.record_request(usage_event(request_id=f"r{i:02}"))
    assert await count(sessions) == 0
    await tracker.stop()
    assert await request_ids(sessions) == [f"r{i:02}" for i in range(25)]


async def test_stats_see_their_own_writes(sessions: Sessions, usage_event: Make) -> None:
    tracker = UsageTracker(sessions, flush_interval=3600)
    tracker.record_request(usage_event(provider="openai", model="a", status=200))
    tracker.record_request(usage_event(provider="openai", model="a", status=429))
    tracker.record_request(usage_event(provider="groq", model="b", status=200, latency_ms=50.0))
    (total,) = await tracker.get_stats()
    by_provider = await tracker.get_stats(group_by="provider")
    model_a = await tracker.get_model_stats("openai", "a")
    assert (total.requests, total.errors, total.rate_limit_hits) == (3, 1, 1)
    assert [(s.key, s.requests) for s in by_provider] == [("groq", 1), ("openai", 2)]
    assert (model_a.key, model_a.requests, model_a.rate_limit_hits) == ("a", 2, 1)
    assert (await tracker.get_stats(since=HOUR + timedelta(days=1)))[0].requests == 0
