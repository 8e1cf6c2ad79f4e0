"""parse_behavior: the behaviour language, valid and invalid."""

from __future__ import annotations

import pytest

from annas_gift.sandbox import Behavior, BehaviorError, parse_behavior


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Behavior()),
        ("ok", Behavior()),
        ("  ok ; ", Behavior()),
        ("latency=250", Behavior(latency_ms=250)),
        ("latency=10;chunk_delay=5", Behavior(latency_ms=10, chunk_delay_ms=5)),
        ("status=429;retry_after=2", Behavior(status=429, retry_after=2.0)),
        ("status=503 ; retry_after=0.5", Behavior(status=503, retry_after=0.5)),
        ("STATUS=500", Behavior(status=500)),
        ("timeout", Behavior(timeout=True)),
        ("malformed", Behavior(malformed=True)),
        ("cut=3", Behavior(cut=3)),
        ("cut=0", Behavior(cut=0)),
        ("tokens=10,20", Behavior(tokens=(10, 20))),
        ("tokens=0, 7", Behavior(tokens=(0, 7))),
        ("reply=Hello = world, 42", Behavior(reply="Hello = world, 42")),
        ("reply=", Behavior(reply="")),
        ("ratelimit_headers", Behavior(ratelimit_headers=True)),
        (
            "remaining_requests=0;remaining_tokens=500",
            Behavior(ratelimit_headers=True, remaining_requests=0, remaining_tokens=500),
        ),
        (
            "ok;latency=5;status=502;ratelimit_headers",
            Behavior(latency_ms=5, status=502, ratelimit_headers=True),
        ),
    ],
)
def test_valid(text: str, expected: Behavior) -> None:
    assert parse_behavior(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus", "unknown directive 'bogus'"),
        ("ok;explode=1", "unknown directive 'explode'"),
        ("=5", "unknown directive ''"),
        ("status", "'status' needs a value"),
        ("status=abc", "non-negative integer"),
        ("status=200", "400-599"),
        ("status=600", "400-599"),
        ("latency=-5", "non-negative integer"),
        ("latency=1.5", "non-negative integer"),
        ("timeout=5", "'timeout' takes no value"),
        ("ok=1", "'ok' takes no value"),
        ("tokens=10", "<prompt>,<completion>"),
        ("tokens=a,b", "non-negative integer"),
        ("retry_after=soon", "expected seconds"),
        ("cut=1;cut=2", "'cut' given twice"),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(BehaviorError, match=message):
        parse_behavior(text)


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown directive"):
        parse_behavior("nope")
