"""Benchmark data: every catalog model is covered, every number is sourced, values are sane."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from annas_gift.routing.benchmarks import (
    BenchmarkDataError,
    all_benchmarks,
    get_model_benchmarks,
    parse_benchmarks,
)
from annas_gift.routing.types import BENCHMARKS, ModelBenchmarks

CONFIG = Path(__file__).resolve().parents[2] / "litellm_config.yaml"
SANDBOX_MODELS = (
    "sandbox/fast-small",
    "sandbox/fast-coder",
    "sandbox/powerful-large",
    "sandbox/powerful-reasoner",
)


def _raw() -> dict[str, Any]:
    text = resources.files("annas_gift.routing").joinpath("data/benchmarks.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _catalog_benchmark_ids() -> list[str]:
    entries = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["model_list"]
    return [e["model_info"].get("benchmark_id") or e["model_name"] for e in entries]


@pytest.mark.parametrize("benchmark_id", _catalog_benchmark_ids())
def test_every_catalog_model_has_an_entry(benchmark_id: str) -> None:
    assert get_model_benchmarks(benchmark_id) is not None


@pytest.mark.parametrize("model_id", SANDBOX_MODELS)
def test_sandbox_models_have_synthetic_numbers(model_id: str) -> None:
    record = get_model_benchmarks(model_id)
    assert record is not None
    for benchmark in BENCHMARKS:
        assert record.score(benchmark) is not None
        source = record.source(benchmark)
        assert source is not None
        assert source.source == "synthetic (sandbox demo model)"


def test_real_models_never_claim_synthetic_numbers() -> None:
    for model_id, record in all_benchmarks().items():
        if model_id.startswith("sandbox/"):
            continue
        for benchmark in BENCHMARKS:
            source = record.source(benchmark)
            assert source is None or "synthetic" not in source.source, (model_id, benchmark)


def test_every_known_score_has_source_and_date_and_is_in_range() -> None:
    records = all_benchmarks()
    assert records
    for model_id, record in records.items():
        for benchmark in BENCHMARKS:
            score, source = record.score(benchmark), record.source(benchmark)
            if score is None:
                assert source is None, (model_id, benchmark)
                continue
            assert 0.0 <= score <= 100.0, (model_id, benchmark)
            assert source is not None
            assert source.source.strip()
            assert source.date.strip()


def test_raw_file_scores_are_null_or_fully_sourced() -> None:
    for model_id, entry in _raw()["models"].items():
        for benchmark in BENCHMARKS:
            assert benchmark in entry, f"{model_id} must state {benchmark} (null when unknown)"
            raw = entry[benchmark]
            if raw is not None:
                assert {"value", "source", "date"} <= raw.keys(), (model_id, benchmark)


def test_known_published_numbers() -> None:
    llama = get_model_benchmarks("meta/llama-3.1-8b-instruct")
    assert llama is not None
    assert (llama.mmlu, llama.gsm8k, llama.humaneval, llama.hellaswag) == (69.4, 84.5, 72.6, None)
    gpt_oss = get_model_benchmarks("openai/gpt-oss-120b")
    assert gpt_oss is not None
    assert gpt_oss.mmlu == 90.0
    assert gpt_oss.humaneval is None
    assert gpt_oss.known() == {"mmlu": 90.0}


def test_unknown_model_is_none() -> None:
    assert get_model_benchmarks("nobody/no-such-model") is None


def test_loaded_once_and_all_benchmarks_returns_a_copy() -> None:
    first = all_benchmarks()
    first.clear()
    assert all_benchmarks(), "mutating the returned dict must not touch the cache"
    assert get_model_benchmarks("openai/gpt-oss-20b") is get_model_benchmarks("openai/gpt-oss-20b")


def test_records_are_immutable() -> None:
    record = get_model_benchmarks("openai/gpt-oss-20b")
    assert isinstance(record, ModelBenchmarks)
    with pytest.raises(AttributeError):
        record.mmlu = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ({"value": 101, "source": "s", "date": "d"}, "0..100"),
        ({"value": -1, "source": "s", "date": "d"}, "0..100"),
        ({"value": float("nan"), "source": "s", "date": "d"}, "0..100"),
        ({"value": "90", "source": "s", "date": "d"}, "number"),
        ({"value": True, "source": "s", "date": "d"}, "number"),
        ({"value": 50, "date": "d"}, "source"),
        ({"value": 50, "source": " ", "date": "d"}, "source"),
        ({"value": 50, "source": "s"}, "date"),
        ({"source": "s", "date": "d"}, "null instead"),
        (42, "null or an object"),
    ],
)
def test_parse_rejects_bad_scores(score: object, message: str) -> None:
    with pytest.raises(BenchmarkDataError, match=message):
        parse_benchmarks({"models": {"m": {"mmlu": score}}})


def test_parse_rejects_bad_shapes() -> None:
    with pytest.raises(BenchmarkDataError, match="'models'"):
        parse_benchmarks({})
    with pytest.raises(BenchmarkDataError, match="must be an object"):
        parse_benchmarks({"models": {"m": []}})


def test_parse_missing_benchmarks_are_unknown() -> None:
    parsed = parse_benchmarks(
        {"models": {"m": {"gsm8k": {"value": 80, "source": "x", "date": "y"}}}}
    )
    record = parsed["m"]
    assert record.gsm8k == 80.0
    assert record.mmlu is None
    assert record.mmlu_source is None
