"""Builds the alert rules' snapshot from the live state and the usage database.

Traffic, latency and spend come from the database, which every instance shares, so all
instances judge the same numbers; breakers, VPN and Redis come from the live reader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.events import UsageStat
from annas_gift.monitoring.alert_rules import (
    BudgetSpend,
    KeyBudget,
    KeySpend,
    ModelHealth,
    Snapshot,
    Traffic,
)
from annas_gift.monitoring.metrics_live import LiveReader, LiveView
from annas_gift.settings_ops import AlertsSettings
from annas_gift.storage.repositories import UsageRepository
from annas_gift.storage.repositories.keys import KeyRepository

log = logging.getLogger(__name__)
# Budgets by owner (key id or team label), read at every evaluation so changes show at once.
Budgets = Callable[[], Mapping[str, KeyBudget]]


def _no_budgets() -> Mapping[str, KeyBudget]:
    return {}


@dataclass(frozen=True, slots=True)
class BudgetWatch:
    """What the budget rules watch (`api.key_parts.KeyParts.budget_watch` builds it)."""

    keys: Budgets = _no_budgets  # every live virtual key with a budget, by key id
    teams: Budgets = _no_budgets  # every team label with a budget
    gateway: KeyBudget = field(default_factory=KeyBudget)  # the budgets.global_* caps
    thresholds: tuple[float, ...] = (0.8, 1.0)  # budgets.alert_thresholds


def health_of(view: LiveView) -> tuple[ModelHealth, ...]:
    """The rules' view of every catalog model with a live state."""
    out = []
    for model in view.models:
        state = view.states.get(model.name)
        if state is None:
            continue
        cooling = (state.cooled_down_until or 0.0) > view.at
        out.append(
            ModelHealth(
                name=model.name,
                provider=model.provider,
                tier=model.tier,
                configured=not model.missing_env(),
                breaker=state.breaker,
                healthy=state.healthy,
                cooling_down=cooling,
            )
        )
    return tuple(out)


class SnapshotSource:
    """`await source()` gives the snapshot the alert manager evaluates."""

    def __init__(
        self,
        reader: LiveReader,
        sessions: async_sessionmaker[AsyncSession],
        settings: AlertsSettings,
        *,
        budgets: BudgetWatch | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._reader = reader
        self._sessions = sessions
        self._settings = settings
        self._budgets = budgets or BudgetWatch()
        self._clock = clock

    async def __call__(self) -> Snapshot:
        view = await self._reader.read()
        now = self._clock()
        s = self._settings
        traffic: Traffic | None = None
        by_model: dict[str, Traffic] = {}
        p95, samples = None, 0
        day = month = None
        keys: dict[str, KeySpend] = {}
        teams: dict[str, BudgetSpend] = {}
        gateway: BudgetSpend | None = None
        try:
            async with self._sessions() as session:
                repo = UsageRepository(session)
                since = now - timedelta(minutes=s.error_rate.window_minutes)
                total = await repo.stats(since=since)
                traffic = Traffic(total[0].requests, total[0].errors) if total else Traffic(0, 0)
                since = now - timedelta(minutes=s.model_error_rate.window_minutes)
                for stat in await repo.stats(since=since, group_by="model"):
                    by_model[str(stat.key)] = Traffic(stat.requests, stat.errors)
                since = now - timedelta(minutes=s.latency.window_minutes)
                p95, samples = await repo.latency_quantile(since, 0.95)
                day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
                month_start = day_start.replace(day=1)
                day = _cost(await repo.stats(since=day_start))
                month = _cost(await repo.stats(since=month_start))
                keys = await self._key_spend(repo, day_start, month_start)
                budgets = KeyRepository(session)
                teams = await self._team_spend(budgets, day_start, month_start)
                gateway = await self._gateway_spend(budgets, day_start, month_start)
        except Exception as exc:  # the database being down is itself a finding (database_up)
            log.debug("alert snapshot: usage database not read (%s)", type(exc).__name__)
        vpn = view.vpn or {}
        return Snapshot(
            models=health_of(view), traffic=traffic, model_traffic=by_model,
            p95_latency_ms=p95, latency_samples=samples, spend_day_usd=day,
            spend_month_usd=month, key_spend=keys, team_spend=teams, global_spend=gateway,
            vpn_enabled=bool(vpn.get("enabled")),
            vpn_endpoints={str(e["name"]): str(e["state"]) for e in vpn.get("endpoints", [])},
            database_up=view.database_up,
            spool_bytes=view.usage.spool_bytes if view.usage else 0, redis=view.redis,
            budget_thresholds=self._budgets.thresholds,
        )  # fmt: skip

    async def _key_spend(
        self, repo: UsageRepository, day_start: datetime, month_start: datetime
    ) -> dict[str, KeySpend]:
        budgets = dict(self._budgets.keys())
        watched = set(budgets) | set(self._settings.spend.per_key)
        if not watched:
            return {}
        today = {s.key: s.cost_usd for s in await repo.stats(since=day_start, group_by="key")}
        month = {s.key: s.cost_usd for s in await repo.stats(since=month_start, group_by="key")}
        total = {s.key: s.cost_usd for s in await repo.stats(group_by="key")}
        out = {}
        for key in sorted(watched):
            b = budgets.get(key, KeyBudget())
            out[key] = KeySpend(
                day_usd=today.get(key, 0.0), month_usd=month.get(key, 0.0),
                day_limit=b.day_usd, month_limit=b.month_usd,
                total_usd=total.get(key, 0.0), total_limit=b.total_usd, name=b.name,
            )  # fmt: skip
        return out

    async def _team_spend(
        self, repo: KeyRepository, day_start: datetime, month_start: datetime
    ) -> dict[str, BudgetSpend]:
        # The same spend enforcement seeds its team counters from (`KeyRepository.team_spend`).
        out = {}
        for team, budget in sorted(self._budgets.teams().items()):
            spend = await repo.team_spend(team, day_start, month_start)
            out[team] = _with_limits(spend, budget)
        return out

    async def _gateway_spend(
        self, repo: KeyRepository, day_start: datetime, month_start: datetime
    ) -> BudgetSpend | None:
        caps = self._budgets.gateway
        if (caps.day_usd, caps.month_usd, caps.total_usd) == (None, None, None):
            return None
        return _with_limits(await repo.total_spend(day_start, month_start), caps)


def _with_limits(spend: tuple[float, float, float], budget: KeyBudget) -> BudgetSpend:
    day, month, total = spend
    return BudgetSpend(day, month, total, budget.day_usd, budget.month_usd, budget.total_usd)


def _cost(stats: list[UsageStat]) -> float:
    return stats[0].cost_usd if stats else 0.0
