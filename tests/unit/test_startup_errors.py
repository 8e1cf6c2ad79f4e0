"""Start-up failures as the user sees them: one line on stderr, exit 2 (config) or 3 (service)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from annas_gift.startup_errors import EXIT_CONFIG, EXIT_UNAVAILABLE, describe

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_PG = "postgresql+asyncpg://postgres@127.0.0.1:1/x"
SUPPORTED = "supported: sqlite+aiosqlite://, postgresql+asyncpg://, postgresql://"


def run_cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """`annas-gift ARGS` as a process from `cwd`, with only the given gateway variables."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ANNAS_GIFT_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    clean.update(PYTHONPATH=str(ROOT), LITELLM_LOCAL_MODEL_COST_MAP="True", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "annas_gift", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines a user reads as the failure (everything but uvicorn's INFO chatter)."""
    assert "Traceback" not in result.stderr, result.stderr
    return [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith("INFO:") and " INFO " not in line
        and " WARNING " not in line
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("command", [["db", "current"], ["db", "upgrade"]])
@pytest.mark.parametrize(
    ("url", "code", "expected"),
    [
        ("notaurl", EXIT_CONFIG, f"not a database URL; {SUPPORTED}"),
        ("mysql://root:hunter2@db/x", EXIT_CONFIG, f"unsupported scheme mysql://; {SUPPORTED}"),
        (
            UNREACHABLE_PG,
            EXIT_UNAVAILABLE,
            f"database unavailable at {UNREACHABLE_PG}: [Errno 111] Connect call failed",
        ),
    ],
)
def test_db_commands_fail_in_one_line(
    tmp_path: Path, command: list[str], url: str, code: int, expected: str
) -> None:
    result = run_cli(tmp_path, *command, env={"DATABASE_URL": url})
    assert result.returncode == code
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.slow
def test_serve_with_unreachable_database_is_one_line_exit_3(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": UNREACHABLE_PG,
        "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(ROOT / "litellm_config.yaml"),
        "ANNAS_GIFT_API_KEY": "sk-test",
    }
    result = run_cli(tmp_path, "serve", "--port", "0", env=env)
    assert result.returncode == EXIT_UNAVAILABLE
    assert error_lines(result) == [
        f"error: database unavailable at {UNREACHABLE_PG}: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    ]


@pytest.mark.slow
def test_debug_log_level_shows_the_details(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "--log-level", "debug", "db", "current", env={"DATABASE_URL": UNREACHABLE_PG}
    )
    assert result.returncode == EXIT_UNAVAILABLE
    assert "Traceback" in result.stderr and "ConnectionRefusedError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: database unavailable")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["serve", "--port", "83540"],
            {},
            "error: invalid option --port: Input should be less than or equal to 65535",
        ),
        (["--log-level", "loud", "db", "current"], {}, "error: invalid option --log-level: "),
        (
            ["db", "current"],
            {"ANNAS_GIFT_VPN__ROTATION": "bogus"},
            "error: invalid setting vpn.rotation: unknown rotation policy 'bogus'",
        ),
        (
            ["db", "current"],
            {"ANNAS_GIFT_SEVRER__PORT": "1"},
            "error: unknown environment variable ANNAS_GIFT_SEVRER__PORT "
            "(did you mean `ANNAS_GIFT_SERVER__PORT`?)",
        ),
    ],
)
def test_configuration_errors_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run_cli(tmp_path, *args, env=env)
    assert result.returncode == EXIT_CONFIG
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(expected), lines


@pytest.mark.slow
def test_serve_elsewhere_without_catalog_creates_nothing(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--port", "0")
    assert result.returncode == EXIT_CONFIG
    assert error_lines(result) == [
        f"error: no catalog: looked for {tmp_path / 'litellm_config.yaml'}; set "
        "litellm.config_path (ANNAS_GIFT_LITELLM__CONFIG_PATH) or litellm.allow_empty_catalog"
    ]
    assert list(tmp_path.iterdir()) == []  # no key file, no database in a random folder


@pytest.mark.slow
def test_serve_with_missing_explicit_catalog_fails(tmp_path: Path) -> None:
    env = {"ANNAS_GIFT_LITELLM__CONFIG_PATH": str(tmp_path / "nope.yaml")}
    result = run_cli(tmp_path, "serve", "--port", "0", env=env)
    assert result.returncode == EXIT_CONFIG
    assert error_lines(result)[0].startswith(f"error: catalog {tmp_path / 'nope.yaml'} not found")


def test_redis_connection_error_is_a_service_failure() -> None:
    import redis.exceptions

    failure = describe(
        redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
    )
    assert failure is not None
    assert failure.code == EXIT_UNAVAILABLE
    assert failure.message.startswith("Redis unavailable: Error 111 connecting")


def test_a_bug_is_not_disguised_as_a_config_error() -> None:
    assert describe(KeyError("oops")) is None
    assert describe(RuntimeError("bug")) is None
