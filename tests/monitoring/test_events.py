"""Pure event helpers: hourly folding and the spool's JSON encoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annas_gift.core.events import (
    ClassificationEvent,
    MetricDelta,
    SelectionEvent,
    UsageEvent,
    decode_event,
    encode_event,
    hourly_deltas,
    merge_deltas,
    utc_hour,
)

aware = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)
usage = st.builds(
    UsageEvent,
    request_id=st.text(max_size=8),
    created_at=aware,
    key_id=st.none() | st.text(max_size=5),
    route=st.sampled_from(["openai", "native"]),
    provider=st.sampled_from(["openai", "groq"]),
    model=st.sampled_from(["a", "b"]),
    upstream_model=st.none() | st.just("openai/a"),
    prompt_tokens=st.integers(0, 10_000),
    completion_tokens=st.integers(0, 10_000),
    cost_usd=st.floats(0, 10),
    latency_ms=st.floats(0, 1e5),
    status=st.sampled_from([200, 400, 429, 500, 503]),
    error_type=st.none() | st.just("X"),
    stream=st.booleans(),
    cached=st.booleans(),
    saved_cost_usd=st.floats(0, 1),
)


def test_utc_hour_truncates_in_utc() -> None:
    local = datetime(2024, 3, 1, 23, 59, 59, 999, tzinfo=timezone(timedelta(hours=-5)))
    assert utc_hour(local) == datetime(2024, 3, 2, 4, tzinfo=UTC)
    assert utc_hour(datetime(2024, 3, 1, 7, 15)) == datetime(2024, 3, 1, 7, tzinfo=UTC)


# Up to 40 events of 17 drawn fields each: tens of ms per example, seconds under load.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(usage, max_size=40))
def test_hourly_deltas_conserve_totals_and_keys_are_unique(events: list[UsageEvent]) -> None:
    deltas = hourly_deltas(events)
    keys = [(d.provider, d.model, d.hour) for d in deltas]
    assert len(keys) == len(set(keys))
    assert all(d.hour == utc_hour(d.hour) for d in deltas)
    assert sum(d.requests for d in deltas) == len(events)
    assert sum(d.prompt_tokens for d in deltas) == sum(e.prompt_tokens for e in events)
    assert sum(d.errors for d in deltas) == sum(e.status >= 400 for e in events)
    assert sum(d.rate_limit_hits for d in deltas) == sum(e.status == 429 for e in events)
    assert sum(d.cost_usd for d in deltas) == pytest.approx(sum(e.cost_usd for e in events))


def test_merge_deltas_adds_within_an_hour() -> None:
    hour = datetime(2024, 1, 1, 10, tzinfo=UTC)
    merged = merge_deltas([
        MetricDelta("p", "m", hour + timedelta(minutes=1), requests=1, cost_usd=0.5),
        MetricDelta("p", "m", hour + timedelta(minutes=59), requests=2, errors=1),
        MetricDelta("p", "m", hour + timedelta(hours=1), requests=4),
    ])  # fmt: skip
    assert merged == [
        MetricDelta("p", "m", hour, requests=3, errors=1, cost_usd=0.5),
        MetricDelta("p", "m", hour + timedelta(hours=1), requests=4),
    ]


@given(usage)
def test_usage_events_survive_the_spool_encoding(event: UsageEvent) -> None:
    assert decode_event(encode_event(event)) == event


def test_decision_events_survive_the_spool_encoding() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    for event in (
        ClassificationEvent("r", when, "fast", "code", 0.5, 0.25, {"a": [1, 2], "b": None}),
        SelectionEvent("r", when, "fast", "code", "p", "m", "why", 1.0, None, {"x": 1.5}, ["q"]),
    ):
        assert decode_event(encode_event(event)) == event
