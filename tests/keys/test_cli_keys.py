"""`annas-gift keys ...` against a SQLite database: readable tables, the secret printed once."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import typer
from typer.testing import CliRunner

from annas_gift import cli
from annas_gift.core.events import UsageEvent
from annas_gift.services.keys import hash_secret
from annas_gift.storage.repositories.usage import UsageRepository


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["keys", *args])
    return result.exit_code, result.output


def secret_of(output: str) -> str:
    found = re.search(r"^secret: (ag-\S+)$", output, re.MULTILINE)
    assert found, output
    return found.group(1)


def test_create_list_show_rotate_revoke(db: Path) -> None:
    outputs: list[str] = []
    code, out = run(
        "create",
        "student-01",
        "--team",
        "cs101",
        "--model",
        "auto*",
        "--model",
        "groq/*",
        "--daily",
        "0.5",
        "--total",
        "5",
        "--expires",
        "2030-06-30",
        "--meta",
        "seat=3",
    )
    assert code == 0, out
    secret = secret_of(out)
    assert "cs101" in out and "auto*, groq/*" in out and "$0.50" in out and "2030-06-30" in out
    assert "not shown again" in out

    code, out = run("create", "student-02", "--team", "cs101", "--rpm", "10")
    assert code == 0
    other = secret_of(out)

    code, out = run("list")
    assert code == 0, out
    outputs.append(out)
    assert "student-01" in out and "student-02" in out
    assert secret[:7] + "…" in out and other[:7] + "…" in out
    assert "NAME" in out and "PREFIX" in out and "DAILY" in out

    with sqlite3.connect(db) as conn:
        key_id = conn.execute("SELECT id FROM virtual_keys WHERE name='student-01'").fetchone()[0]
        stored = repr(conn.execute("SELECT * FROM virtual_keys").fetchall())
    assert secret not in stored and hash_secret(secret) in stored

    async def spend() -> None:
        from datetime import UTC, datetime

        from annas_gift.storage import database

        engine = database.create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            async with database.session_factory(engine)() as session, session.begin():
                await UsageRepository(session).add_records(
                    [
                        UsageEvent(
                            "r1",
                            datetime.now(UTC),
                            key_id,
                            "openai",
                            "groq",
                            "groq/x",
                            None,
                            10,
                            10,
                            0.125,
                            1.0,
                            200,
                            None,
                            False,
                        )
                    ]
                )
        finally:
            await engine.dispose()

    asyncio.run(spend())
    code, out = run("show", "student-01")
    assert code == 0, out
    outputs.append(out)
    assert key_id in out and "$0.1250 / $0.1250 / $0.1250" in out and '"seat": "3"' in out
    code, by_id = run("show", key_id)
    assert by_id == out

    code, out = run("rotate", "student-01")
    assert code == 0, out
    rotated = secret_of(out)
    assert rotated != secret

    code, out = run("revoke", key_id)
    assert code == 0 and "revoked student-01" in out
    outputs.append(out)
    code, out = run("list")
    assert "student-01" not in out
    code, out = run("list", "--all")
    outputs.append(out)
    assert "revoked" in out and "student-01" in out
    code, out = run("rotate", "student-01")
    assert code == 2 and "revoked" in out

    for out in outputs:  # the secret appears only in the output of create and rotate
        assert secret not in out and rotated not in out


def test_team_budget_and_errors(db: Path) -> None:
    code, out = run("team-budget", "cs101", "--monthly", "20")
    assert code == 0 and "team cs101: daily —, monthly $20.00, total —" in out
    code, out = run("show", "nobody")
    assert code == 2 and "no key with id or name 'nobody'" in out
    assert run("create", "dup")[0] == 0
    code, out = run("create", "dup")
    assert code == 2 and "already exists" in out
    code, out = run("create", "x", "--expires", "someday")
    assert code == 2 and "not a date" in out
    code, out = run("create", "y", "--daily", "-1")
    assert code == 2
    for bad in (["--monthly", "inf"], ["--total", "nan"], ["--rpm", str(2**64)]):
        code, out = run("create", "z", *bad)
        assert code == 2, (bad, out)
    code, out = run("show", "z")
    assert code == 2 and "no key with id or name 'z'" in out  # nothing was created
    code, out = run("list", "--team", "nope")
    assert "no keys" in out


@pytest.mark.redis
def test_revoking_from_the_cli_notifies_running_gateways(
    db: Path, redis_url: str, redis_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ANNAS_GIFT_CACHE__NAMESPACE", redis_namespace)
    assert run("create", "to-revoke")[0] == 0
    with sqlite3.connect(db) as conn:
        key_id = conn.execute("SELECT id FROM virtual_keys").fetchone()[0]

    async def listen_while_revoking() -> str:
        client = aioredis.Redis.from_url(redis_url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(f"{redis_namespace}:keys")
            code, out = await asyncio.to_thread(run, "revoke", "to-revoke")
            assert code == 0, out
            # The first reads may return the subscription's confirmation (as None).
            for _ in range(10):
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    return bytes(message["data"]).decode()
            raise AssertionError("no key change was published")
        finally:
            await pubsub.aclose()
            await client.aclose()

    assert asyncio.run(listen_while_revoking()) == key_id


def test_the_keys_group_is_registered() -> None:
    assert isinstance(cli.app, typer.Typer)
    code, out = run("--help")
    assert code == 0
    for command in ("create", "list", "show", "revoke", "rotate", "team-budget"):
        assert command in out
