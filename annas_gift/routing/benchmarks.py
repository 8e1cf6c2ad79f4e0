"""Published benchmark scores of the catalog models, loaded once from the package data file.

The data lives in `data/benchmarks.json` (keyed by each catalog entry's `benchmark_id`); every
known number carries its source and date, and unknown numbers are null rather than guessed.
Percent benchmarks must lie in 0..100; the arena rating is an Elo number (500..2500).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

from annas_gift.routing.types import (
    BENCHMARKS,
    ELO_BENCHMARKS,
    ELO_RANGE,
    Benchmark,
    ModelBenchmarks,
    ScoreSource,
)

__all__ = [
    "BENCHMARK_LABELS",
    "BenchmarkDataError",
    "ModelBenchmarks",
    "ScoreSource",
    "all_benchmarks",
    "get_model_benchmarks",
    "parse_benchmarks",
]

_DATA_PACKAGE = "annas_gift.routing"
_DATA_FILE = "data/benchmarks.json"

BENCHMARK_LABELS: Mapping[Benchmark, str] = MappingProxyType(
    {
        "mmlu": "MMLU",
        "hellaswag": "HellaSwag",
        "gsm8k": "GSM8K",
        "humaneval": "HumanEval",
        "mmlu_pro": "MMLU-Pro",
        "gpqa_diamond": "GPQA Diamond",
        "math_500": "MATH-500",
        "aime": "AIME",
        "livecodebench": "LiveCodeBench",
        "swe_bench_verified": "SWE-bench Verified",
        "ifeval": "IFEval",
        "arena_elo": "LMArena (text)",
    }
)


class BenchmarkDataError(ValueError):
    """The benchmark data is malformed; the message names the model and benchmark."""


def _range(benchmark: Benchmark) -> tuple[float, float]:
    return ELO_RANGE if benchmark in ELO_BENCHMARKS else (0.0, 100.0)


def _parse_score(
    model_id: str, benchmark: Benchmark, raw: Any
) -> tuple[float | None, ScoreSource | None]:
    if raw is None:
        return None, None
    where = f"benchmarks[{model_id!r}].{benchmark}"
    if not isinstance(raw, Mapping):
        raise BenchmarkDataError(f"{where} must be null or an object with value/source/date")
    value = raw.get("value")
    if value is None:
        # An object without a value would look sourced while saying nothing: use null instead.
        raise BenchmarkDataError(f"{where}.value is missing; write the score as null instead")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BenchmarkDataError(f"{where}.value must be a number")
    low, high = _range(benchmark)
    if not math.isfinite(value) or not low <= value <= high:
        raise BenchmarkDataError(f"{where}.value must be within {low:g}..{high:g}, got {value}")
    source, date = raw.get("source"), raw.get("date")
    if not isinstance(source, str) or not source.strip():
        raise BenchmarkDataError(f"{where}.source is required for a known score")
    if not isinstance(date, str) or not date.strip():
        raise BenchmarkDataError(f"{where}.date is required for a known score")
    note = raw.get("note", "")
    return float(value), ScoreSource(source=source, date=date, note=str(note or ""))


def parse_benchmarks(data: Mapping[str, Any]) -> dict[str, ModelBenchmarks]:
    """Validate the benchmarks document (`{"models": {id: {...}}}`) and build the records."""
    models = data.get("models")
    if not isinstance(models, Mapping):
        raise BenchmarkDataError("benchmarks data needs a 'models' object")
    out: dict[str, ModelBenchmarks] = {}
    for model_id, entry in models.items():
        if not isinstance(entry, Mapping):
            raise BenchmarkDataError(f"benchmarks[{model_id!r}] must be an object")
        unknown = set(entry) - set(BENCHMARKS) - {"notes"}
        if unknown:
            raise BenchmarkDataError(f"benchmarks[{model_id!r}] has unknown keys {sorted(unknown)}")
        fields: dict[str, Any] = {}
        for benchmark in BENCHMARKS:
            value, source = _parse_score(model_id, benchmark, entry.get(benchmark))
            fields[benchmark] = value
            fields[f"{benchmark}_source"] = source
        out[model_id] = ModelBenchmarks(
            model_id=model_id, notes=str(entry.get("notes") or ""), **fields
        )
    return out


@functools.cache
def _table() -> Mapping[str, ModelBenchmarks]:
    # Read once per process: the selector runs on every request and must not touch the disk.
    text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    return MappingProxyType(parse_benchmarks(json.loads(text)))


def get_model_benchmarks(model_id: str) -> ModelBenchmarks | None:
    """The benchmark record for a benchmark_id (or model name), or None if the model is unknown."""
    return _table().get(model_id)


def all_benchmarks() -> dict[str, ModelBenchmarks]:
    """Every benchmark record by id (a fresh dict; the records themselves are immutable)."""
    return dict(_table())
