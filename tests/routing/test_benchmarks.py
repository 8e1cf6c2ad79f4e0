"""Benchmark data: every catalog model is covered, every number is sourced, values are sane."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from annas_gift.routing.benchmarks import (
    BENCHMARK_LABELS,
    BenchmarkDataError,
    all_benchmarks,
    get_model_benchmarks,
    parse_benchmarks,
)
from annas_gift.routing.types import BENCHMARKS, ELO_BENCHMARKS, ModelBenchmarks

CONFIG = Path(__file__).resolve().parents[2] / "litellm_config.yaml"
SANDBOX_MODELS = (
    "sandbox/fast-small",
    "sandbox/fast-coder",
    "sandbox/powerful-large",
    "sandbox/powerful-reasoner",
)
DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")  # a day, or a month when only that is published


def _raw() -> dict[str, Any]:
    text = resources.files("annas_gift.routing").joinpath("data/benchmarks.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _catalog_benchmark_ids() -> list[str]:
    entries = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["model_list"]
    # Chat models are ranked by benchmarks; embedding models (mode: embedding) are not.
    return [
        e["model_info"].get("benchmark_id") or e["model_name"]
        for e in entries
        if e["model_info"].get("mode", "chat") == "chat"
    ]


def test_all_twelve_benchmarks_are_tracked_with_labels() -> None:
    assert BENCHMARKS == (
        "mmlu",
        "hellaswag",
        "gsm8k",
        "humaneval",
        "mmlu_pro",
        "gpqa_diamond",
        "math_500",
        "aime",
        "livecodebench",
        "swe_bench_verified",
        "ifeval",
        "arena_elo",
    )
    assert set(BENCHMARK_LABELS) == set(BENCHMARKS)


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
            low, high = (500.0, 2500.0) if benchmark in ELO_BENCHMARKS else (0.0, 100.0)
            assert low <= score <= high, (model_id, benchmark, score)
            assert source is not None
            assert source.source.strip()
            assert DATE.match(source.date), (model_id, benchmark, source.date)


def test_real_sources_are_links_to_a_model_card_report_or_leaderboard() -> None:
    for model_id, record in all_benchmarks().items():
        if model_id.startswith("sandbox/"):
            continue
        for benchmark in record.known():
            source = record.source(benchmark)
            assert source is not None
            assert source.source.startswith("https://"), (model_id, benchmark)


def test_raw_file_states_every_benchmark_and_explains_its_nulls() -> None:
    for model_id, entry in _raw()["models"].items():
        for benchmark in BENCHMARKS:
            assert benchmark in entry, f"{model_id} must state {benchmark} (null when unknown)"
            raw = entry[benchmark]
            if raw is not None:
                assert {"value", "source", "date"} <= raw.keys(), (model_id, benchmark)
        if any(entry[b] is None for b in BENCHMARKS):
            assert len(entry.get("notes", "")) > 40, f"{model_id}: say why numbers are missing"


def test_known_published_numbers() -> None:
    llama = get_model_benchmarks("meta/llama-3.1-8b-instruct")
    assert llama is not None
    assert llama.known() == {
        "mmlu": 69.4,
        "gsm8k": 84.5,
        "humaneval": 72.6,
        "mmlu_pro": 48.3,
        "ifeval": 80.4,
    }
    gpt_oss = get_model_benchmarks("openai/gpt-oss-120b")
    assert gpt_oss is not None
    assert gpt_oss.known() == {"mmlu": 90.0, "gpqa_diamond": 80.1, "aime": 92.5}
    qwen = get_model_benchmarks("qwen/qwen3.8-27b")
    assert qwen is not None
    assert qwen.known() == {"gpqa_diamond": 89.2, "livecodebench": 90.3}
    gemma = get_model_benchmarks("google/gemma-4-31b-it")
    assert gemma is not None
    assert gemma.arena_elo == 1452.0
    assert gemma.aime_source is not None
    assert "AIME 2026" in gemma.aime_source.note  # the edition is said, not silently mixed


def test_models_without_any_published_number_say_so() -> None:
    for model_id in (
        "google/gemini-3.8-flash",
        "google/gemini-3.5-flash-lite",
        "mistral/mistral-small-latest",
        "mistral/mistral-large-latest",
        "mistral/codestral-latest",
    ):
        record = get_model_benchmarks(model_id)
        assert record is not None
        assert record.known() == {}
        assert record.notes


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
    ("name", "score", "message"),
    [
        ("mmlu", {"value": 101, "source": "s", "date": "d"}, "0..100"),
        ("mmlu_pro", {"value": -1, "source": "s", "date": "d"}, "0..100"),
        ("gpqa_diamond", {"value": float("nan"), "source": "s", "date": "d"}, "0..100"),
        ("arena_elo", {"value": 90, "source": "s", "date": "d"}, "500..2500"),
        ("arena_elo", {"value": 3000, "source": "s", "date": "d"}, "500..2500"),
        ("aime", {"value": "90", "source": "s", "date": "d"}, "number"),
        ("ifeval", {"value": True, "source": "s", "date": "d"}, "number"),
        ("livecodebench", {"value": 50, "date": "d"}, "source"),
        ("swe_bench_verified", {"value": 50, "source": " ", "date": "d"}, "source"),
        ("math_500", {"value": 50, "source": "s"}, "date"),
        ("mmlu", {"source": "s", "date": "d"}, "null instead"),
        ("mmlu", 42, "null or an object"),
    ],
)
def test_parse_rejects_bad_scores(name: str, score: object, message: str) -> None:
    with pytest.raises(BenchmarkDataError, match=message):
        parse_benchmarks({"models": {"m": {name: score}}})


def test_parse_rejects_bad_shapes() -> None:
    with pytest.raises(BenchmarkDataError, match="'models'"):
        parse_benchmarks({})
    with pytest.raises(BenchmarkDataError, match="must be an object"):
        parse_benchmarks({"models": {"m": []}})
    with pytest.raises(BenchmarkDataError, match="unknown keys"):
        parse_benchmarks({"models": {"m": {"mmlu_redux": None}}})


def test_parse_missing_benchmarks_are_unknown() -> None:
    parsed = parse_benchmarks(
        {"models": {"m": {"arena_elo": {"value": 1300, "source": "x", "date": "y"}}}}
    )
    record = parsed["m"]
    assert record.arena_elo == 1300.0
    assert record.mmlu is None
    assert record.mmlu_source is None
