"""The gateway's key parts, opened on the gateway's exit stack: key cache, key admin, budgets.

With Redis configured, budgets are counted in Redis (exact across instances) and key changes
travel by pub/sub (another instance refuses a revoked key within a second); without it, both
live in process and the cache refreshes from the database every `keys.refresh_interval_s`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from annas_gift.catalog.rate_limits import ClientLimits
from annas_gift.monitoring.alert_rules import KeyBudget
from annas_gift.monitoring.alert_sources import BudgetWatch
from annas_gift.services.key_admin import KeyAdmin
from annas_gift.services.key_budgets import KeyBudgets, virtual_key_limits
from annas_gift.services.key_cache import KeyCache
from annas_gift.settings import Settings
from annas_gift.settings_keys import BudgetSettings
from annas_gift.state.budgets import BudgetLedger
from annas_gift.state.key_events import RedisKeyEvents
from annas_gift.storage import database

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class KeyParts:
    """Virtual keys (None when `keys.enabled` is false) and the budgets every request meets."""

    cache: KeyCache | None
    admin: KeyAdmin | None
    budgets: KeyBudgets

    def client_limits(
        self, settings_limits: Callable[[str | None], ClientLimits]
    ) -> Callable[[str | None], ClientLimits]:
        """Per-key rpm/tpm: a virtual key's own, else the settings' ones."""
        if self.cache is None:
            return settings_limits
        return virtual_key_limits(self.cache, settings_limits)

    def alert_budgets(self) -> dict[str, KeyBudget]:
        """The budgets of every live key that has one, for the `key_budget` alert rule."""
        records = self.cache.records() if self.cache is not None else []
        budgets = (
            (r.id, KeyBudget(r.name, r.budget_daily_usd, r.budget_monthly_usd, r.budget_total_usd))
            for r in records
        )
        return {owner: b for owner, b in budgets if _limited(b)}

    def team_alert_budgets(self) -> dict[str, KeyBudget]:
        """The budgets of every team label that has one, for the `team_budget` alert rule."""
        teams = self.cache.teams() if self.cache is not None else []
        budgets = (KeyBudget(t.team, t.daily_usd, t.monthly_usd, t.total_usd) for t in teams)
        return {b.name: b for b in budgets if _limited(b)}

    def budget_watch(self, settings: BudgetSettings) -> BudgetWatch:
        """What the budget alert rules watch: keys, teams, the global caps, the thresholds."""
        caps = KeyBudget(
            "gateway",
            settings.global_daily_usd,
            settings.global_monthly_usd,
            settings.global_total_usd,
        )
        return BudgetWatch(
            keys=self.alert_budgets,
            teams=self.team_alert_budgets,
            gateway=caps,
            thresholds=tuple(settings.alert_thresholds),
        )


def _limited(budget: KeyBudget) -> bool:
    return (budget.day_usd, budget.month_usd, budget.total_usd) != (None, None, None)


async def open_key_parts(
    stack: AsyncExitStack, settings: Settings, engine: AsyncEngine
) -> KeyParts:
    """Build the key parts; everything opened is closed by `stack`."""
    redis: Redis | None = None
    if settings.cache.redis_url:
        from redis.asyncio import Redis  # only with Redis configured (state/redis_errors.py)

        redis = Redis.from_url(settings.cache.redis_url, socket_timeout=1.0)
        stack.push_async_callback(redis.aclose)
    namespace = settings.cache.namespace
    sessions = database.session_factory(engine)
    cache: KeyCache | None = None
    admin: KeyAdmin | None = None
    if settings.keys.enabled:
        events = RedisKeyEvents(redis, namespace) if redis is not None else None
        cache = KeyCache(sessions, events, refresh_interval_s=settings.keys.refresh_interval_s)
        stack.push_async_callback(cache.aclose)
        await cache.start()
        admin = KeyAdmin(sessions, notify=cache.changed)
    ledger = BudgetLedger(redis, namespace=namespace)
    budgets = KeyBudgets(ledger, cache, settings.budgets, sessions)
    stack.push_async_callback(budgets.flush_uncapped)  # before Redis closes (callbacks: LIFO)
    return KeyParts(cache, admin, budgets)
