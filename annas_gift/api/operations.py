"""The operations parts of a running gateway: metrics, the live collector, alerts, dashboard logins.

`open_operations` builds them on the gateway's exit stack (see `api/gateway.py`): the alert
manager, its notifier and the Redis incident store are stopped and closed on shutdown, in
reverse order, like every other part.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from annas_gift.api.auth import key_id_for
from annas_gift.api.dashboard.sessions import (
    LoginThrottle,
    SessionStore,
    login_secrets,
    signing_keys,
)
from annas_gift.catalog.registry import Catalog
from annas_gift.core.shutdown import ShutdownStack
from annas_gift.monitoring.alert_sources import BudgetWatch, SnapshotSource
from annas_gift.monitoring.alerts import AlertManager, IncidentStore, RedisIncidentStore
from annas_gift.monitoring.metrics import GatewayMetrics
from annas_gift.monitoring.metrics_live import LiveReader, LiveStateCollector, UsageWriter
from annas_gift.monitoring.notify import Notifier, build_channel
from annas_gift.settings import Settings
from annas_gift.state import GatewayState
from annas_gift.storage import database


@dataclass(frozen=True, slots=True)
class Operations:
    """What `/metrics`, `/api/v1/alerts` and the dashboard read."""

    metrics: GatewayMetrics
    live: LiveStateCollector
    alerts: AlertManager  # evaluates nothing when alerts are off: its listing stays empty
    notifier: Notifier
    sessions: SessionStore  # dashboard logins: signed tokens any instance with the keys accepts
    login_throttle: LoginThrottle  # failed dashboard logins per client address, this process

    def alert_rows(self) -> list[dict[str, Any]]:
        """Active then recent alerts, one dict each (the dashboard's alerts table)."""
        listing = self.alerts.listing()
        return [*listing["active"], *listing["recent"]]


@asynccontextmanager
async def open_operations(  # noqa: PLR0913 - the gateway parts alerts read, each built once
    settings: Settings,
    metrics: GatewayMetrics,
    catalog: Catalog,
    state: GatewayState,
    usage: UsageWriter,
    vpn_status: Callable[[], dict[str, Any]],
    engine: AsyncEngine,
    budgets: BudgetWatch | None = None,
) -> AsyncIterator[Operations]:
    """Build the operations parts; alerts start evaluating only when `alerts.enabled`."""
    async with ShutdownStack() as stack:
        reader = LiveReader(
            catalog.all,
            state,
            vpn_status=vpn_status,
            usage=usage,
            spool_path=settings.storage.spool_path,
            db_ping=lambda: database.ping(engine),
        )
        alerts_cfg = settings.alerts
        timeout_s = alerts_cfg.delivery.timeout_s
        channels = (
            [build_channel(c, timeout_s) for c in alerts_cfg.channels] if alerts_cfg.enabled else []
        )
        notifier = Notifier(channels, alerts_cfg.delivery)
        store: IncidentStore | None = None
        redis_url = settings.cache.redis_url
        if alerts_cfg.enabled and redis_url:
            redis_store = RedisIncidentStore.from_url(
                redis_url, settings.cache.namespace, alerts_cfg.incident_ttl_s
            )
            stack.push_async_callback(redis_store.aclose)
            store = redis_store
        alerts = AlertManager(alerts_cfg, notifier, store)
        if alerts_cfg.enabled:
            notifier.start()
            stack.push_async_callback(notifier.stop)
            watch = budgets or BudgetWatch(thresholds=tuple(settings.budgets.alert_thresholds))
            source = SnapshotSource(
                reader, database.session_factory(engine), alerts_cfg, budgets=watch
            )  # fmt: skip
            alerts.start(source)
            stack.push_async_callback(alerts.stop)
        yield Operations(
            metrics=metrics,
            live=LiveStateCollector(reader),
            alerts=alerts,
            notifier=notifier,
            sessions=dashboard_sessions(settings),
            login_throttle=LoginThrottle(settings.dashboard.login_failures_per_minute),
        )


def dashboard_sessions(settings: Settings) -> SessionStore:
    """The session signer for the keys that may log in to the dashboard (see sessions.py)."""
    auth = settings.auth
    clients = [k.get_secret_value() for k in auth.api_keys]
    if not clients and auth.key_file.exists():  # the generated key, as api/app.py reads it
        clients = [auth.key_file.read_text(encoding="utf-8").strip()]
    allowed = login_secrets(
        [k.get_secret_value() for k in auth.admin_keys],
        clients,
        settings.dashboard.admin_keys,
        key_id_for,
    )
    secret = settings.dashboard.session_secret
    keys = signing_keys(allowed, secret.get_secret_value() if secret else None)
    return SessionStore(keys, ttl_s=settings.dashboard.session_ttl_s)
