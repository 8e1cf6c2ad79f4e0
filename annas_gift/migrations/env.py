"""Alembic environment: async engines, SQLite batch mode, and connection sharing for the API."""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection

from annas_gift.storage.database import create_engine, normalize_url
from annas_gift.storage.models import Base

config = context.config
target_metadata = Base.metadata

# Hand-run `alembic` gets the ini's logging; the app's own logging is never overridden.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _url() -> str:
    """The URL for hand-run `alembic`: `-x url=...`, then $DATABASE_URL, then alembic.ini."""
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit("No database URL: pass `-x url=...` or set DATABASE_URL.")
    return normalize_url(url)


def run_migrations_offline() -> None:
    """Emit SQL to stdout without a database (`alembic upgrade head --sql`)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


# Several gateway instances may start at once and all migrate: on PostgreSQL they queue on
# this advisory lock (held until the transaction ends) instead of racing to CREATE TABLE.
_MIGRATION_LOCK_ID = 0x616E6E6173  # "annas"


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})"))
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Run against a live database."""
    # annas_gift.storage.migrate hands us an open connection; reuse it (and its transaction).
    shared = config.attributes.get("connection")
    if shared is not None:
        _run_sync(shared)
        return
    asyncio.run(_run_async(_url()))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
