"""A slow, failing or absent Portkey never slows a request; the queue is bounded; stop flushes."""

from __future__ import annotations

import time
from collections.abc import Callable

from annas_gift.upstream.portkey_client import PortkeyTracer, TraceEvent
from tests.portkey.conftest import FakePortkey, eventually

MakeTracer = Callable[..., PortkeyTracer]
MakeEvent = Callable[..., TraceEvent]


def ids(entries: list[dict]) -> list[str]:
    return [e["metadata"]["request_id"] for e in entries]


async def test_record_never_blocks_while_portkey_stalls(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=50, timeout_s=0.5, max_retries=50)
    await tracer.start()
    portkey.stall_next(1, 5.0)
    tracer.record(make_event("req-first"))
    await portkey.wait_requests(1)  # the upload is now hanging inside Portkey

    events = [make_event(f"req-{i}") for i in range(1000)]
    began = time.perf_counter()
    for event in events:
        tracer.record(event)
    # Far below the 0.5 s upload timeout: no call waited on Portkey (typically ~1 ms in all).
    assert time.perf_counter() - began < 0.25

    await eventually(lambda: tracer.sent == 1001)
    assert portkey.received[0].status == 499  # the stalled upload timed out on our side
    # Delivery is at least once: an upload that timed out late may also have landed.
    assert set(ids(portkey.accepted())) == {"req-first"} | {f"req-{i}" for i in range(1000)}
    assert (tracer.failed, tracer.dropped) == (0, 0)


async def test_5xx_is_retried_with_backoff_until_it_succeeds(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1)
    await tracer.start()
    portkey.fail_next(2, 503)
    tracer.record(make_event("req-1"))

    await portkey.wait_for(1)
    assert [r.status for r in portkey.received] == [503, 503, 200]
    assert all(ids(r.entries) == ["req-1"] for r in portkey.received)
    await eventually(lambda: tracer.sent == 1)
    assert tracer.failed == 0
    assert tracer.last_error == "HTTP 503"


async def test_429_retry_after_is_honoured(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1, max_backoff_s=0.2)
    await tracer.start()
    portkey.fail_next(1, 429, retry_after="0.1")
    tracer.record(make_event("req-1"))

    await portkey.wait_requests(1)
    began = time.perf_counter()
    await portkey.wait_for(1)
    assert time.perf_counter() - began >= 0.09
    assert [r.status for r in portkey.received] == [429, 200]


async def test_a_4xx_is_not_retried(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1)
    await tracer.start()
    portkey.fail_next(1, 400)
    tracer.record(make_event("req-bad"))
    await eventually(lambda: tracer.failed == 1)
    tracer.record(make_event("req-good"))

    assert ids(await portkey.wait_for(1)) == ["req-good"]
    assert [r.status for r in portkey.received] == [400, 200]
    assert tracer.last_error == "HTTP 400"


async def test_retries_are_bounded_then_the_batch_is_counted_failed(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1, max_retries=2)
    await tracer.start()
    portkey.fail_next(3, 500)
    tracer.record(make_event("req-lost"))
    await eventually(lambda: tracer.failed == 1)
    tracer.record(make_event("req-next"))

    assert ids(await portkey.wait_for(1)) == ["req-next"]
    assert [r.status for r in portkey.received] == [500, 500, 500, 200]
    await eventually(lambda: tracer.sent == 1)


async def test_refused_connections_are_retried_until_portkey_is_back(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1, max_retries=1000)
    await portkey.refuse()
    await tracer.start()
    tracer.record(make_event("req-1"))
    await eventually(lambda: tracer.last_error is not None)
    assert "ClientConnectorError" in (tracer.last_error or "")
    assert tracer.pending == 1
    await portkey.accept()

    assert ids(await portkey.wait_for(1)) == ["req-1"]
    await eventually(lambda: tracer.sent == 1)
    assert (tracer.failed, tracer.dropped) == (0, 0)


async def test_overflow_drops_the_oldest_and_counts_them(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(max_queue=5, batch_size=100, flush_interval_s=60)
    for i in range(12):
        tracer.record(make_event(f"req-{i}"))
    assert (tracer.pending, tracer.dropped) == (5, 7)
    await tracer.start()
    await tracer.stop()

    assert ids(portkey.accepted()) == [f"req-{i}" for i in range(7, 12)]
    assert (tracer.sent, tracer.dropped) == (5, 7)


async def test_overflow_during_an_outage_keeps_every_event_accounted_for(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(max_queue=3, batch_size=2, max_retries=1000)
    await portkey.refuse()
    await tracer.start()
    for i in range(10):
        tracer.record(make_event(f"req-{i}"))
    await eventually(lambda: tracer.last_error is not None)
    for i in range(10, 20):
        tracer.record(make_event(f"req-{i}"))
    assert tracer.pending <= 3
    await portkey.accept()
    await eventually(lambda: tracer.sent + tracer.dropped == 20)

    assert ids(portkey.accepted())[-1] == "req-19"
    assert (tracer.pending, tracer.failed) == (0, 0)


async def test_stop_flushes_what_is_queued(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=100, flush_interval_s=60)
    await tracer.start()
    for i in range(5):
        tracer.record(make_event(f"req-{i}"))
    assert portkey.received == []
    await tracer.stop()

    assert ids(portkey.accepted()) == [f"req-{i}" for i in range(5)]
    assert len(portkey.received) == 1
    assert (tracer.sent, tracer.pending, tracer.dropped) == (5, 0, 0)


async def test_stop_is_bounded_when_portkey_hangs(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=100, flush_interval_s=60, timeout_s=30, stop_timeout_s=0.3)
    await tracer.start()
    portkey.stall_next(10, 30.0)
    for i in range(4):
        tracer.record(make_event(f"req-{i}"))

    began = time.perf_counter()
    await tracer.stop()
    assert time.perf_counter() - began < 2.0
    assert (tracer.sent, tracer.dropped, tracer.pending) == (0, 4, 0)


async def test_flush_reports_whether_everything_went_out(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=10, flush_interval_s=60, max_retries=5)
    await tracer.start()
    tracer.record(make_event("req-1"))
    portkey.fail_next(1, 502)
    assert await tracer.flush() is False
    assert tracer.pending == 1
    assert await tracer.flush() is True
    assert tracer.sent == 1
