"""Administering virtual keys and team budgets: what the API routes and the CLI both call.

Every change is committed, then announced through `notify(key_id)` (the key cache's `changed`
in the gateway, a Redis publish from the CLI) so every instance applies it within a second.
The secret exists only in the return value of `create` and `rotate`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.errors import Conflict, InvalidRequest, NotFound
from annas_gift.services.keys import (
    KeyRecord,
    KeyStatus,
    TeamBudgets,
    display_prefix,
    hash_secret,
    key_status,
    new_key_id,
    new_secret,
    secret_prefix,
    validate_patterns,
)
from annas_gift.state.budgets import period_start
from annas_gift.storage.models import VirtualKey
from annas_gift.storage.repositories.keys import KeyRepository

Notify = Callable[[str], Awaitable[None]]
_TEAM = "team:"


async def _nobody(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What a new key gets; budgets and limits None mean unlimited."""

    name: str
    team: str | None = None
    expires_at: datetime | None = None
    allowed_models: Sequence[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_daily_usd: float | None = None
    budget_monthly_usd: float | None = None
    budget_total_usd: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Spend:
    """USD spent (as recorded in usage) this UTC day, this UTC month and in total."""

    day_usd: float
    month_usd: float
    total_usd: float


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as admins see it: never the secret or its hash, only the display prefix."""

    record: KeyRecord
    status: KeyStatus
    spend: Spend | None = None

    @property
    def prefix(self) -> str:
        """The display prefix, e.g. `ag-3f9c…`."""
        return display_prefix(self.record.prefix)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key with its secret: returned once, at creation or rotation."""

    view: KeyView
    secret: str


class KeyAdmin:
    """Create, list, show, update, revoke and rotate virtual keys; set team budgets."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        notify: Notify = _nobody,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._notify = notify
        self._clock = clock

    def _view(self, record: KeyRecord, spend: Spend | None = None) -> KeyView:
        return KeyView(record, key_status(record, self._clock()), spend)

    def _check_expiry(self, expires_at: datetime | None) -> None:
        if expires_at is not None and expires_at <= self._clock():
            raise InvalidRequest("expires_at must be in the future", param="expires_at")

    async def create(self, spec: KeySpec) -> IssuedKey:
        """Store a new key and return it with its secret (shown this once)."""
        self._check_expiry(spec.expires_at)
        secret = new_secret()
        try:
            async with self._sessions() as session, session.begin():
                row = await KeyRepository(session).create(
                    key_id=new_key_id(),
                    name=spec.name,
                    secret_hash=hash_secret(secret),
                    prefix=secret_prefix(secret),
                    team=spec.team,
                    expires_at=spec.expires_at,
                    allowed_models=_patterns(spec.allowed_models),
                    rpm=spec.rpm,
                    tpm=spec.tpm,
                    budget_daily_usd=spec.budget_daily_usd,
                    budget_monthly_usd=spec.budget_monthly_usd,
                    budget_total_usd=spec.budget_total_usd,
                    meta=dict(spec.metadata) or None,
                )
                record = KeyRecord.of(row)
        except IntegrityError:
            raise Conflict(f"a key named '{spec.name}' already exists", param="name") from None
        await self._notify(record.id)
        return IssuedKey(self._view(record), secret)

    async def list(
        self, *, include_revoked: bool = False, team: str | None = None
    ) -> list[KeyView]:
        """Keys by name (revoked ones only when asked)."""
        async with self._sessions() as session:
            rows = await KeyRepository(session).list(include_revoked=include_revoked, team=team)
        return [self._view(KeyRecord.of(row)) for row in rows]

    async def show(self, id_or_name: str) -> KeyView:
        """One key (by id or name) with what it has spent."""
        now = self._clock()
        day, month = period_start("day", now) or now, period_start("month", now) or now
        async with self._sessions() as session:
            repo = KeyRepository(session)
            row = await _found(repo, id_or_name)
            spend = Spend(*await repo.key_spend(row.id, day, month))
        return self._view(KeyRecord.of(row), spend)

    async def update(self, id_or_name: str, changes: Mapping[str, Any]) -> KeyView:
        """Change some fields (`metadata` included); others stay as they are."""
        fields = dict(changes)
        if "metadata" in fields:
            fields["meta"] = fields.pop("metadata") or None
        if "allowed_models" in fields:
            fields["allowed_models"] = _patterns(fields["allowed_models"])
        if "expires_at" in fields:
            self._check_expiry(fields["expires_at"])
        try:
            async with self._sessions() as session, session.begin():
                repo = KeyRepository(session)
                row = await _found(repo, id_or_name)
                changed = await repo.update(row.id, **fields)
                record = KeyRecord.of(changed or row)
        except IntegrityError:
            raise Conflict(f"a key named '{changes.get('name')}' already exists") from None
        await self._notify(record.id)
        return self._view(record)

    async def revoke(self, id_or_name: str) -> KeyView:
        """Revoke a key for good (every instance refuses it within a second)."""
        async with self._sessions() as session, session.begin():
            repo = KeyRepository(session)
            row = await _found(repo, id_or_name)
            revoked = await repo.revoke(row.id, at=self._clock())
            record = KeyRecord.of(revoked or row)
        await self._notify(record.id)
        return self._view(record)

    async def rotate(self, id_or_name: str) -> IssuedKey:
        """Give a key a new secret (returned this once); the old secret stops working."""
        secret = new_secret()
        async with self._sessions() as session, session.begin():
            repo = KeyRepository(session)
            row = await _found(repo, id_or_name)
            rotated = await repo.rotate(row.id, hash_secret(secret), secret_prefix(secret))
            if rotated is None:
                raise InvalidRequest(f"key '{row.name}' is revoked; create a new one instead")
            record = KeyRecord.of(rotated)
        await self._notify(record.id)
        return IssuedKey(self._view(record), secret)

    async def set_team_budget(self, budgets: TeamBudgets) -> TeamBudgets:
        """Create or replace a team's budgets."""
        async with self._sessions() as session, session.begin():
            row = await KeyRepository(session).set_team_budget(
                budgets.team,
                daily_usd=budgets.daily_usd,
                monthly_usd=budgets.monthly_usd,
                total_usd=budgets.total_usd,
            )
            saved = TeamBudgets.of(row)
        await self._notify(_TEAM + saved.team)
        return saved


def _patterns(patterns: Sequence[str] | None) -> list[str] | None:
    if patterns is None:
        return None
    try:
        return validate_patterns(patterns)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="allowed_models") from None


async def _found(repo: KeyRepository, id_or_name: str) -> VirtualKey:
    row = await repo.find(id_or_name)
    if row is None:
        raise NotFound(f"no key with id or name '{id_or_name}'")
    return row
