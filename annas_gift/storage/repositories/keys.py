"""Virtual keys, team budgets and the spend read back from usage records (all their SQL)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from annas_gift.storage.models import TeamBudget, UsageRecord, VirtualKey, utcnow

UPDATABLE_FIELDS = frozenset(
    {
        "name",
        "team",
        "expires_at",
        "allowed_models",
        "rpm",
        "tpm",
        "budget_daily_usd",
        "budget_monthly_usd",
        "budget_total_usd",
        "meta",
    }
)
Spend = tuple[float, float, float]  # (this UTC day, this UTC month, all time)


class KeyRepository:
    """CRUD for virtual_keys and team_budgets, and spend per key, team or overall."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(  # noqa: PLR0913 - keyword-only, one per column
        self,
        *,
        key_id: str,
        name: str,
        secret_hash: str,
        prefix: str,
        team: str | None = None,
        expires_at: datetime | None = None,
        allowed_models: Sequence[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_daily_usd: float | None = None,
        budget_monthly_usd: float | None = None,
        budget_total_usd: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> VirtualKey:
        """Store a new key (names and hashes are unique) and return it."""
        now = utcnow()
        key = VirtualKey(
            id=key_id,
            name=name,
            team=team,
            secret_hash=secret_hash,
            prefix=prefix,
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            allowed_models=None if allowed_models is None else list(allowed_models),
            rpm=rpm,
            tpm=tpm,
            budget_daily_usd=budget_daily_usd,
            budget_monthly_usd=budget_monthly_usd,
            budget_total_usd=budget_total_usd,
            meta=meta,
        )
        self._session.add(key)
        await self._session.flush()
        return key

    async def get(self, key_id: str) -> VirtualKey | None:
        """The key with this id, if any."""
        return await self._session.get(VirtualKey, key_id)

    async def get_by_name(self, name: str) -> VirtualKey | None:
        """The key called `name`, if any."""
        return await self._session.scalar(select(VirtualKey).where(VirtualKey.name == name))

    async def find(self, id_or_name: str) -> VirtualKey | None:
        """The key with this id, else the one with this name."""
        return await self.get(id_or_name) or await self.get_by_name(id_or_name)

    async def lookup_by_hash(self, secret_hash: str) -> VirtualKey | None:
        """The key whose secret has this SHA-256 (revoked or not)."""
        query = select(VirtualKey).where(VirtualKey.secret_hash == secret_hash)
        return await self._session.scalar(query)

    async def list(
        self, *, include_revoked: bool = False, team: str | None = None
    ) -> builtins.list[VirtualKey]:
        """Keys by name; revoked ones only when asked."""
        query = select(VirtualKey).order_by(VirtualKey.name)
        if not include_revoked:
            query = query.where(VirtualKey.revoked_at.is_(None))
        if team is not None:
            query = query.where(VirtualKey.team == team)
        return builtins.list((await self._session.scalars(query)).all())

    async def update(self, key_id: str, **fields: Any) -> VirtualKey | None:
        """Change the given fields of a key; None when it does not exist."""
        unknown = set(fields) - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot update key fields: {sorted(unknown)}")
        key = await self.get(key_id)
        if key is None:
            return None
        if fields.get("allowed_models") is not None:
            fields["allowed_models"] = builtins.list(fields["allowed_models"])
        for name, value in fields.items():
            setattr(key, name, value)
        key.updated_at = utcnow()
        await self._session.flush()
        return key

    async def revoke(self, key_id: str, at: datetime | None = None) -> VirtualKey | None:
        """Mark a key revoked (the first revocation time stays); None when it does not exist."""
        await self._session.execute(
            update(VirtualKey)
            .where(VirtualKey.id == key_id, VirtualKey.revoked_at.is_(None))
            .values(revoked_at=at or utcnow(), updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        key = await self.get(key_id)
        if key is not None:
            await self._session.refresh(key)
        return key

    async def rotate(self, key_id: str, secret_hash: str, prefix: str) -> VirtualKey | None:
        """Give a live key a new secret (the old one stops working); None if absent or revoked."""
        key = await self.get(key_id)
        if key is None or key.revoked_at is not None:
            return None
        key.secret_hash = secret_hash
        key.prefix = prefix
        key.updated_at = utcnow()
        await self._session.flush()
        return key

    async def set_team_budget(
        self,
        team: str,
        *,
        daily_usd: float | None,
        monthly_usd: float | None,
        total_usd: float | None,
    ) -> TeamBudget:
        """Create or replace a team's budgets."""
        row = await self._session.get(TeamBudget, team)
        if row is None:
            row = TeamBudget(team=team)
            self._session.add(row)
        row.budget_daily_usd = daily_usd
        row.budget_monthly_usd = monthly_usd
        row.budget_total_usd = total_usd
        row.updated_at = utcnow()
        await self._session.flush()
        return row

    async def team_budget(self, team: str) -> TeamBudget | None:
        """A team's budgets, if set."""
        return await self._session.get(TeamBudget, team)

    async def team_budgets(self) -> builtins.list[TeamBudget]:
        """Every team's budgets, by team."""
        query = select(TeamBudget).order_by(TeamBudget.team)
        return builtins.list((await self._session.scalars(query)).all())

    async def key_spend(self, key_id: str, day_start: datetime, month_start: datetime) -> Spend:
        """USD spent by one key id (virtual or settings key) today, this month, in total."""
        return await self._spend(UsageRecord.key_id == key_id, day_start, month_start)

    async def team_spend(self, team: str, day_start: datetime, month_start: datetime) -> Spend:
        """USD spent by every key with this team label today, this month, in total."""
        members = select(VirtualKey.id).where(VirtualKey.team == team).scalar_subquery()
        return await self._spend(UsageRecord.key_id.in_(members), day_start, month_start)

    async def total_spend(self, day_start: datetime, month_start: datetime) -> Spend:
        """USD spent through the gateway today, this month, in total."""
        return await self._spend(None, day_start, month_start)

    async def _spend(
        self, where: ColumnElement[bool] | None, day_start: datetime, month_start: datetime
    ) -> Spend:
        cost = UsageRecord.cost_usd
        query = select(
            func.coalesce(func.sum(case((UsageRecord.created_at >= day_start, cost), else_=0)), 0),
            func.coalesce(
                func.sum(case((UsageRecord.created_at >= month_start, cost), else_=0)), 0
            ),
            func.coalesce(func.sum(cost), 0),
        )
        if where is not None:
            query = query.where(where)
        day, month, total = (await self._session.execute(query)).one()
        return float(day), float(month), float(total)
