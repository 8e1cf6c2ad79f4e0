"""Scrape-time gauges: breakers, cooldowns, headroom, VPN endpoints, Redis, the usage writer.

Nothing here runs per request. `LiveReader.read()` takes one snapshot of the live state (one
Redis round trip for every model) when `/metrics` is scraped or the alerts are evaluated, and
`LiveStateCollector` turns the last snapshot into metric families.

Under `serve --workers`, model state is shared through Redis, so every worker reports the same;
the usage writer, VPN counters and Redis view are those of the worker that answered the scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from annas_gift.catalog.registry import CatalogModel
from annas_gift.state import GatewayState, ModelLiveState

log = logging.getLogger(__name__)
P = "annas_gift"
BREAKER_STATES = ("closed", "open", "half_open")
VPN_STATES = ("unknown", "up", "suspect", "down", "inactive")  # unknown: not probed yet


class UsageWriter(Protocol):
    """What the usage tracker exposes to monitoring (monitoring.tracker.UsageTracker)."""

    @property
    def pending(self) -> int: ...

    written: int
    dropped: int
    spooled: int


@dataclass(frozen=True, slots=True)
class UsageWriterView:
    pending: int
    written: int
    dropped: int
    spooled: int
    spool_bytes: int
    flush_errors: int | None  # None until the tracker counts them


@dataclass(frozen=True, slots=True)
class LiveView:
    """One reading of everything the gauges and the alert rules need."""

    at: float
    models: Sequence[CatalogModel]
    states: Mapping[str, ModelLiveState]
    redis: str  # "ok" | "lost" | "not configured"
    database_up: bool | None  # None: not checked
    vpn: Mapping[str, Any] | None  # VPNAdmin.status(), None without a VPN manager
    usage: UsageWriterView | None
    errors: list[str] = field(default_factory=list)  # parts that could not be read


def spool_bytes(path: Path | None) -> int:
    """Bytes of usage events in the spool file not replayed yet (0 when there is none)."""
    if path is None:
        return 0
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    try:
        done = int(path.with_name(path.name + ".offset").read_text().strip() or 0)
    except (OSError, ValueError):
        done = 0
    return max(0, size - done)


class LiveReader:
    """Reads the live state from the objects the app's lifespan built."""

    def __init__(
        self,
        models: Callable[[], Sequence[CatalogModel]],
        state: GatewayState | None = None,
        *,
        vpn_status: Callable[[], Mapping[str, Any]] | None = None,
        usage: UsageWriter | None = None,
        spool_path: Path | None = None,
        db_ping: Callable[[], Awaitable[bool]] | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        self._models = models
        self._state = state
        self._vpn_status = vpn_status
        self._usage = usage
        self._spool_path = spool_path
        self._db_ping = db_ping
        self._timeout_s = timeout_s

    async def read(self) -> LiveView:
        """One reading; a part that fails or times out is left out, never raised."""
        errors: list[str] = []
        models = list(self._models())
        states: Mapping[str, ModelLiveState] = {}
        if self._state is not None and models:
            try:
                async with asyncio.timeout(self._timeout_s):
                    states = await self._state.snapshot(models)
            except Exception as exc:
                errors.append(f"state: {type(exc).__name__}")
        database_up = None
        if self._db_ping is not None:
            try:
                async with asyncio.timeout(self._timeout_s):
                    database_up = bool(await self._db_ping())
            except Exception:
                database_up = False
        vpn = None
        if self._vpn_status is not None:
            try:
                vpn = self._vpn_status()
            except Exception as exc:
                errors.append(f"vpn: {type(exc).__name__}")
        return LiveView(
            at=time.time(),
            models=models,
            states=states,
            redis=self._redis(),
            database_up=database_up,
            vpn=vpn,
            usage=self._usage_view(),
            errors=errors,
        )

    def _redis(self) -> str:
        backend = "memory" if self._state is None else self._state.backend
        if backend == "memory":
            return "not configured"
        return "ok" if backend == "redis" else "lost"

    def _usage_view(self) -> UsageWriterView | None:
        u = self._usage
        if u is None:
            return None
        errors = getattr(u, "flush_errors", None)
        return UsageWriterView(
            pending=u.pending,
            written=u.written,
            dropped=u.dropped,
            spooled=u.spooled,
            spool_bytes=spool_bytes(self._spool_path),
            flush_errors=errors if isinstance(errors, int) else None,
        )


class LiveStateCollector(Collector):
    """Metric families from the last `LiveView`; call `refresh()` before rendering."""

    def __init__(self, reader: LiveReader) -> None:
        self._reader = reader
        self.view: LiveView | None = None

    async def refresh(self) -> LiveView:
        """Read the live state now (the scrape awaits this, then renders)."""
        self.view = await self._reader.read()
        return self.view

    def collect(self) -> Iterator[Metric]:
        view = self.view
        if view is None:
            return
        yield from _model_families(view)
        yield from _infra_families(view)
        if view.vpn is not None:
            yield from _vpn_families(view.vpn)
        if view.usage is not None:
            yield from _usage_families(view.usage)


def _model_families(view: LiveView) -> Iterator[Metric]:
    labels = ["provider", "model"]
    breaker = GaugeMetricFamily(
        f"{P}_circuit_breaker_state",
        "1 for the breaker's current state (closed, open, half_open) per model.",
        labels=[*labels, "state"],
    )
    healthy = GaugeMetricFamily(f"{P}_model_healthy", "1 when the model is healthy.", labels=labels)
    cooldown = GaugeMetricFamily(
        f"{P}_model_cooldown_seconds",
        "Seconds left of the model's cooldown (0: none).",
        labels=labels,
    )
    remaining = GaugeMetricFamily(
        f"{P}_model_remaining",
        "What is left of the model's rpm/tpm/rpd/tpd window (limited models only).",
        labels=[*labels, "limit"],
    )
    headroom = GaugeMetricFamily(
        f"{P}_model_headroom_ratio", "Fraction of the tightest limit left (1: idle).", labels=labels
    )
    error_rate = GaugeMetricFamily(
        f"{P}_model_error_rate", "Moving error rate from live traffic.", labels=labels
    )
    for model in view.models:
        state = view.states.get(model.name)
        if state is None:
            continue
        ids = [model.provider, model.name]
        for name in BREAKER_STATES:
            breaker.add_metric([*ids, name], 1.0 if state.breaker == name else 0.0)
        healthy.add_metric(ids, 1.0 if state.healthy else 0.0)
        left = (state.cooled_down_until or 0.0) - view.at
        cooldown.add_metric(ids, max(0.0, left))
        for limit, value in sorted(state.remaining.items()):
            if value is not None:
                remaining.add_metric([*ids, limit], float(value))
        headroom.add_metric(ids, float(state.headroom))
        error_rate.add_metric(ids, float(state.error_rate))
    yield from (breaker, healthy, cooldown, remaining, headroom, error_rate)


def _infra_families(view: LiveView) -> Iterator[Metric]:
    redis = GaugeMetricFamily(
        f"{P}_redis_up",
        "1 while shared state runs on Redis; 0 when lost (per-instance fallback).",
    )
    if view.redis != "not configured":
        redis.add_metric([], 1.0 if view.redis == "ok" else 0.0)
        yield redis
    if view.database_up is not None:
        db = GaugeMetricFamily(f"{P}_database_up", "1 when the usage database answers a ping.")
        db.add_metric([], 1.0 if view.database_up else 0.0)
        yield db


def _vpn_families(status: Mapping[str, Any]) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        f"{P}_vpn_endpoint_up", "1 when the endpoint is in rotation.", labels=["endpoint"]
    )
    state = GaugeMetricFamily(
        f"{P}_vpn_endpoint_state",
        "1 for the endpoint's state (up, suspect, down, inactive).",
        labels=["endpoint", "state"],
    )
    latency = GaugeMetricFamily(
        f"{P}_vpn_endpoint_latency_seconds",
        "Last probe's round trip through the endpoint.",
        labels=["endpoint"],
    )
    carried = CounterMetricFamily(
        f"{P}_vpn_requests_carried", "Requests carried by the endpoint.", labels=["endpoint"]
    )
    for endpoint in status.get("endpoints", []):
        name = str(endpoint.get("name"))
        current = endpoint.get("state")
        up.add_metric([name], 1.0 if current == "up" else 0.0)
        for s in VPN_STATES:
            state.add_metric([name, s], 1.0 if current == s else 0.0)
        if endpoint.get("latency_ms") is not None:
            latency.add_metric([name], float(endpoint["latency_ms"]) / 1000)
        carried.add_metric([name], float(endpoint.get("requests_carried") or 0))
    enabled = GaugeMetricFamily(f"{P}_vpn_enabled", "1 when egress goes through the VPN.")
    enabled.add_metric([], 1.0 if status.get("enabled") else 0.0)
    failovers = CounterMetricFamily(
        f"{P}_vpn_failovers", "Requests moved to another endpoint after a proxy failure."
    )
    failovers.add_metric([], float(status.get("failovers") or 0))
    exhausted = CounterMetricFamily(
        f"{P}_vpn_exhausted", "Requests for which every endpoint tried failed."
    )
    exhausted.add_metric([], float(status.get("exhausted") or 0))
    yield from (enabled, up, state, latency, carried, failovers, exhausted)


def _usage_families(usage: UsageWriterView) -> Iterator[Metric]:
    pending = GaugeMetricFamily(
        f"{P}_usage_buffer_events", "Usage events buffered, not yet in the database or spool."
    )
    pending.add_metric([], float(usage.pending))
    spool = GaugeMetricFamily(
        f"{P}_usage_spool_bytes", "Bytes of usage events in the spool waiting for the database."
    )
    spool.add_metric([], float(usage.spool_bytes))
    yield from (pending, spool)
    for name, value, doc in (
        ("written", usage.written, "Usage events written to the database."),
        ("spooled", usage.spooled, "Usage events written to the spool file."),
        ("dropped", usage.dropped, "Usage events lost (buffer full without spool, or bad)."),
    ):
        family = CounterMetricFamily(f"{P}_usage_events_{name}", doc)
        family.add_metric([], float(value))
        yield family
    if usage.flush_errors is not None:
        errors = CounterMetricFamily(f"{P}_usage_flush_errors", "Failed usage-database flushes.")
        errors.add_metric([], float(usage.flush_errors))
        yield errors
