"""Scrape-time gauges read from the real state layer, usage tracker and VPN manager."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from annas_gift.catalog.registry import Catalog
from annas_gift.egress.admin import VPNAdmin
from annas_gift.egress.config import VPNConfig
from annas_gift.egress.manager import VPNManager
from annas_gift.monitoring.metrics import GatewayMetrics
from annas_gift.monitoring.metrics_live import LiveReader, LiveStateCollector, spool_bytes
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.settings import VPNSettings
from annas_gift.state import GatewayState
from annas_gift.storage import database


def _catalog() -> Catalog:
    entries = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": "http://127.0.0.1:9",
                "api_key": "x",
            },
            "model_info": {
                "provider": "sandbox",
                "tier": "fast",
                "categories": ["chat"],
                "rpm": 10,
            },
        }
        for name in ("m-ok", "m-bad", "m-limited")
    ]
    return Catalog.from_model_list(entries, price=False)


def _values(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(body.decode())
        for s in fam.samples
    }


async def test_scrape_reads_breakers_cooldowns_headroom_vpn_and_usage(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], usage_event, tmp_path: Path
) -> None:
    catalog = _catalog()
    state = await GatewayState.create(None)
    ok, bad, limited = catalog.get("m-ok"), catalog.get("m-bad"), catalog.get("m-limited")
    assert ok is not None and bad is not None and limited is not None
    for _ in range(3):
        await state.report(bad, ok=False, latency_ms=5, status=503, error="boom")
    await state.report(limited, ok=False, latency_ms=5, status=429, retry_after=120)
    for _ in range(4):
        assert (await state.admit(ok, 10)).ok
    tracker = UsageTracker(sessions, flush_interval=60)
    for i in range(3):
        tracker.record_request(usage_event(request_id=f"r{i}"))
    vpn = VPNManager(sessions, VPNConfig.from_settings(VPNSettings.model_validate({"endpoints": [
        {"name": "nl", "url": "socks5://user:hunter2@nl.example:1080"},
    ]})))  # fmt: skip
    await vpn.load()
    collector = LiveStateCollector(
        LiveReader(catalog.all, state, vpn_status=lambda: VPNAdmin(vpn).status().model_dump(),
                   usage=tracker,
                   spool_path=tmp_path / "none.jsonl", db_ping=lambda: database.ping(engine))
    )  # fmt: skip
    metrics = GatewayMetrics()
    try:
        await collector.refresh()
        body = metrics.render(collector)[0]
    finally:
        await state.aclose()
        await vpn.stop()  # its log guard stays on the leaky loggers otherwise, for later tests
    assert b"hunter2" not in body
    v = _values(body)

    def get(name: str, **labels: str) -> float:
        return v[(name, tuple(sorted(labels.items())))]

    breaker = "annas_gift_circuit_breaker_state"
    assert get(breaker, provider="sandbox", model="m-bad", state="open") == 1
    assert get(breaker, provider="sandbox", model="m-bad", state="closed") == 0
    assert get(breaker, provider="sandbox", model="m-ok", state="closed") == 1
    assert get("annas_gift_model_healthy", provider="sandbox", model="m-bad") == 0
    cooldown = get("annas_gift_model_cooldown_seconds", provider="sandbox", model="m-limited")
    assert 100 < cooldown <= 120
    assert get("annas_gift_model_cooldown_seconds", provider="sandbox", model="m-ok") == 0
    assert get("annas_gift_model_remaining", provider="sandbox", model="m-ok", limit="rpm") == 6
    assert get("annas_gift_model_remaining", provider="sandbox", model="m-bad", limit="rpm") == 10
    assert get("annas_gift_database_up") == 1
    assert ("annas_gift_redis_up", ()) not in v  # no Redis configured: no gauge
    assert get("annas_gift_usage_buffer_events") == 3
    assert get("annas_gift_usage_spool_bytes") == 0
    # Not probed yet: an endpoint is "unknown" (never "up" before a probe says so).
    assert get("annas_gift_vpn_endpoint_up", endpoint="nl") == 0
    assert get("annas_gift_vpn_endpoint_state", endpoint="nl", state="unknown") == 1
    assert get("annas_gift_vpn_endpoint_state", endpoint="nl", state="up") == 0
    assert get("annas_gift_vpn_enabled") == 0
    assert get("annas_gift_vpn_failovers_total") == 0
    await tracker.flush()
    await collector.refresh()
    after = _values(metrics.render(collector)[0])
    assert after[("annas_gift_usage_buffer_events", ())] == 0
    assert after[("annas_gift_usage_events_written_total", ())] == 3


async def test_unreachable_database_reads_as_down(tmp_path: Path) -> None:
    async def ping() -> bool:
        raise OSError("refused")

    view = await LiveReader(list, db_ping=ping).read()
    assert view.database_up is False and view.redis == "not configured"


def test_spool_bytes_counts_what_replay_has_not_reached(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    assert spool_bytes(spool) == 0
    spool.write_text("x" * 100)
    assert spool_bytes(spool) == 100
    (tmp_path / "spool.jsonl.offset").write_text("60")
    assert spool_bytes(spool) == 40
