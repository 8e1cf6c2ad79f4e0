"""`annas-gift vpn ...` against the database named by the settings; secrets stay masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from annas_gift import cli_vpn
from annas_gift.sandbox import RunningSandbox
from tests.vpn.conftest import PASSWORD, USER
from tests.vpn.proxies import LoopbackProxy


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


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["vpn", *args])
    return result.exit_code, result.output


def test_add_list_test_remove(
    cli: typer.Typer,
    upstream: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    http_proxy: LoopbackProxy,
    socks_proxy: LoopbackProxy,
) -> None:
    outputs = []
    code, out = run(cli, "add", "nl-1", http_proxy.url, "--country", "NL", "--provider", "openai")
    outputs.append(out)
    assert code == 0, out
    assert "vpn-user:***@" in out
    monkeypatch.setenv("SOCKS_PASS", PASSWORD)
    bare = socks_proxy.url.replace(f":{PASSWORD}@", "@")
    code, out = run(cli, "add", "se-1", bare, "--password-env", "SOCKS_PASS", "--label", "acme")
    outputs.append(out)
    assert code == 0, out
    code, out = run(cli, "add", "bad", "socks4://h:1")
    outputs.append(out)
    assert code == 2
    assert "not supported" in out
    code, out = run(cli, "list")
    outputs.append(out)
    assert code == 0
    assert "nl-1" in out and "se-1" in out
    probe = ["--probe-url", upstream.url + "/health"]
    code, out = run(cli, "test", *probe)
    outputs.append(out)
    assert code == 0, out  # se-1 works only if --password-env put the password in
    assert "nl-1: ok" in out and "se-1: ok" in out
    code, out = run(cli, "list", "--json")
    rows = json.loads(out)
    assert [r["state"] for r in rows] == ["up", "up"]
    assert rows[1]["provider_label"] == "acme"
    outputs.append(out)
    code, out = run(cli, "status")
    outputs.append(out)
    assert "vpn disabled, rotation round_robin" in out
    http_proxy.kill()
    code, out = run(cli, "test", "nl-1", *probe)
    outputs.append(out)
    assert code == 1
    assert "nl-1: FAILED" in out
    code, out = run(cli, "remove", "nl-1")
    assert code == 0
    code, out = run(cli, "remove", "nl-1")
    assert code == 2
    assert "no VPN endpoint named 'nl-1'" in out
    for text in outputs:
        assert PASSWORD not in text
        assert f"{USER}:{PASSWORD}" not in text


def test_rotate_without_a_gateway_fails_clearly(cli: typer.Typer) -> None:
    code, out = run(cli, "rotate", "x", "--server", "http://127.0.0.1:9", "--key", "k")
    assert code == 1
    assert "cannot reach the gateway" in out
