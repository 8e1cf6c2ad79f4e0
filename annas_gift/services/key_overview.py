"""The dashboard's "Keys and budgets" data: every virtual key, team and the global cap with
what each has spent against its budgets (no HTML here, no secrets: only display prefixes).

Spend is read from the usage records through `KeyRepository`, the same numbers that
`GET /api/v1/keys/{id}` and `annas-gift keys show` report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.services.budget_policy import GlobalCaps
from annas_gift.services.keys import KeyRecord, TeamBudgets, display_prefix, key_status
from annas_gift.state.budgets import period_start
from annas_gift.storage.repositories.keys import KeyRepository, Spend

PERIODS = ("day", "month", "total")


def budget_rows(spend: Spend, limits: Sequence[float | None]) -> list[dict[str, Any]]:
    """One row per period: spent, limit and the fraction used (None without a limit)."""
    rows = []
    for period, spent, limit in zip(PERIODS, spend, limits, strict=True):
        used = None if limit is None else (1.0 if limit <= 0 else spent / limit)
        rows.append({"period": period, "spent_usd": spent, "limit_usd": limit, "used": used})
    return rows


def _stamp(at: datetime | None) -> str | None:
    return None if at is None else at.strftime("%Y-%m-%d %H:%M UTC")


def key_row(record: KeyRecord, spend: Spend, now: datetime) -> dict[str, Any]:
    """A key as the dashboard shows it: metadata, limits, and spend against its budgets."""
    limits = (record.budget_daily_usd, record.budget_monthly_usd, record.budget_total_usd)
    return {
        "id": record.id,
        "name": record.name,
        "team": record.team,
        "prefix": display_prefix(record.prefix),
        "status": key_status(record, now),
        "created": _stamp(record.created_at),
        "expires": _stamp(record.expires_at),
        "revoked": _stamp(record.revoked_at),
        "allowed_models": list(record.allowed_models) if record.allowed_models else None,
        "rpm": record.rpm,
        "tpm": record.tpm,
        "budgets": budget_rows(spend, limits),
    }


async def keys_and_budgets(
    sessions: async_sessionmaker[AsyncSession], caps: GlobalCaps, now: datetime
) -> dict[str, Any]:
    """Every virtual key (revoked ones too), every team with a budget or a key, the global cap."""
    day, month = period_start("day", now), period_start("month", now)
    assert day is not None  # only "total" has no start
    assert month is not None
    async with sessions() as session:
        repo = KeyRepository(session)
        records = [KeyRecord.of(row) for row in await repo.list(include_revoked=True)]
        keys = [key_row(r, await repo.key_spend(r.id, day, month), now) for r in records]
        budgets = {b.team: TeamBudgets.of(b) for b in await repo.team_budgets()}
        names = sorted(set(budgets) | {r.team for r in records if r.team is not None})
        teams = []
        for name in names:
            t = budgets.get(name, TeamBudgets(name))
            spend = await repo.team_spend(name, day, month)
            members = sum(1 for r in records if r.team == name)
            rows = budget_rows(spend, (t.daily_usd, t.monthly_usd, t.total_usd))
            teams.append({"team": name, "keys": members, "budgets": rows})
        total = await repo.total_spend(day, month)
    caps_rows = budget_rows(total, (caps.daily_usd, caps.monthly_usd, caps.total_usd))
    return {"keys": keys, "teams": teams, "global": caps_rows}
