"""Sliding windows: edges, clock boundaries, retry-after, token weights, side-effect-free denial."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from state_helpers import FakeClock, StateFactory, make_model

from annas_gift.state import GatewayState


async def test_entry_frees_exactly_at_window_end(
    memory_state: GatewayState, clock: FakeClock
) -> None:
    model = make_model(rpm=2)
    start = clock.now
    assert (await memory_state.admit(model, 1)).ok
    assert (await memory_state.admit(model, 1)).ok
    clock.now = start + 59.999
    denied = await memory_state.admit(model, 1)
    assert not denied.ok
    assert denied.limit == "rpm"
    assert denied.retry_after == pytest.approx(0.001, abs=1e-9)
    clock.now = start + 60.0
    assert (await memory_state.admit(model, 1)).ok
    # Only one of the two entries from t=0 left; the other still blocks... until it too is gone.
    assert (await memory_state.admit(model, 1)).ok
    assert not (await memory_state.admit(model, 1)).ok


async def test_retry_after_is_when_the_oldest_blocking_entry_leaves(
    memory_state: GatewayState, clock: FakeClock
) -> None:
    model = make_model(rpm=2)
    start = clock.now
    await memory_state.admit(model, 0)
    clock.now = start + 10
    await memory_state.admit(model, 0)
    clock.now = start + 20
    assert (await memory_state.admit(model, 0)).retry_after == pytest.approx(40.0)
    clock.now = start + 60
    assert (await memory_state.admit(model, 0)).ok
    assert (await memory_state.admit(model, 0)).retry_after == pytest.approx(10.0)


async def test_day_window_rolls_over_midnight_instead_of_resetting(clock: FakeClock) -> None:
    """rpd is a rolling 24 h, not a calendar day: midnight UTC frees nothing."""
    clock.now = datetime(2025, 3, 1, 23, 59, 58, tzinfo=UTC).timestamp()
    state = await GatewayState.create(None, clock=clock)
    model = make_model(rpd=3)
    first = clock.now
    for _ in range(2):
        assert (await state.admit(model, 0)).ok
        clock.advance(1)
    assert datetime.fromtimestamp(clock.now, UTC).hour == 0  # now past midnight
    assert (await state.admit(model, 0)).ok
    clock.advance(1)
    denied = await state.admit(model, 0)
    assert (denied.ok, denied.limit) == (False, "rpd")
    assert denied.retry_after == pytest.approx(first + 86_400 - clock.now)
    clock.now = first + 86_400 - 0.000001
    assert not (await state.admit(model, 0)).ok
    clock.now = first + 86_400
    assert (await state.admit(model, 0)).ok
    await state.aclose()


async def test_token_retry_after_counts_tokens_not_requests(
    memory_state: GatewayState, clock: FakeClock
) -> None:
    model = make_model(tpm=100)
    start = clock.now
    await memory_state.admit(model, 60)
    clock.now = start + 10
    await memory_state.admit(model, 30)
    clock.now = start + 20
    denied = await memory_state.admit(model, 50)
    assert (denied.ok, denied.limit, denied.retry_after) == (False, "tpm", pytest.approx(40.0))
    assert (await memory_state.admit(model, 10)).ok  # exactly fills the window
    assert not (await memory_state.admit(model, 1)).ok
    clock.now = start + 60  # the 60-token entry leaves
    assert (await memory_state.admit(model, 60)).ok


async def test_denial_increments_nothing(state: GatewayState) -> None:
    model = make_model("deny", rpm=5, tpm=100, rpd=50, tpd=1000)
    assert (await state.admit(model, 60)).ok
    denied = await state.admit(model, 50)
    assert (denied.ok, denied.limit) == (False, "tpm")
    live = (await state.snapshot([model]))["deny"]
    assert live.remaining == {"rpm": 4, "tpm": 40, "rpd": 49, "tpd": 940}
    assert (await state.admit(model, 40)).ok


async def test_retry_after_on_both_backends(state: GatewayState) -> None:
    model = make_model("ra", rpm=1)
    assert (await state.admit(model, 0)).ok
    denied = await state.admit(model, 0)
    assert denied.limit == "rpm"
    assert denied.retry_after is not None
    assert 59.0 < denied.retry_after <= 60.0


async def test_longest_wait_wins_when_several_windows_deny(state: GatewayState) -> None:
    model = make_model("multi", rpm=1, rpd=1)
    assert (await state.admit(model, 0)).ok
    denied = await state.admit(model, 0)
    assert denied.limit == "rpd"
    assert denied.retry_after is not None and denied.retry_after > 86_000


async def test_request_larger_than_the_limit_never_fits(state: GatewayState) -> None:
    model = make_model("big", tpm=100, rpm=0)
    denied = await state.admit(make_model("big2", tpm=100), 101)
    assert (denied.ok, denied.retry_after, denied.limit) == (False, None, "tpm")
    zero = await state.admit(model, 1)
    assert (zero.ok, zero.retry_after, zero.limit) == (False, None, "rpm")


async def test_unlimited_model_is_always_admitted(state: GatewayState) -> None:
    model = make_model("free")
    for _ in range(20):
        assert (await state.admit(model, 10**9)).ok
    live = (await state.snapshot([model]))["free"]
    assert live.headroom == 1.0
    assert live.remaining == {"rpm": None, "tpm": None, "rpd": None, "tpd": None}


async def test_headroom_is_the_tightest_limit(state: GatewayState) -> None:
    model = make_model("hr", rpm=10, tpm=1000)
    await state.admit(model, 900)
    live = (await state.snapshot([model]))["hr"]
    assert live.remaining["rpm"] == 9
    assert live.remaining["tpm"] == 100
    assert live.headroom == pytest.approx(0.1)


@pytest.mark.redis
async def test_redis_entry_frees_at_window_end(
    redis_states: StateFactory, redis_url: str, redis_namespace: str
) -> None:
    """Plant an entry 59.7 s old in the Redis log: it blocks for 0.3 s, then frees exactly."""
    state = await redis_states()
    model = make_model("edge", rpm=1, tpm=10)
    client = aioredis.Redis.from_url(redis_url)
    try:
        seconds, micros = await client.time()
        planted = seconds * 1_000_000 + micros - 59_700_000
        await client.zadd(f"{{{redis_namespace}}}:rl:m:edge:60", {"planted:7": planted})
        summary: dict[Any, Any] = {"c60": 1, "t60": 7, "o60": planted}  # what the scripts keep
        await client.hset(f"{{{redis_namespace}}}:h:m:edge", mapping=summary)
        denied = await state.admit(model, 4)
        assert denied.limit == "rpm"  # both deny until the same entry leaves; rpm is checked first
        assert denied.retry_after is not None and 0.0 < denied.retry_after <= 0.3
        remaining = (await state.snapshot([model]))["edge"].remaining
        assert (remaining["rpm"], remaining["tpm"]) == (0, 3)
        await asyncio.sleep(denied.retry_after + 0.005)
        assert (await state.admit(model, 10)).ok
    finally:
        await client.aclose()


async def test_memory_keeps_no_entries_for_unlimited_models(memory_state: GatewayState) -> None:
    model = make_model("nolog")
    for _ in range(100):
        await memory_state.admit(model, 5)
    subject = memory_state._memory._subjects["m:nolog"]
    assert (subject.tickets, subject.logs) == ({}, {})


async def test_memory_drops_tickets_when_entries_leave_the_longest_window(
    memory_state: GatewayState, clock: FakeClock
) -> None:
    model = make_model("prune", rpm=100, rpd=1000)
    for _ in range(10):
        await memory_state.admit(model, 5)
    subject = memory_state._memory._subjects["m:prune"]
    assert len(subject.tickets) == 10
    clock.advance(86_400)
    await memory_state.admit(model, 5)
    assert len(subject.tickets) == 1


@pytest.mark.redis
async def test_redis_log_summary_tracks_the_log(
    redis_states: StateFactory, redis_url: str, redis_namespace: str
) -> None:
    """The hash's per-log count/sum/oldest stay equal to the sorted set through every script."""
    state = await redis_states()
    model = make_model("sum", rpm=10, tpm=100)
    client = aioredis.Redis.from_url(redis_url)
    log, hashkey = f"{{{redis_namespace}}}:rl:m:sum:60", f"{{{redis_namespace}}}:h:m:sum"

    async def truth() -> dict[str, int]:
        entries: Any = await client.zrange(log, 0, -1, withscores=True)
        return {
            "c60": len(entries),
            "t60": sum(int(m.rsplit(b":", 1)[1]) for m, _ in entries),
            "o60": int(min((s for _, s in entries), default=0)),
        }

    async def summary() -> dict[str, int]:
        values = await client.hmget(hashkey, ["c60", "t60", "o60"])
        return dict(zip(["c60", "t60", "o60"], (int(v or 0) for v in values), strict=True))

    try:
        seconds, micros = await client.time()
        now = seconds * 1_000_000 + micros
        planted = {"a:3": now - 70_000_000, "b:5": now - 50_000_000, "c:7": now - 10_000_000}
        await client.zadd(log, planted)
        await client.hset(hashkey, mapping={"c60": 3, "t60": 15, "o60": now - 70_000_000})
        live = (await state.snapshot([model]))["sum"]
        assert (live.remaining["rpm"], live.remaining["tpm"]) == (8, 88)
        assert await summary() == await truth() == {"c60": 2, "t60": 12, "o60": now - 50_000_000}
        admitted = await state.admit(model, 20)
        assert await summary() == await truth()
        await state.settle(
            model, 20, 10, {"x-ratelimit-remaining-tokens": "1"}, ticket=admitted.ticket
        )
        assert await summary() == await truth()
        assert (await summary())["t60"] == 22
        assert (await state.admit(model, 80)).limit == "provider_tokens"
        await client.hset(hashkey, "ltu", 0)  # forget the provider's budget
        denied = await state.admit(model, 80)  # 22 + 80 > 100: 2 must go, b (50 s old) frees 5
        assert denied.limit == "tpm"
        assert denied.retry_after is not None and 9 < denied.retry_after <= 10
        # The log key expired while the hash lived on: the summary heals to empty.
        await client.delete(log)
        await client.hset(hashkey, mapping={"lru": 0, "ltu": 0, "o60": now - 120_000_000})
        live = (await state.snapshot([model]))["sum"]
        assert (live.remaining["rpm"], live.remaining["tpm"]) == (10, 100)
        assert await summary() == {"c60": 0, "t60": 0, "o60": 0}
    finally:
        await client.aclose()
