"""Request metrics: what a Prometheus scrape reads after requests, parsed by prometheus_client."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from annas_gift.monitoring.metrics import (
    GatewayMetrics,
    NoMetrics,
    label,
    metrics_authorized,
    status_class,
)


def samples(body: bytes) -> list[Sample]:
    """Every sample of an exposition, parsed the way Prometheus would."""
    return [s for fam in text_string_to_metric_families(body.decode()) for s in fam.samples]


def value(found: Iterable[Sample], name: str, **labels: str) -> float:
    matches = [s.value for s in found if s.name == name and labels.items() <= s.labels.items()]
    assert matches, f"no sample {name}{labels}"
    return sum(matches)


def test_one_request_feeds_every_family() -> None:
    m = GatewayMetrics()
    m.observe_request(
        route="openai", provider="groq", model="groq/llama", status=200, latency_s=0.8,
        tier="fast", category="code", upstream_s=0.79, prompt_tokens=12, completion_tokens=30,
        cost_usd=0.002, key_alias="alice", cache="miss", attempts=2, fell_back=True,
    )  # fmt: skip
    m.observe_request(
        route="openai", provider="groq", model="groq/llama", status=503, latency_s=2.0,
        tier="fast", category="code", error_code="upstream_unavailable", key_alias="alice",
        cache="miss",
    )  # fmt: skip
    m.observe_request(
        route="native", provider="groq", model="groq/llama", status=200, latency_s=0.01,
        cache="hit", saved_usd=0.002, ttft_s=0.004, key_alias="bob",
    )  # fmt: skip
    found = samples(m.render()[0])
    ids = {"provider": "groq", "model": "groq/llama"}
    assert value(found, "annas_gift_requests_total", **ids) == 3
    assert value(found, "annas_gift_requests_total", status_class="5xx") == 1
    assert value(found, "annas_gift_requests_total", route="native", category="none") == 1
    assert value(found, "annas_gift_errors_total", code="upstream_unavailable") == 1
    assert value(found, "annas_gift_request_duration_seconds_count", **ids) == 3
    assert value(found, "annas_gift_request_duration_seconds_sum", **ids) == pytest.approx(2.81)
    # 0.8 s falls in the 1 s bucket, not the 0.5 s one
    dur = {"route": "openai", "status_class": "2xx"}
    assert value(found, "annas_gift_request_duration_seconds_bucket", le="0.5", **dur) == 0
    assert value(found, "annas_gift_request_duration_seconds_bucket", le="1.0", **dur) == 1
    assert value(found, "annas_gift_gateway_overhead_seconds_sum") == pytest.approx(0.01)
    assert value(found, "annas_gift_time_to_first_token_seconds_count", **ids) == 1
    assert value(found, "annas_gift_tokens_total", direction="prompt") == 12
    assert value(found, "annas_gift_tokens_total", direction="completion") == 30
    assert value(found, "annas_gift_cost_usd_total", **ids) == pytest.approx(0.002)
    assert value(found, "annas_gift_key_requests_total", key="alice") == 2
    assert value(found, "annas_gift_key_cost_usd_total", key="alice") == pytest.approx(0.002)
    assert value(found, "annas_gift_cache_requests_total", result="hit") == 1
    assert value(found, "annas_gift_cache_requests_total", result="miss") == 2
    assert value(found, "annas_gift_cache_saved_usd_total") == pytest.approx(0.002)
    assert value(found, "annas_gift_attempts_per_request_sum", route="openai") == 3
    assert value(found, "annas_gift_fallbacks_total", **ids) == 1


def test_rejections_are_counted_by_reason_and_limit() -> None:
    m = GatewayMetrics()
    m.observe_rejection("client_limit", "rpm", "alice")
    m.observe_rejection("client_limit", "rpm", "alice")
    m.observe_rejection("budget", "monthly", "bob")
    found = samples(m.render()[0])
    assert value(found, "annas_gift_rejections_total", reason="client_limit", limit="rpm") == 2
    assert value(found, "annas_gift_rejections_total", reason="budget", key="bob") == 1


def test_metrics_off_counts_nothing() -> None:
    m = NoMetrics()
    m.observe_request(route="openai", provider="groq", model="groq/llama", status=200, latency_s=1)
    m.observe_rejection("budget", "daily", "bob")
    names = {s.name for s in samples(m.render()[0])}
    assert not any(n.startswith(("annas_gift_requests", "annas_gift_rejections")) for n in names)


def test_two_instances_do_not_share_values() -> None:
    a, b = GatewayMetrics(), GatewayMetrics()
    a.observe_request(route="openai", provider="p", model="m", status=200, latency_s=0.1)
    assert value(samples(a.render()[0]), "annas_gift_requests_total") == 1
    assert not [s for s in samples(b.render()[0]) if s.name == "annas_gift_requests_total"]


def test_series_budget_folds_excess_label_values_into_other() -> None:
    m = GatewayMetrics(max_series=10)
    for i in range(25):
        m.observe_request(route="openai", provider="p", model=f"m{i}", status=200, latency_s=0.1)
    found = [s for s in samples(m.render()[0]) if s.name == "annas_gift_requests_total"]
    assert len(found) == 11  # ten real series and one "other"
    assert value(found, "annas_gift_requests_total", model="other") == 15
    assert value(found, "annas_gift_requests_total") == 25  # nothing lost


def test_labels_stay_bounded_and_clean() -> None:
    assert label(None) == "none"
    assert label("x" * 500) == "x" * 100
    assert label('evil"\n{label}') == "evil___label_"
    assert [status_class(s) for s in (200, 429, 503, 42)] == ["2xx", "4xx", "5xx", "other"]
    m = GatewayMetrics()
    m.observe_request(
        route="openai", provider="p", model='m"}\nfake_metric 1', status=200, latency_s=0.1
    )
    body = m.render()[0].decode()
    assert "\nfake_metric" not in body
    assert value(samples(body.encode()), "annas_gift_requests_total") == 1


@pytest.mark.parametrize(
    ("header", "require", "allowed"),
    [
        (None, False, True),
        (None, True, False),
        ("Bearer sk-good", True, True),
        ("bearer sk-good", True, True),
        ("Bearer sk-bad", True, False),
        ("Basic sk-good", True, False),
        ("Bearer ", True, False),
    ],
)
def test_metrics_key_check(header: str | None, require: bool, allowed: bool) -> None:
    def verify(token: str) -> str | None:
        return "ops" if token == "sk-good" else None

    assert metrics_authorized(header, require, verify) is allowed


def test_observe_request_is_cheaper_than_locked_prometheus_children() -> None:
    """One request's update costs less than the dozen locked prometheus-client increments it
    replaces (measured side by side, so machine load affects both alike)."""
    from prometheus_client import CollectorRegistry, Counter

    m = GatewayMetrics()
    kwargs = dict(
        route="openai", provider="groq", model="groq/llama", status=200, latency_s=0.5,
        tier="fast", category="chat", upstream_s=0.49, prompt_tokens=10, completion_tokens=20,
        cost_usd=0.001, key_alias="alice", cache="miss", attempts=1,
    )  # fmt: skip
    m.observe_request(**kwargs)  # type: ignore[arg-type]
    locked = Counter("c", "c", ["a"], registry=CollectorRegistry()).labels("x")
    n = 20_000

    def per_call(fn: object) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()  # type: ignore[operator]
        return (time.perf_counter() - start) / n * 1e6

    ours = min(per_call(lambda: m.observe_request(**kwargs)) for _ in range(3))  # type: ignore[arg-type]
    naive = min(per_call(lambda: [locked.inc() for _ in range(12)]) for _ in range(3))
    print(f"observe_request: {ours:.2f} us/call; 12 locked increments: {naive:.2f} us")
    assert ours < naive, (ours, naive)
