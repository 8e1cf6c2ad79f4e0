"""Alerts end to end: live state -> snapshot -> manager -> a real webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from annas_gift.catalog.demo import demo_catalog
from annas_gift.monitoring.alert_rules import Snapshot, Traffic
from annas_gift.monitoring.alert_sources import SnapshotSource
from annas_gift.monitoring.alerts import AlertManager, MemoryIncidentStore, RedisIncidentStore
from annas_gift.monitoring.metrics_live import LiveReader
from annas_gift.monitoring.notify import (
    AlertMessage,
    AppriseChannel,
    Notifier,
    WebhookChannel,
    mask_channel_url,
)
from annas_gift.settings_ops import AlertsSettings, ChannelSettings, DeliverySettings
from annas_gift.state import GatewayState, HealthPolicy
from annas_gift.storage import database

FAST = DeliverySettings(min_interval_s=0, retry_backoff_s=0.01, max_retries=2, timeout_s=2)


class Receiver:
    """An HTTP server on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_next: list[int] = []  # statuses to answer with before accepting
        self.arrived = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0))
        body = await request.json()
        async with self.arrived:
            self.bodies.append({"path": request.path, **body})
            self.arrived.notify_all()
        return web.json_response({"ok": True})

    async def wait_for(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.bodies) >= count), within)
        return list(self.bodies)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


def statuses(bodies: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(b["status"], b["rule"], b["subject"]) for b in bodies]


async def test_model_failing_then_recovering_sends_firing_then_resolved(
    receiver: Receiver, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    catalog = demo_catalog("http://127.0.0.1:9")
    model = catalog.get("sandbox/fast-small")
    assert model is not None
    state = await GatewayState.create(None, health_policy=HealthPolicy(open_base_s=0.2))
    settings = AlertsSettings(enabled=True, instance="gw-test")
    reader = LiveReader(catalog.all, state, db_ping=lambda: database.ping(engine))
    source = SnapshotSource(reader, sessions, settings)
    channel = WebhookChannel("ops", f"{receiver.url}/hooks/s3cret-token")
    notifier = Notifier([channel], FAST)
    notifier.start()
    manager = AlertManager(settings, notifier)
    try:
        assert await manager.evaluate(await source()) == []
        for _ in range(3):  # three upstream failures open the breaker
            await state.report(model, ok=False, latency_ms=5, status=503, error="boom")
        fired = await manager.evaluate(await source())
        assert [(m.status, m.rule, m.subject) for m in fired] == [
            ("firing", "breaker_open", "sandbox/fast-small")
        ]
        assert await manager.evaluate(await source()) == []  # still open: no second message
        assert [a.finding.rule for a in manager.active()] == ["breaker_open"]
        await asyncio.sleep(0.3)  # the cool-off ends; the next call is the half-open probe
        await state.report(model, ok=True, latency_ms=5)
        await manager.evaluate(await source())
        bodies = await receiver.wait_for(2)
    finally:
        await notifier.stop()
        await state.aclose()
    assert statuses(bodies) == [
        ("firing", "breaker_open", "sandbox/fast-small"),
        ("resolved", "breaker_open", "sandbox/fast-small"),
    ]
    assert bodies[0]["incident_id"] == bodies[1]["incident_id"]
    assert bodies[0]["instance"] == "gw-test" and bodies[1]["resolved_at"]
    assert bodies[0]["path"] == "/hooks/s3cret-token"
    assert manager.active() == [] and manager.listing()["recent"][0]["state"] == "resolved"


async def test_cooldown_silences_a_flapping_rule() -> None:
    sink: list[AlertMessage] = []

    class Sink:
        def submit(self, message: AlertMessage) -> None:
            sink.append(message)

    now = [0.0]
    store = MemoryIncidentStore(3600, clock=lambda: now[0])
    manager = AlertManager(AlertsSettings(cooldown_s=60), Sink(), store)
    bad, good = Snapshot(database_up=False), Snapshot(database_up=True)
    for snap in (bad, good, bad, good):  # flaps within the cooldown
        await manager.evaluate(snap)
        now[0] += 10
    assert [m.status for m in sink] == ["firing", "resolved"]
    now[0] += 60
    await manager.evaluate(bad)  # after the cooldown it notifies again
    assert [m.status for m in sink] == ["firing", "resolved", "firing"]


@pytest.mark.redis
async def test_two_instances_on_one_redis_send_one_notification(
    receiver: Receiver, redis_url: str
) -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    settings = AlertsSettings(cooldown_s=0, instance="gw")
    instances = []
    for _ in range(2):
        store = RedisIncidentStore.from_url(redis_url, namespace, 3600)
        notifier = Notifier([WebhookChannel("ops", f"{receiver.url}/hook")], FAST)
        notifier.start()
        instances.append((AlertManager(settings, notifier, store), notifier, store))
    failing = Snapshot(traffic=Traffic(50, 40), redis="lost")
    try:
        for _ in range(3):  # both see the incidents, at the same moment, several times
            await asyncio.gather(*(m.evaluate(failing) for m, _, _ in instances))
        await asyncio.gather(*(m.evaluate(Snapshot()) for m, _, _ in instances))
        await receiver.wait_for(4)
        await asyncio.sleep(0.3)  # room for a duplicate to arrive, if there were one
        for _, notifier, _ in instances:
            await notifier.stop()
    finally:
        for _, _, store in instances:
            await store.aclose()
    assert sorted(statuses(receiver.bodies)) == [
        ("firing", "error_rate", "all"),
        ("firing", "redis_lost", "all"),
        ("resolved", "error_rate", "all"),
        ("resolved", "redis_lost", "all"),
    ]
    assert all(m.active() == [] for m, _, _ in instances)


class ListSink:
    """Keeps what a manager hands over, in order (several managers may share one)."""

    def __init__(self) -> None:
        self.messages: list[AlertMessage] = []

    def submit(self, message: AlertMessage) -> None:
        self.messages.append(message)


@pytest.mark.redis
async def test_the_instance_that_did_not_open_an_incident_resolves_it_under_the_same_id(
    redis_url: str,
) -> None:
    # The interleaving seen with two gateways: A opens and fires, B then sees the same finding
    # (already open), and B is the first to see it gone. B's resolved must name A's incident.
    namespace = f"t{uuid.uuid4().hex[:10]}"
    sink = ListSink()
    stores = [RedisIncidentStore.from_url(redis_url, namespace, 3600) for _ in range(2)]
    a, b = (AlertManager(AlertsSettings(cooldown_s=0, instance=n), sink, s) for n, s in
            zip("ab", stores, strict=True))  # fmt: skip
    failing = Snapshot(database_up=False)
    try:
        await a.evaluate(failing)
        await b.evaluate(failing)
        assert b.listing()["active"][0]["incident_id"] == a.listing()["active"][0]["incident_id"]
        await b.evaluate(Snapshot())
        await a.evaluate(Snapshot())
        # A closed and re-opened while B still held the first one: B resolves the open one.
        await a.evaluate(failing)
        await b.evaluate(failing)
        await a.evaluate(Snapshot())
        await a.evaluate(failing)
        await b.evaluate(Snapshot())
    finally:
        for store in stores:
            await store.aclose()
    sent = [(m.status, m.instance, m.incident_id) for m in sink.messages]
    first, second, third = sent[0][2], sent[2][2], sent[4][2]
    assert sent == [
        ("firing", "a", first),
        ("resolved", "b", first),
        ("firing", "a", second),
        ("resolved", "a", second),
        ("firing", "a", third),
        ("resolved", "b", third),
    ]
    assert len({first, second, third}) == 3


async def test_without_redis_each_instance_notifies_on_its_own(receiver: Receiver) -> None:
    notifier = Notifier([WebhookChannel("ops", f"{receiver.url}/hook")], FAST)
    notifier.start()
    managers = [AlertManager(AlertsSettings(), notifier) for _ in range(2)]
    for m in managers:
        await m.evaluate(Snapshot(database_up=False))
    await receiver.wait_for(2)
    await notifier.stop()
    assert statuses(receiver.bodies) == [("firing", "database_down", "all")] * 2


async def test_delivery_retries_server_errors_not_client_errors(receiver: Receiver) -> None:
    channel = WebhookChannel("ops", f"{receiver.url}/hook")
    notifier = Notifier([channel], FAST)
    message = _message()
    receiver.fail_next = [500, 503]
    assert await notifier.deliver(channel, message) is True
    assert notifier.stats["ops"].retries == 2 and notifier.stats["ops"].sent == 1
    receiver.fail_next = [400]
    assert await notifier.deliver(channel, message) is False
    assert notifier.stats["ops"].last_error == "HTTP 400" and notifier.stats["ops"].retries == 2
    await channel.aclose()


async def test_submit_never_waits_for_a_slow_channel(receiver: Receiver) -> None:
    class Slow:
        name, masked_url = "slow", "http://slow/***"

        async def send(self, message: AlertMessage) -> None:
            await asyncio.sleep(1)

        async def aclose(self) -> None:
            return None

    notifier = Notifier([Slow()], FAST)
    notifier.start()
    start = time.perf_counter()
    for _ in range(100):
        notifier.submit(_message())
    assert time.perf_counter() - start < 0.05
    await notifier.stop(timeout_s=0.1)


async def test_secrets_in_urls_never_reach_logs(caplog: pytest.LogCaptureFixture) -> None:
    url = "http://127.0.0.1:9/services/T000/B000/XXXXsecretXXXX?token=abc"
    spec = ChannelSettings(name="slack-ish", url=url)
    assert "secret" not in repr(spec) and spec.kind == "webhook"
    channel = WebhookChannel(spec.name, url)
    assert channel.masked_url == "http://127.0.0.1:9/***"
    assert "secret" not in repr(channel)
    notifier = Notifier([channel], FAST)
    with caplog.at_level(logging.DEBUG):
        assert await notifier.deliver(channel, _message()) is False  # port 9: refused
    assert "secret" not in caplog.text and "token=abc" not in caplog.text
    assert "ConnectError" in (notifier.stats["slack-ish"].last_error or "")
    await channel.aclose()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("slack://T1/B2/C3", "slack://***"),
        ("discord://12345/tokentoken", "discord://***"),
        ("mailtos://user:pw@smtp.example.com?to=ops@example.com", "mailtos://***"),
        ("https://user:pw@hooks.example.com/x?y=1", "https://***@hooks.example.com/***"),
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("not a url", "***"),
    ],
)
def test_channel_urls_are_masked(url: str, masked: str) -> None:
    assert mask_channel_url(url) == masked


async def test_apprise_channel_posts_to_a_json_endpoint(receiver: Receiver) -> None:
    target = receiver.url.replace("http://", "json://") + "/apprise"
    channel = AppriseChannel("apprise", target)
    assert repr(channel) == "AppriseChannel(name='apprise', url='json://***')"
    await channel.send(_message())
    (body,) = await receiver.wait_for(1)
    assert body["path"] == "/apprise"
    assert body["title"] == "[FIRING] Anna's Gift: database_down (all)"
    assert "usage database is unreachable" in body["message"]


def _message() -> AlertMessage:
    from annas_gift.monitoring.notify import now_utc

    return AlertMessage(
        status="firing", rule="database_down", subject="all", severity="critical",
        summary="the usage database is unreachable", instance="gw", incident_id="abc",
        started_at=now_utc(),
    )  # fmt: skip
