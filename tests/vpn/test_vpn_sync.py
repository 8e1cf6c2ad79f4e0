"""Issue 10 items 13 and 16: the running gateway, the CLI and the database agree on endpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from annas_gift import cli_vpn
from annas_gift.egress.admin import VPNAdmin
from annas_gift.egress.config import VPNConfig
from annas_gift.egress.manager import VPNManager
from annas_gift.settings import VPNSettings
from annas_gift.storage import database, migrate

Sessions = async_sessionmaker[AsyncSession]


def _config(**values: object) -> VPNConfig:
    return VPNConfig.from_settings(VPNSettings.model_validate({"probe_interval_s": 0.2, **values}))


async def _eventually(check: object, within: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("enabled", [False, True])
async def test_an_endpoint_added_elsewhere_reaches_a_running_instance(
    sessions: Sessions, enabled: bool
) -> None:
    running = VPNManager(sessions, _config(enabled=enabled, probe_url="http://127.0.0.1:9/"))
    await running.start()
    try:
        other = VPNManager(sessions, _config())  # the CLI, or another gateway instance
        await other.load()
        await VPNAdmin(other).add("late", "http://127.0.0.1:9", country="NL")
        await other.stop()
        assert await _eventually(lambda: "late" in running.states, within=3.0)
    finally:
        await running.stop()


async def test_new_endpoints_start_unknown(sessions: Sessions) -> None:
    manager = VPNManager(sessions, _config())  # disabled: never probed
    await manager.start()
    try:
        await VPNAdmin(manager).add("fresh", "http://127.0.0.1:9")
        (listed,) = VPNAdmin(manager).list_endpoints()
        assert listed.state == "unknown"
    finally:
        await manager.stop()


async def test_endpoints_load_once_the_database_returns(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'late.db'}"  # no tables yet: like a database down
    engine = database.create_engine(url)
    try:
        declared = [{"name": "seeded", "url": "http://127.0.0.1:9"}]
        manager = VPNManager(database.session_factory(engine), _config(endpoints=declared))
        await manager.start()  # must not raise
        assert manager.states == {}
        await asyncio.to_thread(migrate.upgrade, url)  # the database is back
        try:
            assert await _eventually(lambda: "seeded" in manager.states, within=3.0)
        finally:
            await manager.stop()
    finally:
        await engine.dispose()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    cli_vpn.register(app)
    return app


def test_vpn_test_without_endpoints_says_so_and_fails(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["vpn", "test"])
    assert result.exit_code == 1
    assert "no VPN endpoints" in result.output


def test_vpn_status_live_prints_no_python_none(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"enabled": False, "rotation": "round_robin", "current": None, "endpoints": []}
    monkeypatch.setattr(cli_vpn, "_api", lambda *args, **kwargs: body)
    result = CliRunner().invoke(cli, ["vpn", "status", "--live"])
    assert result.exit_code == 0, result.output
    assert "None" not in result.output
    assert "current none" in result.output
