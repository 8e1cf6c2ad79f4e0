"""The `annas-gift` command: models, db, config errors, and `serve --demo` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from annas_gift.cli import app
from tests.api.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_models_lists_catalog_with_missing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GROQ_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    result = runner.invoke(app, ["models", "--config", str(ROOT / "litellm_config.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    groq = [line for line in lines if line.split()[1:2] == ["groq"]]
    gemini = [line for line in lines if line.split()[1:2] == ["gemini"]]
    assert groq and all(line.endswith("ok") for line in groq)
    assert gemini and all("needs GEMINI_API_KEY" in line for line in gemini)
    assert "gsk-test" not in result.output


def test_db_upgrade_current_downgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert "revision 0005" in up.output  # the newest migration (0005 drops an index)
    assert runner.invoke(app, ["db", "current"]).output.strip().startswith("0005")
    down = runner.invoke(app, ["db", "downgrade", "base"])
    assert down.exit_code == 0, down.output
    assert "empty" in runner.invoke(app, ["db", "current"]).output


def test_bad_config_fails_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNAS_GIFT_SERVER__PORT", "not-a-number")
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: invalid setting server.port: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


@pytest.mark.slow
def test_serve_demo_answers_chat(tmp_path: Path) -> None:
    """The README's offline path: `annas-gift serve --demo`, the generated key, one chat."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNAS_GIFT_")}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "annas_gift", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.2)
        key = (tmp_path / "annas_gift.key").read_text().strip()
        r = httpx.post(
            f"{url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "sandbox/fast-small", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-annas-provider"] == "sandbox"
        assert (tmp_path / "annas_gift.db").exists()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    log = out.decode()
    assert key not in log  # the generated key never reaches the log
    assert "annas_gift.key" in log
