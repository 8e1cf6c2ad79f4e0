"""`annas-gift usage`, `status` and `alerts test` as a user runs them: on SQLite, a live gateway."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from annas_gift import cli_client, cli_ops
from annas_gift.api.app import create_app
from annas_gift.cli import app
from annas_gift.core.events import ClassificationEvent, UsageEvent
from annas_gift.sandbox import start_in_thread
from annas_gift.settings import Settings, load_settings
from annas_gift.settings_ops import AlertsSettings
from annas_gift.storage import database, migrate
from annas_gift.storage.repositories import ClassificationRepository, UsageRepository
from tests.api.conftest import KEY, LiveGateway, make_catalog

CLIENT_KEY = "sk-cli-student"

runner = CliRunner()
NOW = datetime.now(UTC)


def _usage(request_id: str, **kw: Any) -> UsageEvent:
    fields: dict[str, Any] = {
        "request_id": request_id, "created_at": NOW - timedelta(hours=1), "key_id": "alice",
        "route": "openai", "provider": "sandbox", "model": "sandbox/fast-small",
        "upstream_model": None, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.01,
        "latency_ms": 100.0, "status": 200, "error_type": None, "stream": False,
    }  # fmt: skip
    fields.update(kw)
    return UsageEvent(**fields)


def _verdict(request_id: str, tier: str, category: str) -> ClassificationEvent:
    return ClassificationEvent(request_id, NOW, tier, category, 0.9, 0.5, {})


@pytest.fixture
def usage_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'usage.db'}"
    migrate.upgrade(url)

    async def fill() -> None:
        engine = database.create_engine(url)
        async with database.session_factory(engine)() as session:
            await UsageRepository(session).add_records([
                _usage("r1"),  # auto -> fast/code
                _usage("r2", key_id="bob", status=503, error_type="upstream", cost_usd=0.0),
                _usage("r3", model="sandbox/powerful-large", cost_usd=0.5, prompt_tokens=100),
                _usage("r4", cached=True, cost_usd=0.0, saved_cost_usd=0.01),  # explicit
                _usage("old", created_at=NOW - timedelta(days=30), cost_usd=9.0),
            ])  # fmt: skip
            await ClassificationRepository(session).add_many([
                _verdict("r1", "fast", "code"), _verdict("r2", "fast", "chat"),
                _verdict("r3", "powerful", "math"),
            ])  # fmt: skip
            await session.commit()
        await engine.dispose()

    asyncio.run(fill())
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def _json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["usage", *args, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_usage_totals_skip_what_is_older_than_since(usage_db: str) -> None:
    report = _json("--since", "7d")
    totals = report["totals"]
    assert (totals["requests"], totals["errors"]) == (4, 1)
    assert totals["prompt_tokens"] == 130 and totals["total_tokens"] == 150
    assert totals["cost_usd"] == pytest.approx(0.51)
    assert totals["saved_cost_usd"] == pytest.approx(0.01)
    assert _json("--since", "60d")["totals"]["requests"] == 5


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("tier", {"(explicit)": 1, "fast": 2, "powerful": 1}),
        ("category", {"(explicit)": 1, "chat": 1, "code": 1, "math": 1}),
        ("key", {"alice": 3, "bob": 1}),
        ("model", {"sandbox/fast-small": 3, "sandbox/powerful-large": 1}),
        ("provider", {"sandbox": 4}),
    ],
)
def test_usage_group_by(usage_db: str, group: str, expected: dict[str, int]) -> None:
    report = _json("--group-by", group)
    assert report["group_by"] == group
    assert {g["key"]: g["requests"] for g in report["groups"]} == expected
    assert sum(g["cost_usd"] for g in report["groups"]) == pytest.approx(0.51)


def test_usage_table_has_groups_and_totals(usage_db: str) -> None:
    result = runner.invoke(app, ["usage", "--group-by", "tier"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    powerful = next(line for line in lines if "powerful" in line)
    assert "0.5000" in powerful
    total = next(line for line in lines if "TOTAL" in line)
    assert "0.5100" in total and " 4 " in total and "0.0100" in total


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--group-by", "colour"], "--group-by must be one of"),
        (["--since", "yesterday"], "--since: 'yesterday' is not like"),
    ],
)
def test_usage_bad_options_fail_clearly(usage_db: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["usage", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_usage_without_schema_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(app, ["usage"])
    assert result.exit_code == 1
    assert "annas-gift db upgrade" in result.output


def test_parse_since() -> None:
    now = datetime(2024, 5, 10, 12, tzinfo=UTC)
    assert cli_ops.parse_since("7d", now) == datetime(2024, 5, 3, 12, tzinfo=UTC)
    assert cli_ops.parse_since("30m", now) == datetime(2024, 5, 10, 11, 30, tzinfo=UTC)
    assert cli_ops.parse_since("2024-05-01", now) == datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    with start_in_thread() as sandbox:
        settings = load_settings(
            auth={"api_keys": [f"student:{CLIENT_KEY}"], "admin_keys": [KEY]},
            storage={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
                     "spool_path": str(tmp_path / "spool.jsonl")},
        )  # fmt: skip
        with LiveGateway(create_app(settings, catalog=make_catalog(sandbox.base_url))) as gw:
            yield gw.url


def test_status_shows_models_breakers_and_vpn(gateway: str) -> None:
    args = ["status", "--server", gateway, "--key", KEY]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    names = {m["name"] for p in body["providers"] for m in p["model_status"]}
    assert {"sandbox/fast-small", "needs-key/model"} <= names
    assert body["vpn"]["enabled"] is False
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    row = next(line for line in table.output.splitlines() if "fast-small" in line)
    assert "closed" in row and "yes" in row
    assert "no (needs key)" in next(ln for ln in table.output.splitlines() if "needs-key" in ln)
    assert "VPN (disabled" in table.output


def test_status_with_a_client_key_says_the_vpn_needs_an_admin_key(gateway: str) -> None:
    result = runner.invoke(app, ["status", "--server", gateway, "--key", CLIENT_KEY])
    assert result.exit_code == 0, result.output
    assert "fast-small" in result.output
    assert "VPN: needs an admin key" in result.output


def test_status_with_a_wrong_key_fails(gateway: str) -> None:
    result = runner.invoke(app, ["status", "--server", gateway, "--key", "sk-wrong"])
    assert result.exit_code == 1
    assert "Incorrect API key" in result.output
    assert "sk-wrong" not in result.output


def test_status_without_a_gateway_fails() -> None:
    result = runner.invoke(app, ["status", "--server", "http://127.0.0.1:9", "--key", KEY])
    assert result.exit_code == 1
    assert "cannot reach the gateway" in result.output


class _Hook(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        status = 500 if self.path.endswith("/broken") else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _with_channels(monkeypatch: pytest.MonkeyPatch, channels: list[dict[str, Any]]) -> None:
    settings = Settings(
        alerts=AlertsSettings(channels=channels, delivery={"retry_backoff_s": 0.01})
    )
    monkeypatch.setattr(cli_client, "load_settings", lambda: settings)


def test_alerts_test_sends_to_every_channel(hook: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_channels(monkeypatch, [
        {"name": "ops", "url": f"{hook}/tok-ops-secret"},
        {"name": "broken", "url": f"{hook}/tok-x-secret/broken"},
    ])  # fmt: skip
    result = runner.invoke(app, ["alerts", "test"])
    assert result.exit_code == 1  # one channel failed
    lines = sorted(result.output.splitlines())
    assert lines == [
        f"broken  {hook}/***  FAILED: HTTP 500",
        f"ops  {hook}/***  sent",
    ]
    assert "secret" not in result.output
    received = [b for b in _Hook.bodies if b["status"] == "test"]
    assert len(received) == 1 + 4  # ops once; broken tried 1 + 3 retries


def test_alerts_test_one_channel(hook: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_channels(monkeypatch, [
        {"name": "ops", "url": f"{hook}/a"}, {"name": "other", "url": f"{hook}/b"},
    ])  # fmt: skip
    result = runner.invoke(app, ["alerts", "test", "--channel", "ops"])
    assert result.exit_code == 0, result.output
    assert len(_Hook.bodies) == 1
    missing = runner.invoke(app, ["alerts", "test", "--channel", "nope"])
    assert missing.exit_code == 2
    assert "no alert channel 'nope' (configured: ops, other)" in missing.output


def test_alerts_test_without_channels() -> None:
    result = runner.invoke(app, ["alerts", "test"])
    assert result.exit_code == 2
    assert "no alert channels configured" in result.output
