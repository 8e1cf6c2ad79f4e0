"""`annas-gift serve` migrates in a child process: the server never holds Alembic (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from annas_gift.startup_errors import EXIT_UNAVAILABLE, describe
from annas_gift.storage import migrate
from annas_gift.storage.migrate_process import (
    DatabaseUnavailable,
    MigrationFailed,
    upgrade_in_child,
)

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_PG = "postgresql+asyncpg://postgres:hunter2@127.0.0.1:1/x"

# What `serve` does before uvicorn starts, then the app's whole start-up and shutdown; prints
# which of the heavy packages the serving process ended up importing.
SERVE_STEPS = """
import asyncio, json, sys
from annas_gift.api.app import create_app
from annas_gift.server.workers import migrate_once, without_start_migrations
from annas_gift.settings import load_settings

settings = load_settings()
migrate_once(settings)
app = create_app(without_start_migrations(settings), freeze_gc=True)

async def start_and_stop():
    async with app.router.lifespan_context(app):
        pass

asyncio.run(start_and_stop())
heavy = {"alembic", "mako", "httpx", "rich", "pygments", "redis"}
print(json.dumps(sorted(heavy & set(sys.modules))))
"""


def test_the_child_migrates_a_fresh_database_to_head(sqlite_url: str) -> None:
    upgrade_in_child(sqlite_url)
    assert migrate.current(sqlite_url) == migrate.head()
    upgrade_in_child(sqlite_url)  # already at head: nothing to do, no error
    assert migrate.current(sqlite_url) == migrate.head()


def test_an_unreachable_database_is_the_one_line_service_failure() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        upgrade_in_child(UNREACHABLE_PG)
    failure = describe(caught.value, where={"database": "postgresql+asyncpg://postgres:***@x"})
    assert failure is not None and failure.code == EXIT_UNAVAILABLE
    assert failure.message == (
        "database unavailable at postgresql+asyncpg://postgres:***@x: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    )
    assert "ConnectionRefusedError" in str(caught.value)  # the details, for --log-level debug
    assert "hunter2" not in str(caught.value)


def test_an_unknown_revision_is_a_bug_with_the_childs_traceback(sqlite_url: str) -> None:
    with pytest.raises(MigrationFailed, match="exit 1") as caught:
        upgrade_in_child(sqlite_url, "9999")
    assert describe(caught.value) is None  # not a service outage: the traceback is printed
    assert "Traceback" in str(caught.value) and "9999" in str(caught.value)


@pytest.mark.slow
def test_the_serving_process_never_imports_alembic_httpx_rich_or_an_unused_redis(
    tmp_path: Path,
) -> None:
    # Without REDIS_URL the Redis client (~6 MB with the OpenTelemetry metrics it pulls in) is
    # dead weight: the state modules import it only when they build a client.
    database = tmp_path / "data" / "gateway.db"
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ANNAS_GIFT_") and k != "REDIS_URL"
        },
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(ROOT / "bench" / "catalog.yaml"),
        "ANNAS_GIFT_API_KEY": "sk-test",
    }
    result = subprocess.run(
        [sys.executable, "-c", SERVE_STEPS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert migrate.current(f"sqlite+aiosqlite:///{database}") == migrate.head()
