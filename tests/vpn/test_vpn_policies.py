"""Rotation policies and validation, table-tested without I/O."""

from __future__ import annotations

import random

import pytest

from annas_gift.core.proxy_urls import validate_proxy_url
from annas_gift.egress.config import validate_endpoint
from annas_gift.egress.log_guard import SecretFilter, scrub
from annas_gift.egress.policies import EndpointState, Rotation, candidates, normalize_policy

NAMES = ["a", "b", "c"]


def picks(rotation: Rotation, n: int, provider: str = "p", names: list[str] = NAMES) -> list[str]:
    return [rotation.choose(provider, names, lambda _: 0) for _ in range(n)]


def test_round_robin_cycles_by_name_and_skips_the_ineligible() -> None:
    rotation = Rotation("round_robin")
    assert picks(rotation, 4) == ["a", "b", "c", "a"]
    assert picks(rotation, 2, names=["a", "c"]) == ["c", "a"]  # b is down: skipped
    assert rotation.rotate(NAMES, "a") == "a"
    assert picks(rotation, 2) == ["a", "b"]  # a manual rotation makes `a` the next choice


def test_random_uses_only_eligible_endpoints() -> None:
    rotation = Rotation("random", rng=random.Random(7))
    chosen = picks(rotation, 200, names=["a", "c"])
    assert set(chosen) == {"a", "c"}
    assert 60 < chosen.count("a") < 140


def test_least_used_balances_counts() -> None:
    counts = {"a": 5, "b": 1, "c": 1}
    rotation = Rotation("least_used")
    got = []
    for _ in range(6):
        name = rotation.choose("p", NAMES, counts.__getitem__)
        counts[name] += 1
        got.append(name)
    assert got == ["b", "c", "b", "c", "b", "c"]
    assert counts == {"a": 5, "b": 4, "c": 4}


def test_timed_keeps_one_endpoint_per_period() -> None:
    now = [0.0]
    rotation = Rotation("timed", every_s=60, clock=lambda: now[0])
    assert picks(rotation, 3) == ["a", "a", "a"]
    now[0] = 59
    assert picks(rotation, 1) == ["a"]
    now[0] = 61
    assert picks(rotation, 2) == ["b", "b"]
    rotation.release("b")  # it failed: the next request rotates at once
    assert picks(rotation, 1) == ["c"]
    assert picks(rotation, 1, names=["a", "b"]) == ["a"]  # c went down


def test_sticky_per_provider() -> None:
    rotation = Rotation("sticky")
    assert picks(rotation, 2, "openai") == ["a", "a"]
    assert picks(rotation, 2, "groq") == ["b", "b"]
    rotation.release("a", "openai")  # a 429 for openai through a
    assert picks(rotation, 1, "openai") == ["c"]
    assert picks(rotation, 1, "groq") == ["b"]
    rotation.rotate(NAMES, "a")  # everyone moves to a
    assert picks(rotation, 1, "openai") + picks(rotation, 1, "groq") == ["a", "a"]
    assert rotation.sticky == {"openai": "a", "groq": "a"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Round-Robin", "round_robin"), ("interval", "timed"), ("sticky_per_provider", "sticky")],
)
def test_policy_names(given: str, expected: str) -> None:
    assert normalize_policy(given) == expected


def test_unknown_policy() -> None:
    with pytest.raises(ValueError, match="round_robin, random"):
        normalize_policy("fastest")


@pytest.mark.parametrize(
    "url",
    [
        "http://proxy:8080",
        "HTTPS://u:p@proxy.example:443",
        "socks5://user:pa%40ss@10.0.0.1:1080",
        "socks5h://[::1]:1080",
        "http://token@proxy:3128/",
    ],
)
def test_valid_proxy_urls(url: str) -> None:
    assert validate_proxy_url(url).split("://")[0] in ("http", "https", "socks5", "socks5h")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("socks4://u:hunter22@h:1080", "not supported"),
        ("ftp://h:21", "not supported"),
        ("proxy:8080", "not supported"),
        ("http://:8080", "no host"),
        ("http://h", "needs a port"),
        ("http://h:99999", "port"),
        ("http://h:8080/path", "path"),
        ("http://h:8080?x=1", "path, query"),
        ("http://u:p w@h:1", "spaces"),
        ("", "empty"),
    ],
)
def test_invalid_proxy_urls(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        validate_proxy_url(url)
    assert "hunter22" not in str(caught.value)


def test_endpoint_fields_and_aliases() -> None:
    spec = validate_endpoint(
        {"name": "nl-1", "url": "socks5://h:1", "provider": "mullvad", "providers": "a, b"}
    )
    assert spec == {
        "name": "nl-1",
        "url": "socks5://h:1",
        "provider_label": "mullvad",
        "allowed_providers": ["a", "b"],
    }
    assert validate_endpoint({"name": "x", "active": False}, partial=True) == {
        "name": "x",
        "active": False,
    }


def test_candidates_filter() -> None:
    states = [
        EndpointState("a", "http://a:1", country="de", allowed_providers=("openai",)),
        EndpointState("b", "http://b:1", country="US"),
        EndpointState("c", "http://c:1", country="DE", active=False),
    ]
    assert [s.name for s in candidates(states, "openai", countries={"DE"})] == ["a"]
    assert [s.name for s in candidates(states, "groq")] == ["b"]
    assert [s.name for s in candidates(states, "openai", exclude={"a"})] == ["b"]


def test_scrub_and_log_filter() -> None:
    url = "socks5://me:p%40ssw0rd@h:1080"
    text = f"failed {url} with auth=(b'me', b'p@ssw0rd') p%40ssw0rd"
    assert "ssw0rd" not in scrub(text, [url])
    import logging

    filt = SecretFilter()
    filt.urls.add(url)
    record = logging.LogRecord("x", logging.DEBUG, "f", 1, "auth=%r", (("me", "p@ssw0rd"),), None)
    filt.filter(record)
    assert "ssw0rd" not in record.getMessage()
