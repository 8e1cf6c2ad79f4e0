"""Alembic migrations: up/down/up on both backends, and the migrated schema equals the models."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, pool
from sqlalchemy.engine import Connection, make_url

from annas_gift.storage import database, migrate
from annas_gift.storage.models import Base

TABLES = {
    "usage_records",
    "usage_metrics",
    "vpn_endpoints",
    "task_classifications",
    "model_selections",
    "virtual_keys",
    "team_budgets",
}
HEAD = "0005"
REPO_ROOT = Path(__file__).resolve().parents[2]


async def _inspect(url: str, fn: Any) -> Any:
    engine = database.create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert await asyncio.to_thread(migrate.current, database_url) is None

    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await asyncio.to_thread(migrate.current, database_url) == migrate.head() == HEAD
    assert await _inspect(database_url, _tables) >= TABLES

    await asyncio.to_thread(migrate.downgrade, database_url, "base")
    assert await asyncio.to_thread(migrate.current, database_url) is None
    assert not (await _inspect(database_url, _tables) & TABLES)

    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await asyncio.to_thread(migrate.current, database_url) == HEAD
    assert await _inspect(database_url, _tables) >= TABLES


async def test_migrated_schema_matches_the_models(migrated_url: str) -> None:
    assert await _inspect(migrated_url, _diff) == []


async def test_an_empty_database_differs_from_the_models(database_url: str) -> None:
    # Guards the test above: the comparison does see missing tables.
    diff = await _inspect(database_url, _diff)
    assert {d[1].name for d in diff if d[0] == "add_table"} == TABLES


async def test_upgrade_works_when_called_inside_a_running_loop(database_url: str) -> None:
    migrate.upgrade(database_url)  # sync call from async code: must not trip over the loop
    assert migrate.current(database_url) == HEAD


async def test_upgrade_is_idempotent(migrated_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, migrated_url)
    assert await asyncio.to_thread(migrate.current, migrated_url) == HEAD


async def test_migrating_never_logs_the_password(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    database_url = postgres_url  # SQLite URLs carry no password
    # The test server trusts local connections, so any password is accepted (and must be hidden).
    url = make_url(database_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    with caplog.at_level(logging.DEBUG):
        await asyncio.to_thread(migrate.upgrade, url)
        await asyncio.to_thread(migrate.downgrade, url, "base")
    assert "s3cret-pw" not in caplog.text
    assert "migrating" in caplog.text


def test_alembic_ini_works_by_hand(sqlite_url: str) -> None:
    """The top-level alembic.ini drives the packaged migrations from the command line."""

    def alembic(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "alembic", "-x", f"url={sqlite_url}", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout + result.stderr

    alembic("upgrade", "head")
    assert f"{HEAD} (head)" in alembic("current")
    assert "No new upgrade operations detected" in alembic("check")


def _columns(table: str) -> Any:
    return lambda conn: {c["name"] for c in inspect(conn).get_columns(table)}


def _indexes(table: str) -> Any:
    return lambda conn: {i["name"] for i in inspect(conn).get_indexes(table)}


async def _execute(url: str, *statements: str) -> None:
    """Run SQL statements in one transaction (rows written the way an older version would)."""
    from sqlalchemy import text

    engine = database.create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_virtual_keys_step_goes_down_and_up_alone(database_url: str) -> None:
    """0002 down to 0001 drops only the key tables (usage rows survive) and comes back."""
    from sqlalchemy import text

    await asyncio.to_thread(migrate.upgrade, database_url)
    columns = await _inspect(database_url, _columns("virtual_keys"))
    assert {"secret_hash", "prefix", "allowed_models", "budget_total_usd", "metadata"} <= columns
    assert "secret" not in columns  # only the hash is ever stored
    key_index = "ix_usage_records_key_id_created_at"
    assert key_index in await _inspect(database_url, _indexes("usage_records"))

    await _execute(
        database_url,
        "INSERT INTO usage_records (request_id, created_at, key_id, route, provider,"
        " model, prompt_tokens, completion_tokens, cost_usd, latency_ms, status,"
        " stream) VALUES ('r1', '2026-01-01 00:00:00', 'vk-1', 'openai', 'p', 'm',"
        " 1, 1, 0.5, 1.0, 200, false)",
    )

    await asyncio.to_thread(migrate.downgrade, database_url, "0001")
    assert await asyncio.to_thread(migrate.current, database_url) == "0001"
    tables = await _inspect(database_url, _tables)
    assert not tables & {"virtual_keys", "team_budgets"}
    assert "usage_records" in tables
    assert key_index not in await _inspect(database_url, _indexes("usage_records"))

    def _count(conn: Connection) -> int:
        return int(conn.execute(text("SELECT count(*) FROM usage_records")).scalar_one())

    assert await _inspect(database_url, _count) == 1

    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await asyncio.to_thread(migrate.current, database_url) == HEAD
    assert await _inspect(database_url, _tables) >= TABLES
    assert await _inspect(database_url, _diff) == []


async def test_ranking_and_prompt_excerpt_step_goes_down_and_up_alone(database_url: str) -> None:
    """0004 down to 0003 drops only the two new columns (rows and indexes survive) and back."""
    from sqlalchemy import text

    await asyncio.to_thread(migrate.upgrade, database_url)
    assert "ranking" in await _inspect(database_url, _columns("model_selections"))
    assert "prompt_excerpt" in await _inspect(database_url, _columns("usage_records"))
    unique = "ix_usage_records_request_id_model_created_at"

    await _execute(
        database_url,
        "INSERT INTO usage_records (request_id, created_at, route, provider, model,"
        " prompt_tokens, completion_tokens, cost_usd, latency_ms, status, stream,"
        " prompt_excerpt) VALUES ('r1', '2026-01-01 00:00:00', 'openai', 'p', 'm',"
        " 1, 1, 0.5, 1.0, 200, false, 'hello')",
        "INSERT INTO model_selections (request_id, created_at, tier, category,"
        " selected_provider, selected_model, reason, ranking) VALUES ('r1',"
        " '2026-01-01 00:00:00', 'fast', 'chat', 'p', 'm', 'best',"
        ' \'{"candidates": [{"name": "m"}]}\')',
    )

    await asyncio.to_thread(migrate.downgrade, database_url, "0003")
    assert await asyncio.to_thread(migrate.current, database_url) == "0003"
    assert "ranking" not in await _inspect(database_url, _columns("model_selections"))
    assert "prompt_excerpt" not in await _inspect(database_url, _columns("usage_records"))
    assert unique in await _inspect(database_url, _indexes("usage_records"))

    def _counts(conn: Connection) -> tuple[int, int]:
        usage = conn.execute(text("SELECT count(*) FROM usage_records")).scalar_one()
        chosen = conn.execute(text("SELECT count(*) FROM model_selections")).scalar_one()
        return int(usage), int(chosen)

    assert await _inspect(database_url, _counts) == (1, 1)

    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await asyncio.to_thread(migrate.current, database_url) == HEAD
    assert await _inspect(database_url, _diff) == []

    def _new_columns(conn: Connection) -> tuple[Any, Any]:
        ranking = conn.execute(text("SELECT ranking FROM model_selections")).scalar_one()
        excerpt = conn.execute(text("SELECT prompt_excerpt FROM usage_records")).scalar_one()
        return ranking, excerpt

    assert await _inspect(database_url, _new_columns) == (None, None)  # dropped, not kept


def _request_id_plan(conn: Connection) -> str:
    """How the database would find a request's usage rows (EXPLAIN, as one string)."""
    from sqlalchemy import text

    sql = "SELECT id FROM usage_records WHERE request_id = 'r1'"
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
        return " ".join(str(r[-1]) for r in rows)
    conn.execute(text("SET LOCAL enable_seqscan = off"))  # a 1-row table would scan
    return " ".join(str(r[0]) for r in conn.execute(text(f"EXPLAIN {sql}")).all())


async def test_request_id_index_step_goes_down_and_up_alone(database_url: str) -> None:
    """0005 drops the index on request_id alone; look-ups by request id still use an index
    (the unique one, whose first column it is), rows survive, and 0004 brings it back."""
    from sqlalchemy import text

    single = "ix_usage_records_request_id"
    unique = "ix_usage_records_request_id_model_created_at"
    await asyncio.to_thread(migrate.upgrade, database_url)
    indexes = await _inspect(database_url, _indexes("usage_records"))
    assert single not in indexes and unique in indexes
    await _execute(
        database_url,
        "INSERT INTO usage_records (request_id, created_at, route, provider, model,"
        " prompt_tokens, completion_tokens, cost_usd, latency_ms, status, stream)"
        " VALUES ('r1', '2026-01-01 00:00:00', 'openai', 'p', 'm', 1, 1, 0.5, 1.0, 200, false)",
    )
    assert unique in await _inspect(database_url, _request_id_plan)

    await asyncio.to_thread(migrate.downgrade, database_url, "0004")
    assert await asyncio.to_thread(migrate.current, database_url) == "0004"
    assert {single, unique} <= await _inspect(database_url, _indexes("usage_records"))

    def _count(conn: Connection) -> int:
        return int(conn.execute(text("SELECT count(*) FROM usage_records")).scalar_one())

    assert await _inspect(database_url, _count) == 1

    await asyncio.to_thread(migrate.upgrade, database_url)
    assert await asyncio.to_thread(migrate.current, database_url) == HEAD
    assert single not in await _inspect(database_url, _indexes("usage_records"))
    assert await _inspect(database_url, _diff) == []
