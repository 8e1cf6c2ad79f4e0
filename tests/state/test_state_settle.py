"""settle(): token corrections and learning budgets from provider headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from state_helpers import FakeClock, StateFactory, make_model

from annas_gift.core.headers import parse_duration, parse_retry_after
from annas_gift.state import GatewayState
from annas_gift.state.base import Learned
from annas_gift.state.headers import learned_from_headers

NOW = 1_700_000_000.0


async def _remaining(state: GatewayState, model_name: str, **limits: int) -> dict[str, int | None]:
    return (await state.snapshot([make_model(model_name, **limits)]))[model_name].remaining


async def test_settle_with_ticket_corrects_exactly_that_entry(state: GatewayState) -> None:
    model = make_model("fix", tpm=100, tpd=1000)
    over = await state.admit(model, 80)
    under = await state.admit(model, 10)
    await state.settle(model, 80, 20, {}, ticket=over.ticket)
    await state.settle(model, 10, 50, {}, ticket=under.ticket)
    assert await _remaining(state, "fix", tpm=100, tpd=1000) == {
        "rpm": None,
        "tpm": 30,
        "rpd": None,
        "tpd": 930,
    }
    await state.settle(model, 80, 20, {}, ticket=over.ticket)  # a repeat changes nothing
    assert (await _remaining(state, "fix", tpm=100, tpd=1000))["tpm"] == 30
    assert (await state.admit(model, 30)).ok
    assert not (await state.admit(model, 1)).ok


async def test_settle_without_ticket_only_ever_charges_more(state: GatewayState) -> None:
    model = make_model("noticket", tpm=100)
    await state.admit(model, 50)
    await state.settle(model, 50, 10, {})  # unsafe to guess which entry: ignored
    assert (await _remaining(state, "noticket", tpm=100))["tpm"] == 50
    await state.settle(model, 50, 70, {})  # charged to the newest entry
    assert (await _remaining(state, "noticket", tpm=100))["tpm"] == 30


async def test_corrected_entry_leaves_with_its_corrected_weight(
    memory_state: GatewayState, clock: FakeClock
) -> None:
    model = make_model("expire", tpm=100)
    admitted = await memory_state.admit(model, 90)
    await memory_state.settle(model, 90, 40, {}, ticket=admitted.ticket)
    clock.advance(60)
    assert (await _remaining(memory_state, "expire", tpm=100))["tpm"] == 100
    await memory_state.settle(model, 40, 99, {}, ticket=admitted.ticket)  # too late: no effect
    assert (await _remaining(memory_state, "expire", tpm=100))["tpm"] == 100


async def test_provider_reporting_fewer_requests_tightens(new_state: StateFactory) -> None:
    state = await new_state()
    model = make_model("learn", rpm=100)
    await state.admit(model, 0)
    headers = {"X-RateLimit-Remaining-Requests": "2", "x-ratelimit-reset-requests": "1s"}
    await state.settle(model, 0, 0, headers)
    live = (await state.snapshot([model]))["learn"]
    assert live.remaining["rpm"] == 2
    assert live.headroom == pytest.approx(0.02)
    assert (await state.admit(model, 0)).ok
    assert (await state.admit(model, 0)).ok
    denied = await state.admit(model, 0)
    assert denied.limit == "provider_requests"
    assert denied.retry_after is not None and 0 < denied.retry_after <= 1.0
    await new_state.advance(1.05)
    assert (await state.admit(model, 0)).ok  # the provider's window has reset


async def test_provider_reporting_more_than_we_allow_changes_nothing(state: GatewayState) -> None:
    model = make_model("loose", rpm=5)
    for _ in range(3):
        await state.admit(model, 0)
    await state.settle(model, 0, 0, {"x-ratelimit-remaining-requests": "50"})
    assert (await _remaining(state, "loose", rpm=5))["rpm"] == 2
    assert (await state.admit(model, 0)).ok


async def test_provider_token_budget_applies_to_an_unlimited_model(state: GatewayState) -> None:
    model = make_model("anth")
    headers = {
        "llm_provider-anthropic-ratelimit-tokens-remaining": "100",
        "llm_provider-anthropic-ratelimit-tokens-reset": "2099-01-01T00:00:00Z",
    }
    await state.settle(model, 0, 0, headers)
    big = await state.admit(model, 150)
    assert big.limit == "provider_tokens"
    assert (await state.admit(model, 60)).ok
    assert not (await state.admit(model, 50)).ok  # 40 left
    assert (await state.admit(model, 40)).ok
    assert (await state.snapshot([model]))["anth"].headroom == 0.0


def test_reset_formats() -> None:
    assert parse_duration("6m0s", NOW) == 360.0
    assert parse_duration("1h2m3.5s", NOW) == 3723.5
    assert parse_duration("20ms", NOW) == pytest.approx(0.02)
    assert parse_duration("1.5", NOW) == 1.5
    assert parse_duration(str(NOW + 30), NOW) == 30.0  # a Unix timestamp
    iso = datetime.fromtimestamp(NOW + 12, UTC).isoformat().replace("+00:00", "Z")
    assert parse_duration(iso, NOW) == pytest.approx(12.0)
    assert parse_duration("soon", NOW) is None
    assert parse_duration("", NOW) is None
    assert parse_duration("2025-01-01T00:00:00", NOW) is None  # no zone: ambiguous


def test_learned_from_headers() -> None:
    assert learned_from_headers({}, NOW) == Learned()
    assert learned_from_headers({"content-type": "application/json"}, NOW).empty
    got = learned_from_headers(
        {
            "x-ratelimit-remaining-requests": "9",
            "x-ratelimit-remaining-tokens": "1200",
            "x-ratelimit-reset-tokens": "6s",
        },
        NOW,
    )
    assert got == Learned(requests=9, requests_reset_s=60.0, tokens=1200, tokens_reset_s=6.0)
    assert learned_from_headers({"x-ratelimit-remaining-requests": "n/a"}, NOW).empty


def test_parse_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "7"}, NOW) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}, NOW) == 1.5
    http_date = "Tue, 14 Nov 2023 22:13:40 GMT"  # NOW + 20 s
    assert parse_retry_after({"retry-after": http_date}, NOW) == pytest.approx(20.0)
    assert parse_retry_after({"x-other": "1"}, NOW) is None


async def test_ticket_carries_the_admitted_weight(state: GatewayState) -> None:
    model = make_model("weight", tpm=100)
    admitted = await state.admit(model, 80)
    await state.settle(model, 999, 30, {}, ticket=admitted.ticket)  # est is moot with a ticket
    assert (await _remaining(state, "weight", tpm=100))["tpm"] == 70
    await state.settle(model, 30, 30, {}, ticket="not-a-ticket")  # ignored, never an error
    await state.settle(model, 3, 3, {}, ticket="ffff:3")  # unknown entry: nothing to correct
    assert (await _remaining(state, "weight", tpm=100))["tpm"] == 70


async def test_an_unlimited_model_without_provider_budgets_settles_without_a_round_trip(
    state: GatewayState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing to correct (no window) and nothing to learn: with Redis that call was a round
    # trip per request for nothing. With a budget header it still goes (test above).
    from annas_gift.state.memory import MemoryBackend
    from annas_gift.state.redis_backend import RedisBackend

    calls: list[str] = []

    async def spy(self: object, *_args: object) -> None:
        calls.append(type(self).__name__)

    monkeypatch.setattr(MemoryBackend, "settle", spy)
    monkeypatch.setattr(RedisBackend, "settle", spy)
    model = make_model("unlimited")
    admitted = await state.admit(model, 40)
    await state.settle(model, 40, 90, {}, ticket=admitted.ticket)
    await state.settle(model, 40, 90, {})
    assert calls == []
    await state.settle(model, 40, 90, {"x-ratelimit-remaining-requests": "9"})
    assert len(calls) == 1
