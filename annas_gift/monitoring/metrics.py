"""Prometheus metrics of the request path: counters and histograms fed once per finished request.

Live values (breakers, cooldowns, headroom, VPN endpoints, the usage writer) are not updated per
request; `metrics_live.LiveStateCollector` reads them when `/metrics` is scraped.

Every family lives in a registry owned by one `GatewayMetrics`, not prometheus-client's global
one, so several apps (and tests) in one process never collide. With PROMETHEUS_MULTIPROC_DIR set
(`serve --workers N`), prometheus-client writes the values to per-process files and `render`
merges every worker's files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from annas_gift.monitoring.metrics_cells import CounterFamily, HistogramFamily

PREFIX = "annas_gift"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"  # stands for label values past the series budget
NONE = "none"  # a label that does not apply (no model chosen yet, explicit request's category)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
ATTEMPT_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 8.0)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@+-]")


def status_class(status: int) -> str:
    """'2xx', '4xx', '5xx' ... for an HTTP status."""
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def label(value: str | None, limit: int = 100) -> str:
    """A label value: 'none' for missing, cut to `limit`, odd characters replaced."""
    if not value:
        return NONE
    return _UNSAFE.sub("_", value[:limit])


def multiprocess_dir() -> str | None:
    """The prometheus-client multi-process directory, when `serve --workers` set one."""
    return os.environ.get(MULTIPROC_ENV) or None


@dataclass(slots=True)
class _Bound:
    """Every child one kind of request updates, bound once: the hot path only increments."""

    requests: Any
    duration: Any
    prompt_tokens: Any
    completion_tokens: Any
    cost: Any
    overhead: Any
    attempts: Any
    ttft: Any
    fallbacks: Any
    error: Any | None  # None for successes
    key_requests: Any | None
    key_cost: Any | None
    cache: Any | None
    cache_saved: Any


class _SeriesBudget:
    """Caps distinct label tuples per family; later tuples share one 'other' series."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[tuple[str, ...]] = set()

    def admit(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        if labels in self.seen:
            return labels
        if len(self.seen) >= self.limit:
            return tuple(OTHER for _ in labels)
        self.seen.add(labels)
        return labels


class GatewayMetrics:
    """The gateway's request metrics; `observe_request` is the one call per finished request."""

    def __init__(self, *, max_series: int = 5_000) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess_dir() is not None
        self._max_series = max_series
        counter, histogram = self._counter, self._histogram
        per_request = ["route", "provider", "model", "tier", "category", "status_class"]
        per_model = ["provider", "model"]
        self.requests = counter("requests", "Finished requests.", per_request)
        self.errors = counter(
            "errors", "Failed requests by gateway error code.", [*per_model, "code"]
        )
        self.key_requests = counter(
            "key_requests", "Finished requests per gateway key alias.", ["key", "status_class"]
        )
        self.key_cost = counter(
            "key_cost_usd", "Upstream cost per gateway key alias, USD.", ["key"]
        )
        self.duration = histogram(
            "request_duration_seconds", "Request latency as the client saw it.", per_request,
            LATENCY_BUCKETS,
        )  # fmt: skip
        self.overhead = histogram(
            "gateway_overhead_seconds",
            "Latency minus upstream time: what the gateway itself added.",
            ["route"],
            OVERHEAD_BUCKETS,
        )
        self.ttft = histogram(
            "time_to_first_token_seconds",
            "Streams: time from request to the first chunk sent.",
            per_model,
            TTFT_BUCKETS,
        )
        self.tokens = counter("tokens", "Tokens by direction.", [*per_model, "direction"])
        self.cost = counter("cost_usd", "Upstream cost, USD.", per_model)
        self.cache = counter("cache_requests", "Response-cache lookups.", ["result"])
        self.cache_saved = counter(
            "cache_saved_usd", "Cost not spent thanks to cache hits, USD.", ["route"]
        )
        self.attempts = histogram(
            "attempts_per_request", "Upstream attempts one request took.", ["route"],
            ATTEMPT_BUCKETS,
        )  # fmt: skip
        self.fallbacks = counter(
            "fallbacks", "Requests served by a model other than the first planned one.", per_model
        )
        self.rejections = counter(
            "rejections",
            "Requests refused before any upstream call (client limits, budgets).",
            ["reason", "limit", "key"],
        )
        self._bound: dict[tuple[Any, ...], _Bound] = {}
        self._max_bound = 4 * max_series
        self._budgets: dict[int, _SeriesBudget] = {}

    def _counter(self, name: str, doc: str, labels: list[str]) -> Any:
        if self.multiprocess:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=self.registry)
        family = CounterFamily(f"{PREFIX}_{name}", doc, labels)
        self.registry.register(family)
        return family

    def _histogram(self, name: str, doc: str, labels: list[str], buckets: Sequence[float]) -> Any:
        if self.multiprocess:
            return Histogram(
                f"{PREFIX}_{name}", doc, labels, buckets=buckets, registry=self.registry
            )
        family = HistogramFamily(f"{PREFIX}_{name}", doc, labels, buckets=buckets)
        self.registry.register(family)
        return family

    # -- the hot path ----------------------------------------------------------------------------

    def _labels(self, family: Any, *values: str) -> Any:
        """The child of `family` for these label values, within its series budget."""
        budget = self._budgets.get(id(family))
        if budget is None:
            budget = self._budgets[id(family)] = _SeriesBudget(self._max_series)
        return family.labels(*budget.admit(values))

    def _bind(self, raw: tuple[Any, ...]) -> _Bound:
        route, provider, model, tier, category, status, code, key, cache = raw
        sclass = status_class(status)
        prov, mod = label(provider), label(model)
        ids = (route, prov, mod, label(tier), label(category), sclass)
        alias = None if key is None else label(key, 64)
        return _Bound(
            requests=self._labels(self.requests, *ids),
            duration=self._labels(self.duration, *ids),
            prompt_tokens=self._labels(self.tokens, prov, mod, "prompt"),
            completion_tokens=self._labels(self.tokens, prov, mod, "completion"),
            cost=self._labels(self.cost, prov, mod),
            overhead=self._labels(self.overhead, route),
            attempts=self._labels(self.attempts, route),
            ttft=self._labels(self.ttft, prov, mod),
            fallbacks=self._labels(self.fallbacks, prov, mod),
            error=(
                self._labels(self.errors, prov, mod, label(code or str(status), 64))
                if status >= 400
                else None
            ),
            key_requests=None if alias is None else self._labels(self.key_requests, alias, sclass),
            key_cost=None if alias is None else self._labels(self.key_cost, alias),
            cache=None if cache is None else self._labels(self.cache, label(cache, 16)),
            cache_saved=self._labels(self.cache_saved, route),
        )

    def observe_request(  # noqa: PLR0913, C901 - one flat keyword call: no record to allocate per request
        self,
        *,
        route: str,
        provider: str | None,
        model: str | None,
        status: int,
        latency_s: float,
        tier: str | None = None,
        category: str | None = None,
        upstream_s: float | None = None,
        ttft_s: float | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float = 0.0,
        error_code: str | None = None,
        key_alias: str | None = None,
        cache: str | None = None,
        saved_usd: float = 0.0,
        attempts: int = 1,
        fell_back: bool = False,
    ) -> None:
        """Record one finished request: one dict lookup, then pre-bound increments.

        `cache` is "hit"/"miss" when the response cache was consulted, None when not;
        `key_alias` is the key id (the name in "alice:sk-..."), never the key itself.
        """
        raw = (route, provider, model, tier, category, status, error_code, key_alias, cache)
        b = self._bound.get(raw)
        if b is None:
            if len(self._bound) >= self._max_bound:
                self._bound.clear()  # the children stay registered; only the shortcuts go
            b = self._bound[raw] = self._bind(raw)
        b.requests.inc()
        b.duration.observe(latency_s)
        if prompt_tokens:
            b.prompt_tokens.inc(prompt_tokens)
        if completion_tokens:
            b.completion_tokens.inc(completion_tokens)
        if cost_usd:
            b.cost.inc(cost_usd)
            if b.key_cost is not None:
                b.key_cost.inc(cost_usd)
        if upstream_s is not None:
            b.overhead.observe(max(0.0, latency_s - upstream_s))
        if ttft_s is not None:
            b.ttft.observe(ttft_s)
        if b.error is not None:
            b.error.inc()
        if b.key_requests is not None:
            b.key_requests.inc()
        if b.cache is not None:
            b.cache.inc()
            if saved_usd:
                b.cache_saved.inc(saved_usd)
        if attempts:
            b.attempts.observe(attempts)
        if fell_back:
            b.fallbacks.inc()

    def observe_rejection(self, reason: str, limit: str | None, key_alias: str | None) -> None:
        """A request refused before any upstream call: reason 'client_limit' or 'budget'."""
        labels = (label(reason, 32), label(limit, 32), label(key_alias, 64))
        self._labels(self.rejections, *labels).inc()

    # -- exposition --------------------------------------------------------------------------------

    def render(self, *extra: Collector) -> tuple[bytes, str]:
        """The text exposition (body, content type), plus any scrape-time collectors given."""
        if multiprocess_dir() is None:
            base: Collector = self.registry
        else:
            from prometheus_client import multiprocess

            # Every worker's files, not just this process's values.
            base = CollectorRegistry()
            multiprocess.MultiProcessCollector(base)  # type: ignore[no-untyped-call,unused-ignore]
        # Chained per scrape instead of registered: nothing to undo, no describe() pass.
        return generate_latest(_Chain(base, *extra)), CONTENT_TYPE_LATEST


class _Chain(Collector):
    """Collectors read one after the other, for one exposition."""

    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def metrics_authorized(
    authorization: str | None, require_key: bool, verify: Callable[[str], str | None]
) -> bool:
    """Whether a scrape may read /metrics: always without `require_key`, else a valid Bearer key."""
    if not require_key:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip()) and verify(token.strip()) is not None


class NoMetrics(GatewayMetrics):
    """Metrics switched off (`metrics.enabled=false`): nothing is counted on the request path."""

    def observe_request(self, **_: Any) -> None:
        """Count nothing."""

    def observe_rejection(self, reason: str, limit: str | None, key_alias: str | None) -> None:
        """Count nothing."""
