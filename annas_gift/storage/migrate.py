"""Run the packaged Alembic migrations programmatically, from sync code (CLI or a worker thread)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from annas_gift.storage.database import create_engine, normalize_url, redact_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

T = TypeVar("T")


def alembic_config() -> Config:
    """An Alembic config for the packaged migrations; it holds no URL (so none can leak)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even if this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    # Called from inside a loop: asyncio.run would refuse, so use a private thread and loop.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="annas-gift-migrate") as executor:
        return executor.submit(asyncio.run, factory()).result()


async def _with_connection(url: str, fn: Callable[[Connection], T]) -> T:
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _command(name: str, revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = alembic_config()
        # env.py reuses this connection instead of opening its own.
        config.attributes["connection"] = connection
        getattr(command, name)(config, revision)

    return run


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    log.info("migrating %s up to %s", redact_url(url), revision)
    _run(lambda: _with_connection(url, _command("upgrade", revision)))


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" drops everything)."""
    log.info("migrating %s down to %s", redact_url(url), revision)
    _run(lambda: _with_connection(url, _command("downgrade", revision)))


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current(url: str) -> str | None:
    """The revision the database at `url` is at, or None when it was never migrated."""
    return _run(lambda: _with_connection(url, _current_revision))


def head() -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
