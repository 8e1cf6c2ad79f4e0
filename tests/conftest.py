"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), environment hygiene."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# Nothing may fetch at import: LiteLLM must use its bundled cost map.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytest_plugins = ["tests.db_fixtures"]

PG_ENV = "ANNAS_GIFT_TEST_DATABASE_URL"
REDIS_ENV = "ANNAS_GIFT_TEST_REDIS_URL"


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _require_pg() -> str:
    url = _pg_admin_url()
    if not url:
        pytest.skip(
            f"PostgreSQL tests skipped: set {PG_ENV}="
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        )
    return url


async def _create_pg_database(admin_url: str) -> tuple[str, str]:
    """Create a throwaway database next to the configured one; return (url, name)."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"annas_test_{uuid.uuid4().hex[:12]}"
    plain = re.sub(r"^postgresql\+asyncpg://", "postgresql://", admin_url)
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}", name


async def _drop_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    plain = re.sub(r"^postgresql\+asyncpg://", "postgresql://", admin_url)
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite database file (no schema)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database (no schema): SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        return
    admin = _require_pg()
    url, name = await _create_pg_database(admin)
    try:
        yield url
    finally:
        await _drop_pg_database(admin, name)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database, for checks that only apply to PostgreSQL."""
    admin = _require_pg()
    url, name = await _create_pg_database(admin)
    try:
        yield url
    finally:
        await _drop_pg_database(admin, name)


@pytest.fixture
def redis_url() -> str:
    """The Redis under test; skips with instructions when not configured."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis tests skipped: set {REDIS_ENV}=redis://127.0.0.1:6379/15")
    return url


@pytest.fixture(autouse=True)
def _no_ambient_gateway_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; ambient config must not leak in."""
    for key in list(os.environ):
        if key.startswith("ANNAS_GIFT_") and key not in (PG_ENV, REDIS_ENV):
            monkeypatch.delenv(key, raising=False)
    for key in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _isolated_prompt_filter() -> Iterator[None]:
    """A gateway started by one test silences the body loggers process-wide: undo it after."""
    from annas_gift import log_safety

    levels = {name: logging.getLogger(name).level for name in log_safety.BODY_LOGGERS}
    yield
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.removeFilter(log_safety.PROMPT_FILTER)
    for handler in logging.getLogger().handlers:
        handler.removeFilter(log_safety.PROMPT_FILTER)
    log_safety._raised.clear()
