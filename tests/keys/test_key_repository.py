"""KeyRepository on SQLite and PostgreSQL: lifecycle, lookups and spend from usage records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.events import UsageEvent
from annas_gift.services.keys import hash_secret, new_secret, secret_prefix
from annas_gift.storage.repositories.keys import KeyRepository
from annas_gift.storage.repositories.usage import UsageRepository

Sessions = async_sessionmaker[AsyncSession]
DAY = datetime(2026, 12, 2, tzinfo=UTC)
MONTH = datetime(2026, 12, 1, tzinfo=UTC)


async def _add(sessions: Sessions, name: str, secret: str, **fields: object) -> str:
    async with sessions() as session, session.begin():
        key = await KeyRepository(session).create(
            key_id=f"vk-{name}",
            name=name,
            secret_hash=hash_secret(secret),
            prefix=secret_prefix(secret),
            **fields,  # type: ignore[arg-type]
        )
        return key.id


async def test_create_find_and_lookup_by_hash(sessions: Sessions) -> None:
    secret = new_secret()
    expires = datetime(2027, 6, 30, tzinfo=UTC)
    await _add(
        sessions,
        "alice",
        secret,
        team="cs101",
        expires_at=expires,
        allowed_models=["groq/*", "auto*"],
        rpm=10,
        budget_daily_usd=0.5,
        meta={"course": "CS 101"},
    )
    async with sessions() as session:
        repo = KeyRepository(session)
        by_hash = await repo.lookup_by_hash(hash_secret(secret))
        by_name = await repo.find("alice")
        by_id = await repo.find("vk-alice")
        missing = await repo.lookup_by_hash(hash_secret(new_secret()))
    assert by_hash is not None and by_name is not None and by_id is not None
    assert by_hash.id == by_name.id == by_id.id == "vk-alice"
    assert missing is None
    assert (by_hash.team, by_hash.allowed_models, by_hash.rpm) == ("cs101", ["groq/*", "auto*"], 10)
    assert by_hash.expires_at == expires and by_hash.created_at.tzinfo is UTC
    assert by_hash.budget_daily_usd == 0.5 and by_hash.budget_total_usd is None
    assert by_hash.meta == {"course": "CS 101"}
    assert by_hash.prefix == secret[:7]


async def test_the_database_never_holds_the_secret(sessions: Sessions, migrated_url: str) -> None:
    secret = new_secret()
    await _add(sessions, "bob", secret)
    async with sessions() as session:
        rows = (await session.execute(text("SELECT * FROM virtual_keys"))).all()
    dumped = repr([tuple(r) for r in rows])
    assert secret not in dumped and secret[7:20] not in dumped
    assert hash_secret(secret) in dumped


async def test_names_and_hashes_are_unique(sessions: Sessions) -> None:
    secret = new_secret()
    await _add(sessions, "carol", secret)
    with pytest.raises(IntegrityError):
        await _add(sessions, "carol", new_secret())
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            await KeyRepository(session).create(
                key_id="vk-other", name="other", secret_hash=hash_secret(secret), prefix="ag-x"
            )


async def test_update_revoke_rotate_and_list(sessions: Sessions) -> None:
    old = new_secret()
    await _add(sessions, "dave", old, team="lab")
    await _add(sessions, "erin", new_secret(), team="lab")
    await _add(sessions, "frank", new_secret())
    async with sessions() as session, session.begin():
        repo = KeyRepository(session)
        changed = await repo.update("vk-dave", allowed_models=("auto*",), budget_total_usd=2.0)
        assert changed is not None and changed.allowed_models == ["auto*"]
        assert await repo.update("vk-nobody", rpm=1) is None
        with pytest.raises(ValueError, match="secret_hash"):
            await repo.update("vk-dave", secret_hash="x")
        new = new_secret()
        rotated = await repo.rotate("vk-dave", hash_secret(new), secret_prefix(new))
        assert rotated is not None and rotated.prefix == new[:7]
        assert await repo.lookup_by_hash(hash_secret(old)) is None
        first = await repo.revoke("vk-erin", at=DAY)
        again = await repo.revoke("vk-erin", at=DAY + timedelta(days=1))
        assert first is not None and again is not None
        assert again.revoked_at == DAY  # the first revocation time stays
        assert await repo.revoke("vk-nobody") is None
        assert await repo.rotate("vk-erin", hash_secret(new_secret()), "ag-zzzz") is None
    async with sessions() as session:
        repo = KeyRepository(session)
        live = [k.name for k in await repo.list()]
        every = [k.name for k in await repo.list(include_revoked=True)]
        lab = [k.name for k in await repo.list(team="lab", include_revoked=True)]
        dave = await repo.get("vk-dave")
    assert live == ["dave", "frank"]
    assert every == ["dave", "erin", "frank"]
    assert lab == ["dave", "erin"]
    assert dave is not None and dave.budget_total_usd == 2.0 and dave.updated_at >= dave.created_at


async def test_team_budgets_upsert(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        repo = KeyRepository(session)
        await repo.set_team_budget("cs101", daily_usd=1.0, monthly_usd=None, total_usd=None)
        await repo.set_team_budget("cs101", daily_usd=2.0, monthly_usd=20.0, total_usd=None)
        await repo.set_team_budget("bio", daily_usd=None, monthly_usd=None, total_usd=50.0)
    async with sessions() as session:
        repo = KeyRepository(session)
        cs = await repo.team_budget("cs101")
        teams = [t.team for t in await repo.team_budgets()]
        assert await repo.team_budget("none") is None
    assert cs is not None and (cs.budget_daily_usd, cs.budget_monthly_usd) == (2.0, 20.0)
    assert teams == ["bio", "cs101"]


async def test_spend_per_key_team_and_overall_by_utc_window(
    sessions: Sessions, usage_event: Callable[..., UsageEvent]
) -> None:
    await _add(sessions, "gina", new_secret(), team="cs101")
    await _add(sessions, "hugo", new_secret(), team="cs101")
    events = [
        usage_event(key_id="vk-gina", cost_usd=0.25, created_at=DAY + timedelta(hours=3)),
        usage_event(key_id="vk-gina", cost_usd=0.5, created_at=DAY - timedelta(seconds=1)),
        usage_event(key_id="vk-gina", cost_usd=1.0, created_at=MONTH - timedelta(days=3)),
        usage_event(key_id="vk-hugo", cost_usd=0.125, created_at=DAY),  # midnight counts today
        usage_event(key_id="alice", cost_usd=2.0, created_at=DAY + timedelta(hours=1)),
    ]
    async with sessions() as session, session.begin():
        await UsageRepository(session).add_records(events)
    async with sessions() as session:
        repo = KeyRepository(session)
        gina = await repo.key_spend("vk-gina", DAY, MONTH)
        team = await repo.team_spend("cs101", DAY, MONTH)
        settings_key = await repo.key_spend("alice", DAY, MONTH)
        overall = await repo.total_spend(DAY, MONTH)
        nobody = await repo.key_spend("vk-none", DAY, MONTH)
    assert gina == pytest.approx((0.25, 0.75, 1.75))
    assert team == pytest.approx((0.375, 0.875, 1.875))
    assert settings_key == pytest.approx((2.0, 2.0, 2.0))
    assert overall == pytest.approx((2.375, 2.875, 3.875))
    assert nobody == (0.0, 0.0, 0.0)
