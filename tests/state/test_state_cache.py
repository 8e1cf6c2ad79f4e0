"""Response cache policy, keys, LRU + TTL store; client limits; in-flight counts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from state_helpers import FakeClock, StateFactory, make_model

from annas_gift.catalog.rate_limits import ClientLimits
from annas_gift.state import GatewayState, cache_key, is_cacheable

MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "What is 2+2?"}]


@pytest.mark.parametrize(
    ("params", "cacheable"),
    [
        ({"temperature": 0}, True),
        ({"temperature": 0.0, "n": 1}, True),
        ({}, False),  # OpenAI's default temperature is 1
        ({"temperature": 0.7}, False),
        ({"temperature": 0, "stream": True}, False),
        ({"temperature": 0, "n": 2}, False),
        ({"temperature": 0, "cache": False}, False),  # opting out beats everything
        ({"temperature": 0.9, "cache": True}, True),  # forcing beats temperature...
        ({"cache": True}, True),
        ({"cache": True, "stream": True}, False),  # ...but not streaming or n > 1
        ({"cache": True, "n": 3}, False),
        ({"temperature": True}, False),
        ({"temperature": "0"}, False),
    ],
)
def test_is_cacheable(params: dict[str, Any], cacheable: bool) -> None:
    assert is_cacheable(params) is cacheable


def test_cache_key_covers_exactly_what_determines_the_answer() -> None:
    base = cache_key("m", MESSAGES, {"temperature": 0, "max_tokens": 10})
    assert len(base) == 40
    same: list[dict[str, Any]] = [
        {"max_tokens": 10, "temperature": 0.0},
        {"temperature": 0, "max_tokens": 10, "stream": False, "user": "u", "cache": True},
        {"temperature": 0, "max_tokens": 10, "n": 1, "metadata": {"trace": 1}, "seed": None},
    ]
    for params in same:
        assert cache_key("m", MESSAGES, params) == base
    different: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
        ("m2", MESSAGES, {"temperature": 0, "max_tokens": 10}),
        ("m", [{"role": "user", "content": "What is 2+3?"}], {"temperature": 0, "max_tokens": 10}),
        ("m", MESSAGES, {"temperature": 0, "max_tokens": 11}),
        ("m", MESSAGES, {"temperature": 0, "max_tokens": 10, "seed": 1}),
        ("m", MESSAGES, {"temperature": 0, "max_tokens": 10, "tools": [{"type": "function"}]}),
    ]
    assert len({cache_key(*args) for args in different} | {base}) == len(different) + 1
    reordered = [{"content": "What is 2+2?", "role": "user"}]
    assert cache_key("m", reordered, {"max_tokens": 10, "temperature": 0}) == base


async def test_cache_roundtrip(state: GatewayState) -> None:
    assert await state.cache_get("k1") is None
    await state.cache_set("k1", b'{"answer": 4}', 60)
    assert await state.cache_get("k1") == b'{"answer": 4}'
    await state.cache_set("k2", b"x", 0)  # no TTL, no entry
    assert await state.cache_get("k2") is None


async def test_memory_cache_is_lru_bounded(clock: FakeClock) -> None:
    state = await GatewayState.create(None, clock=clock, cache_max_entries=2)
    await state.cache_set("a", b"1", 60)
    await state.cache_set("b", b"2", 60)
    assert await state.cache_get("a") == b"1"  # a is now the most recent
    await state.cache_set("c", b"3", 60)
    assert await state.cache_get("b") is None
    assert (await state.cache_get("a"), await state.cache_get("c")) == (b"1", b"3")
    await state.cache_set("a", b"1'", 60)  # replacing does not grow
    await state.cache_set("d", b"4", 60)
    assert await state.cache_get("c") is None
    await state.aclose()


async def test_memory_cache_ttl(memory_state: GatewayState, clock: FakeClock) -> None:
    await memory_state.cache_set("t", b"v", 10)
    clock.advance(9.999)
    assert await memory_state.cache_get("t") == b"v"
    clock.advance(0.001)
    assert await memory_state.cache_get("t") is None


@pytest.mark.redis
async def test_redis_cache_is_shared_and_expires(redis_states: StateFactory) -> None:
    first, second = await redis_states(), await redis_states()
    await first.cache_set("shared", b"answer", 1)
    assert await second.cache_get("shared") == b"answer"
    await asyncio.sleep(1.1)
    assert await second.cache_get("shared") is None


async def test_client_limits(state: GatewayState) -> None:
    limits = ClientLimits(rpm=2, tpm=100)
    assert (await state.admit_client("alice", limits, 40)).ok
    denied = await state.admit_client("alice", limits, 70)
    assert (denied.ok, denied.limit) == (False, "tpm")
    assert denied.retry_after is not None and 59 < denied.retry_after <= 60
    assert (await state.admit_client("alice", limits, 60)).ok
    denied = await state.admit_client("alice", limits, 0)
    assert (denied.ok, denied.limit) == (False, "rpm")
    assert (await state.admit_client("bob", limits, 100)).ok  # keys are independent
    unlimited = ClientLimits()
    assert all([(await state.admit_client("carol", unlimited, 10**9)).ok for _ in range(5)])
    # A limit change in settings takes effect at once.
    assert (await state.admit_client("alice", ClientLimits(rpm=3), 0)).ok


async def test_client_and_model_windows_are_separate(state: GatewayState) -> None:
    assert (await state.admit_client("m", ClientLimits(rpm=1), 0)).ok
    assert (await state.admit(make_model("m", rpm=1), 0)).ok


async def test_inflight(new_state: StateFactory) -> None:
    first, second = await new_state(), await new_state()
    model = make_model("busy")
    assert await first.inflight(model, 1) == 1
    expected = 2 if new_state.backend == "redis" else 1  # shared across instances on Redis
    assert await second.inflight(model, 1) == expected
    assert await first.inflight(model, -5) == 0  # never below zero
    assert await first.inflight(model, 0) == 0


async def test_ping_and_backend_name(new_state: StateFactory) -> None:
    state = await new_state()
    assert await state.ping()
    assert state.backend == new_state.backend


@pytest.mark.redis
async def test_every_redis_key_expires(
    redis_states: StateFactory, redis_url: str, redis_namespace: str
) -> None:
    """Nothing grows forever: each key the state layer writes carries a TTL."""
    import redis.asyncio as aioredis

    state = await redis_states()
    model = make_model("ttl", rpm=10, tpm=1000, rpd=100, tpd=10_000)
    admitted = await state.admit(model, 10)
    await state.settle(model, 10, 20, {"x-ratelimit-remaining-tokens": "5"}, ticket=admitted.ticket)
    await state.report(model, ok=False, latency_ms=1, status=429)
    await state.admit_client("k", ClientLimits(rpm=5, tpm=50), 5)
    await state.inflight(model, 1)
    await state.cache_set("c", b"v", 30)
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"*{redis_namespace}*")]
        assert len(keys) == 7, keys  # model: 2 logs + hash; client: log + hash; in-flight; cache
        for key in keys:
            assert await client.pttl(key) > 0, key
    finally:
        await client.aclose()
