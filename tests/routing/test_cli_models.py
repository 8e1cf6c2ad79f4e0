"""`annas-gift models` (plain, --benchmarks, --json) through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annas_gift.cli import app
from annas_gift.routing.benchmarks import get_model_benchmarks
from annas_gift.routing.types import BENCHMARKS

CONFIG = str(Path(__file__).resolve().parents[2] / "litellm_config.yaml")
runner = CliRunner()


def test_benchmarks_table_shows_scores_sources_and_dates() -> None:
    result = runner.invoke(app, ["models", "--benchmarks", "--config", CONFIG])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Published benchmark scores" in out
    row = next(line for line in out.splitlines() if "groq/qwen3.8-27b" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    # model, tier, then the twelve benchmarks in order: GPQA Diamond 89.2, LiveCodeBench 90.3.
    assert cells[:2] == ["groq/qwen3.8-27b", "powerful"]
    scores = dict(zip(BENCHMARKS, cells[2:], strict=True))
    assert scores["gpqa_diamond"] == "89.2"
    assert scores["livecodebench"] == "90.3"
    assert scores["mmlu"] == "-"
    gemma = next(line for line in out.splitlines() if "gemini/gemma-4-31b" in line)
    assert "1452" in gemma  # arena rating shown as Elo
    assert "https://console.groq.com/docs/model/qwen/qwen3.8-27b" in out.replace("\n", "")
    assert "2026-08-14" in out
    assert "Where each number comes from" in out


def test_benchmarks_json_matches_the_data_file() -> None:
    result = runner.invoke(app, ["models", "--benchmarks", "--json", "--config", CONFIG])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 16
    by_name = {r["model"]: r for r in rows}
    llama = by_name["ollama/llama3.1-8b"]
    assert llama["benchmark_id"] == "meta/llama-3.1-8b-instruct"
    assert set(llama["scores"]) == set(BENCHMARKS)
    assert llama["scores"]["ifeval"]["value"] == 80.4
    assert llama["scores"]["ifeval"]["date"] == "2024-07-23"
    assert llama["scores"]["hellaswag"] is None
    for row in rows:
        record = get_model_benchmarks(row["benchmark_id"])
        assert record is not None
        for benchmark, cell in row["scores"].items():
            if cell is None:
                assert record.score(benchmark) is None
            else:
                assert cell["value"] == record.score(benchmark)
                assert cell["source"].startswith("https://")
    assert by_name["mistral/mistral-large"]["notes"]  # says why it is all null


def test_plain_listing_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    result = runner.invoke(app, ["models", "--config", CONFIG])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["MODEL", "PROVIDER", "TIER", "STATUS"]
    groq = [line for line in lines if line.split()[1:2] == ["groq"]]
    assert groq and all(line.endswith("ok") for line in groq)
    assert "gsk-test" not in result.output
    as_json = json.loads(runner.invoke(app, ["models", "--json", "--config", CONFIG]).output)
    assert {r["model"] for r in as_json} >= {"groq/gpt-oss-120b", "ollama/qwen2.5-coder-7b"}
    assert "scores" not in as_json[0]


def test_a_missing_catalog_is_one_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "--benchmarks", "--config", str(tmp_path / "no.yaml")])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot read catalog")
