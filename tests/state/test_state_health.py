"""Passive health: outcome classes, circuit breaker transitions, cooldowns, snapshot contents."""

from __future__ import annotations

import asyncio
import time

import pytest
from state_helpers import FakeClock, StateFactory, make_model

from annas_gift.state import GatewayState
from annas_gift.state.breaker import HealthPolicy, classify, median

FAST = HealthPolicy(open_base_s=0.4, open_max_s=2.0, probe_timeout_s=0.4)


@pytest.mark.parametrize(
    ("ok", "status", "kind", "cooldown"),
    [
        (True, 200, "success", None),
        (False, 429, "rate_limited", 30.0),
        (False, 500, "failure", None),
        (False, 503, "failure", None),
        (False, 408, "failure", None),
        (False, None, "failure", None),
        (False, 400, "neutral", None),
        (False, 401, "neutral", None),
    ],
)
def test_classify(ok: bool, status: int | None, kind: str, cooldown: float | None) -> None:
    outcome = classify(ok=ok, status=status, latency_ms=5.0, error=None, retry_after=None)
    assert (outcome.kind, outcome.cooldown_s) == (kind, cooldown)
    assert (outcome.error is None) == ok


def test_classify_retry_after_and_error_text() -> None:
    got = classify(ok=False, status=503, latency_ms=-1, error="x" * 500, retry_after=4.0)
    assert (got.cooldown_s, got.latency_ms, len(got.error or "")) == (4.0, 0.0, 200)
    assert classify(ok=False, status=429, latency_ms=1, error=None, retry_after=2).cooldown_s == 2
    assert median([]) is None
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


async def test_breaker_open_half_open_closed(new_state: StateFactory) -> None:
    """3 failures open; cool-off; one probe at a time; a failed probe doubles; success closes."""
    state = await new_state(health_policy=FAST)
    model = make_model("brk", rpm=1000)
    for _ in range(2):
        await state.report(model, ok=False, latency_ms=100, status=502, error="bad gateway")
    assert (await state.snapshot([model]))["brk"].breaker == "closed"
    await state.report(model, ok=False, latency_ms=100, status=None, error="timeout")
    live = (await state.snapshot([model]))["brk"]
    assert (live.breaker, live.healthy, live.last_error) == ("open", False, "timeout")
    denied = await state.admit(model, 1)
    assert denied.limit == "breaker"
    assert denied.retry_after is not None and 0 < denied.retry_after <= 0.4

    await new_state.advance(0.41)
    live = (await state.snapshot([model]))["brk"]
    assert (live.breaker, live.healthy) == ("half_open", True)
    assert (await state.admit(model, 1)).ok  # the probe
    second = await state.admit(model, 1)
    assert second.limit == "breaker"  # only one probe in flight
    await state.report(model, ok=False, latency_ms=100, status=500)  # probe fails
    assert (await state.snapshot([model]))["brk"].breaker == "open"
    await new_state.advance(0.41)
    assert (await state.snapshot([model]))["brk"].breaker == "open"  # cool-off doubled to 0.8
    await new_state.advance(0.41)
    assert (await state.snapshot([model]))["brk"].breaker == "half_open"
    assert (await state.admit(model, 1)).ok
    await state.report(model, ok=True, latency_ms=40)
    live = (await state.snapshot([model]))["brk"]
    assert (live.breaker, live.healthy) == ("closed", True)
    assert all([(await state.admit(model, 1)).ok for _ in range(3)])
    # Closed again means the count starts over: two failures do not re-open it.
    for _ in range(2):
        await state.report(model, ok=False, latency_ms=1, status=500)
    assert (await state.snapshot([model]))["brk"].breaker == "closed"


async def test_an_unreported_probe_lapses(memory_state: GatewayState, clock: FakeClock) -> None:
    model = make_model("lapse")
    for _ in range(3):
        await memory_state.report(model, ok=False, latency_ms=1, status=500)
    clock.advance(30)
    assert (await memory_state.admit(model, 0)).ok
    assert not (await memory_state.admit(model, 0)).ok
    clock.advance(30)  # the probe never reported (crashed instance): allow another
    assert (await memory_state.admit(model, 0)).ok


async def test_success_between_failures_resets_the_count(state: GatewayState) -> None:
    model = make_model("flaky")
    for ok in (False, False, True, False, False):
        await state.report(model, ok=ok, latency_ms=10, status=None if ok else 500)
    assert (await state.snapshot([model]))["flaky"].breaker == "closed"


async def test_429_cools_down_and_counts_but_does_not_trip(state: GatewayState) -> None:
    model = make_model("rl")
    for _ in range(5):
        await state.report(model, ok=False, latency_ms=5, status=429, retry_after=12)
    live = (await state.snapshot([model]))["rl"]
    assert live.breaker == "closed"
    assert live.cooled_down_until is not None
    assert live.error_rate == pytest.approx(1 - 0.9**5)
    denied = await state.admit(model, 0)
    assert denied.limit == "cooldown"
    assert denied.retry_after is not None and 11 < denied.retry_after <= 12


async def test_default_429_cooldown_and_a_shorter_one_does_not_shorten(
    memory_state: GatewayState, clock: FakeClock
) -> None:
    model = make_model("cd")
    await memory_state.report(model, ok=False, latency_ms=5, status=429)
    assert (await memory_state.admit(model, 0)).retry_after == pytest.approx(30.0)
    await memory_state.report(model, ok=False, latency_ms=5, status=429, retry_after=1)
    assert (await memory_state.admit(model, 0)).retry_after == pytest.approx(30.0)
    clock.advance(30)
    assert (await memory_state.admit(model, 0)).ok
    assert (await memory_state.snapshot([model]))["cd"].cooled_down_until is None


async def test_client_errors_are_neutral(state: GatewayState) -> None:
    model = make_model("neutral")
    for _ in range(5):
        await state.report(model, ok=False, latency_ms=5, status=400, error="bad request")
    live = (await state.snapshot([model]))["neutral"]
    assert (live.breaker, live.error_rate, live.last_error) == ("closed", 0.0, "bad request")


async def test_snapshot_contents(new_state: StateFactory, clock: FakeClock) -> None:
    state = await new_state()
    model, idle = make_model("snap", rpm=10, tpd=1000), make_model("idle")
    for ms in (40.0, 10.0, 30.0, 20.0):
        await state.report(model, ok=True, latency_ms=ms)
    await state.report(model, ok=False, latency_ms=900, status=500, error="upstream 500")
    await state.admit(model, 250)
    live = await state.snapshot([model, idle])
    snap = live["snap"]
    assert snap.latency_p50_ms == 25.0
    assert snap.error_rate == pytest.approx(0.1)
    assert snap.last_error == "upstream 500"
    now = clock.now if new_state.backend == "memory" else time.time()
    assert snap.last_check is not None and abs(snap.last_check - now) < 5
    assert snap.remaining == {"rpm": 9, "tpm": None, "rpd": None, "tpd": 750}
    assert snap.headroom == pytest.approx(0.75)
    assert (snap.healthy, snap.breaker, snap.cooled_down_until) == (True, "closed", None)
    fresh = live["idle"]
    assert (fresh.latency_p50_ms, fresh.error_rate, fresh.last_error, fresh.last_check) == (
        None,
        0.0,
        None,
        None,
    )
    assert await state.snapshot([]) == {}


async def test_latency_median_keeps_the_last_16(state: GatewayState) -> None:
    model = make_model("lat")
    for ms in [1000.0] * 10 + [float(i) for i in range(1, 17)]:
        await state.report(model, ok=True, latency_ms=ms)
    assert (await state.snapshot([model]))["lat"].latency_p50_ms == 8.5


@pytest.mark.redis
async def test_cooldown_and_breaker_are_seen_by_every_instance(redis_states: StateFactory) -> None:
    first, second = await redis_states(), await redis_states()
    limited, broken = make_model("shared-429"), make_model("shared-5xx")
    await first.report(limited, ok=False, latency_ms=3, status=429, retry_after=20)
    denied = await second.admit(limited, 0)
    assert denied.limit == "cooldown"
    assert denied.retry_after is not None and 19 < denied.retry_after <= 20
    for _ in range(3):
        await first.report(broken, ok=False, latency_ms=3, status=503)
    live = await second.snapshot([limited, broken])
    assert live["shared-429"].cooled_down_until is not None
    assert (live["shared-5xx"].breaker, live["shared-5xx"].healthy) == ("open", False)
    assert (await second.admit(broken, 0)).limit == "breaker"


async def test_snapshot_max_age_reuses_a_recent_snapshot(state: GatewayState) -> None:
    model = make_model("aged", rpm=10)
    first = await state.snapshot([model], max_age_s=60)
    await state.admit(model, 0)
    assert (await state.snapshot([model], max_age_s=60)) == first  # reused
    assert (await state.snapshot([model]))["aged"].remaining["rpm"] == 9  # exact by default
    assert (await state.snapshot([model], max_age_s=1e-9))["aged"].remaining["rpm"] == 9


async def test_concurrent_successes_leave_the_record_sequential_reports_leave(
    state: GatewayState,
) -> None:
    # With Redis, successes finishing in one loop iteration are written in one REPORT: the
    # error rate, the latency window and its median must come out exactly as one by one.
    together, apart = make_model("together"), make_model("apart")
    latencies = [float(ms) for ms in (30, 5, 12, 7, 90, 3, 44, 18, 9, 61, 2, 27, 15, 8, 70, 11)]
    for model in (together, apart):
        for _ in range(4):
            await state.report(model, ok=False, latency_ms=1, status=503)
    await asyncio.gather(*(state.report(together, ok=True, latency_ms=ms) for ms in latencies))
    for ms in latencies:
        await state.report(apart, ok=True, latency_ms=ms)
    live = await state.snapshot([together, apart])
    a, b = live["together"], live["apart"]
    assert (a.breaker, a.error_rate, a.latency_p50_ms) == (
        b.breaker,
        b.error_rate,
        b.latency_p50_ms,
    )
    assert a.breaker == "closed" and a.error_rate > 0


async def test_a_failure_after_successes_is_applied_after_them(state: GatewayState) -> None:
    model = make_model("order")
    await asyncio.gather(
        state.report(model, ok=True, latency_ms=5),
        *(state.report(model, ok=False, latency_ms=5, status=500) for _ in range(3)),
    )
    # Success first, then three failures: open. The other way round the success would close it.
    assert (await state.snapshot([model]))["order"].breaker == "open"


@pytest.mark.redis
async def test_successes_of_one_loop_iteration_take_one_round_trip(
    redis_states: StateFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annas_gift.state.redis_backend import RedisBackend

    state = await redis_states()
    sent: list[int] = []
    real = RedisBackend.report_successes

    async def counting(self: RedisBackend, plan: object, latencies: list[float]) -> None:
        sent.append(len(latencies))
        await real(self, plan, latencies)  # type: ignore[arg-type]

    monkeypatch.setattr(RedisBackend, "report_successes", counting)
    model = make_model("batched")
    await asyncio.gather(*(state.report(model, ok=True, latency_ms=ms) for ms in range(1, 11)))
    assert sent == [10]
    assert (await state.snapshot([model]))["batched"].latency_p50_ms == 5.5
