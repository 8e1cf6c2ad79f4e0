"""Exact totals under concurrency (one and two instances) and a reference-model property test."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from state_helpers import FakeClock, StateFactory, make_model

from annas_gift.state import GatewayState


async def test_concurrent_admits_admit_exactly_the_limit(state: GatewayState) -> None:
    model = make_model("conc", rpm=60)
    results = await asyncio.gather(*(state.admit(model, 1) for _ in range(200)))
    assert sum(r.ok for r in results) == 60
    assert all(r.limit == "rpm" for r in results if not r.ok)


@pytest.mark.redis
async def test_two_instances_share_one_exact_budget(redis_states: StateFactory) -> None:
    """200 concurrent admits split over two instances against rpm=60: exactly 60 pass."""
    first, second = await redis_states(), await redis_states()
    model = make_model("shared", rpm=60, tpm=10_000)
    calls = [(first if i % 2 else second).admit(model, 10) for i in range(200)]
    random.Random(7).shuffle(calls)
    results = await asyncio.gather(*calls)
    assert sum(r.ok for r in results) == 60
    for instance in (first, second):
        live = (await instance.snapshot([model]))["shared"]
        assert live.remaining["rpm"] == 0
        assert live.remaining["tpm"] == 10_000 - 600


@pytest.mark.redis
async def test_two_instances_share_an_exact_token_budget(redis_states: StateFactory) -> None:
    first, second = await redis_states(), await redis_states()
    model = make_model("tok", tpm=1000)
    results = await asyncio.gather(
        *((first if i % 2 else second).admit(model, 30) for i in range(100))
    )
    assert sum(r.ok for r in results) == 33  # 33 * 30 = 990 <= 1000 < 34 * 30


@pytest.mark.redis
async def test_client_limits_are_shared_too(redis_states: StateFactory) -> None:
    from annas_gift.catalog.rate_limits import ClientLimits

    first, second = await redis_states(), await redis_states()
    limits = ClientLimits(rpm=25)
    results = await asyncio.gather(
        *((first if i % 2 else second).admit_client("key-1", limits, 5) for i in range(80))
    )
    assert sum(r.ok for r in results) == 25


# --- reference model -----------------------------------------------------------------------

WINDOWS = {"rpm": (60, "requests", 4), "tpm": (60, "tokens", 150), "rpd": (86_400, "requests", 9)}


def _reference(log: list[tuple[int, int]], now: int, tokens: int) -> tuple[bool, float | None]:
    """Naive sliding log: recompute everything from the full history."""
    worst: float | None = 0.0
    denied = False
    for window_s, unit, limit in WINDOWS.values():
        w = window_s * 1_000_000
        live = sorted(e for e in log if e[0] > now - w)
        if unit == "requests":
            if len(live) + 1 <= limit:
                continue
            wait = live[len(live) - limit][0] + w - now
        else:
            used = sum(t for _, t in live)
            if used + tokens <= limit:
                continue
            if tokens > limit:
                return False, None
            freed, wait = 0, w
            for ts, t in live:
                freed += t
                if freed >= used + tokens - limit:
                    wait = ts + w - now
                    break
        denied = True
        if worst is not None and wait / 1e6 > worst:
            worst = wait / 1e6
    return (False, worst) if denied else (True, None)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40_000_000), st.integers(0, 80)),
        min_size=1,
        max_size=60,
    )
)
def test_memory_backend_matches_a_naive_sliding_log(steps: list[tuple[int, int]]) -> None:
    """Random arrivals (µs gaps, token weights) decide exactly as the naive model does."""

    async def run() -> None:
        clock = FakeClock(1_000_000.0)
        state = await GatewayState.create(None, clock=clock)
        model = make_model("ref", rpm=4, tpm=150, rpd=9)
        now = 1_000_000_000_000
        log: list[tuple[int, int]] = []
        for gap, tokens in steps:
            now += gap
            clock.now = now / 1e6
            expected_ok, expected_wait = _reference(log, now, tokens)
            got = await state.admit(model, tokens)
            assert got.ok == expected_ok
            if expected_wait is None:
                assert got.retry_after is None
            else:
                assert got.retry_after == pytest.approx(expected_wait, abs=1e-6)
            if got.ok:
                log.append((now, tokens))
        await state.aclose()

    asyncio.run(run())


async def test_requests_finding_the_snapshot_stale_share_one_refresh(
    state: GatewayState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load many requests see a stale snapshot at once: one backend read serves them."""
    model = make_model("herd", rpm=60)
    assert (await state.admit(model, 1)).ok
    backend = state._redis if state._use_redis and state._redis is not None else state._memory
    reads = 0
    original = backend.snapshot

    async def slow_read(plans):  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.02)  # a Redis round trip on a loaded machine
        return await original(plans)

    monkeypatch.setattr(backend, "snapshot", slow_read)
    lives = await asyncio.gather(*(state.snapshot([model], max_age_s=10) for _ in range(40)))
    assert reads == 1
    assert all(live["herd"].remaining["rpm"] == 59 for live in lives)
    cached = await state.snapshot([model], max_age_s=10)
    assert reads == 1 and cached["herd"].remaining["rpm"] == 59
    await state.snapshot([model], max_age_s=0)  # no reuse asked for: a read of its own
    assert reads == 2
