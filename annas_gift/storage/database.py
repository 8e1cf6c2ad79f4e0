"""Async engine and session set-up for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from annas_gift.core.events import JSONText

log = logging.getLogger(__name__)

# Writers (the usage flusher) and readers share one file; wait for a lock instead of failing.
SQLITE_BUSY_TIMEOUT_MS = 5_000
# An unreachable server can take a minute to refuse; a health check can't wait that long.
PING_TIMEOUT_S = 5.0

_SYNC_TO_ASYNC = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
}


def normalize_url(url: str) -> str:
    """Rewrite sync database URLs to their async driver; async URLs pass through."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("database URL must look like scheme://...")
    return f"{_SYNC_TO_ASYNC.get(scheme.lower(), scheme)}://{rest}"


def redact_url(url: str) -> str:
    """The URL with its password hidden, safe for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def is_sqlite(url: str) -> bool:
    """True for any SQLite URL."""
    return url.lower().startswith("sqlite")


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run while the flusher writes; NORMAL is durable enough under WAL.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _json_text(value: Any) -> str:
    # The JSON columns (factors, breakdown, ranking, fallbacks) are written for every decision;
    # orjson instead of SQLAlchemy's default stdlib encoder took an `auto` request from 1,965k
    # to 1,888k instructions (bench/callgrind.sh, 2026-12-02). JSONText is encoded already.
    if isinstance(value, JSONText):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine tuned for the backend; extra kwargs go to SQLAlchemy."""
    url = normalize_url(url)
    kwargs.setdefault("json_serializer", _json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if is_sqlite(url):
        path = _sqlite_file(url)
        if path is not None:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = _create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        # Recycle before typical server/proxy idle cut-offs; pre-ping catches the rest.
        kwargs.setdefault("pool_recycle", 1_800)
        kwargs.setdefault("pool_timeout", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return _create_async_engine(url, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers SELECT 1 within PING_TIMEOUT_S; never raises."""
    try:
        async with asyncio.timeout(PING_TIMEOUT_S), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.debug("database ping failed: %s", type(exc).__name__)
        return False
    return True
