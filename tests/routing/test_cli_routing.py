"""The `classify` and `eval-classifier` commands, on a Typer app built for the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from annas_gift.cli_routing import register
from annas_gift.routing.corpus import DATA_ENV
from annas_gift.routing.features import STRUCTURAL
from annas_gift.routing.task_classifier import MEANING, WORDING, classify_task
from tests.routing.routing_data import write_routing_data


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


runner = CliRunner()


def test_classify_prints_a_table(app: typer.Typer) -> None:
    result = runner.invoke(app, ["classify", "prove that sqrt(2) is irrational"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["tier", "powerful"]
    assert lines[1].split()[0] == "category"
    assert lines[2].startswith("score")
    assert "confidence" in lines[1]
    # Factors follow, largest contribution first: the proof cue leads this one.
    header = next(i for i, line in enumerate(lines) if line.startswith("factor"))
    assert lines[header + 1].split()[0] == "proof_cue"
    assert lines[-3].startswith("powerful tier: this request needs a powerful model")


def test_classify_json(app: typer.Typer) -> None:
    result = runner.invoke(app, ["classify", "--json", "hello there"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["tier"] == "fast" and data["category"] == "chat"


def test_classify_without_prompt_is_a_usage_error(app: typer.Typer) -> None:
    result = runner.invoke(app, ["classify"])
    assert result.exit_code == 2


def test_classify_jsonl_good_and_bad_lines(app: typer.Typer) -> None:
    lines = [
        json.dumps({"prompt": "Write a haiku about the sea."}),
        "",
        "{not json",
        json.dumps({"messages": [{"role": "user", "content": "Solve 3x + 7 = 22"}]}),
        json.dumps([1, 2, 3]),
        json.dumps({"prompt": 5}),
        json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
    ]
    result = runner.invoke(app, ["classify", "--jsonl"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert len(out) == 6  # blank lines are skipped, every other line answers
    assert out[0]["category"] == "writing"
    assert set(out[0]) == {
        "tier",
        "category",
        "confidence",
        "score",
        "factors",
        "category_factors",
        "explanation",
    }
    assert set(out[0]["factors"]) <= {*STRUCTURAL, WORDING, MEANING}
    assert out[1]["error"].startswith("line 3: invalid JSON")
    assert out[2]["category"] == "math"
    assert "error" in out[3] and "error" in out[4]
    assert out[5]["category"] == "chat"
    expected = classify_task([{"role": "user", "content": "Write a haiku about the sea."}])
    assert out[0]["score"] == round(expected.score, 4)


def test_classify_jsonl_survives_bad_bytes(app: typer.Typer) -> None:
    data = b'{"prompt": "hi"}\n\xff\xfe\n{"prompt": "hello"}\n'
    result = runner.invoke(app, ["classify", "--jsonl"], input=data)
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [("error" in o) for o in out] == [False, True, False]


@pytest.mark.slow
def test_eval_classifier_prints_the_comparison(app: typer.Typer, tmp_path: Path) -> None:
    write_routing_data(tmp_path)
    result = runner.invoke(app, ["eval-classifier", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("| metric"))
    assert header.split(" | ")[1:] == [
        "length (>= 1 words)",
        "LiteLLM complexity_router",
        "previous classifier",
        "learned classifier |",
    ]
    assert "| tier AUC: MATH level 1 vs 5 | 1.000 |" in result.output
    assert "median µs per prompt" in result.output


def test_eval_classifier_explains_missing_data(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
    result = runner.invoke(app, ["eval-classifier"])
    assert result.exit_code == 2
    assert DATA_ENV in result.output and "data/routing" in result.output
