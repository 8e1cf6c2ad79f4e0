"""The shipped litellm_config.yaml: valid LiteLLM model_list plus complete routing metadata."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from annas_gift.routing.benchmarks import get_model_benchmarks
from annas_gift.routing.types import CATEGORIES, TIERS

CONFIG = Path(__file__).resolve().parents[2] / "litellm_config.yaml"
PROVIDERS = {"groq", "gemini", "openrouter", "mistral", "cerebras", "ollama"}
KEY_ENV = {
    "groq": "GROQ_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "cerebras": "CEREBRAS_API_KEY",
}
LITELLM_PREFIX = {
    "groq": "groq/",
    "gemini": "gemini/",
    "openrouter": "openrouter/",
    "mistral": "mistral/",
    "cerebras": "cerebras/",
    "ollama": "ollama_chat/",
}
REQUIRED_INFO = {
    "provider",
    "tier",
    "categories",
    "context_window",
    "max_output_tokens",
    "rpm",
    "tpm",
    "rpd",
    "tpd",
    "limits_source",
    "description",
}
OPTIONAL_INFO = {"input_cost_per_token", "output_cost_per_token", "benchmark_id"}


@cache
def all_entries() -> list[dict[str, Any]]:
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    model_list: list[dict[str, Any]] = data["model_list"]
    return model_list


@cache
def entries() -> list[dict[str, Any]]:
    """The chat models (embedding models: tests/unit/test_embedding_catalog.py)."""
    return [e for e in all_entries() if e["model_info"].get("mode", "chat") == "chat"]


@cache
def cost_map() -> dict[str, Any]:
    # Read LiteLLM's bundled map without importing litellm (slow, and it may warn at import).
    spec = importlib.util.find_spec("litellm")
    assert spec is not None
    assert spec.origin is not None
    path = Path(spec.origin).parent / "model_prices_and_context_window_backup.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def ids(entry: dict[str, Any]) -> str:
    return str(entry["model_name"])


def test_catalog_size_and_unique_names() -> None:
    names = [e["model_name"] for e in entries()]
    assert 12 <= len(names) <= 20
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("entry", entries(), ids=ids)
def test_entry_has_valid_model_info(entry: dict[str, Any]) -> None:
    info = entry["model_info"]
    assert info.keys() >= REQUIRED_INFO, REQUIRED_INFO - info.keys()
    assert info.keys() <= REQUIRED_INFO | OPTIONAL_INFO, info.keys() - REQUIRED_INFO - OPTIONAL_INFO
    assert info["provider"] in PROVIDERS
    assert entry["model_name"].startswith(f"{info['provider']}/")
    assert info["tier"] in TIERS
    cats = info["categories"]
    assert isinstance(cats, list)
    assert cats
    assert len(set(cats)) == len(cats)
    assert set(cats) <= set(CATEGORIES)
    for key in ("context_window", "max_output_tokens"):
        assert isinstance(info[key], int)
        assert not isinstance(info[key], bool)
        assert info[key] > 0
    for key in ("rpm", "tpm", "rpd", "tpd"):
        value = info[key]
        assert value is None or (
            isinstance(value, int) and not isinstance(value, bool) and value > 0
        )
    assert "2026" in info["limits_source"], "limits_source must say when it was checked"
    assert isinstance(info["description"], str)
    assert info["description"].strip()
    assert "\n" not in info["description"]
    for key in ("input_cost_per_token", "output_cost_per_token"):
        if key in info:
            assert isinstance(info[key], (int, float))
            assert info[key] >= 0


@pytest.mark.parametrize("entry", entries(), ids=ids)
def test_entry_references_its_credentials_through_the_environment(entry: dict[str, Any]) -> None:
    params = entry["litellm_params"]
    provider = entry["model_info"]["provider"]
    assert params["model"].startswith(LITELLM_PREFIX[provider])
    if provider == "ollama":
        assert params["api_base"] == "os.environ/OLLAMA_API_BASE"
        assert "api_key" not in params
    else:
        assert params["api_key"] == f"os.environ/{KEY_ENV[provider]}"
    # No literal secrets or URLs: every string param other than the model id is an env reference.
    for key, value in params.items():
        if key != "model" and isinstance(value, str):
            assert value.startswith("os.environ/"), key


@pytest.mark.parametrize("entry", entries(), ids=ids)
def test_entry_has_benchmark_record(entry: dict[str, Any]) -> None:
    benchmark_id = entry["model_info"].get("benchmark_id") or entry["model_name"]
    assert get_model_benchmarks(benchmark_id) is not None


@pytest.mark.parametrize(
    "entry",
    [
        e
        for e in entries()
        if e["model_info"]["provider"] in {"groq", "gemini", "mistral", "cerebras"}
    ],
    ids=ids,
)
def test_model_id_is_known_to_litellm(entry: dict[str, Any]) -> None:
    model = entry["litellm_params"]["model"]
    known = cost_map().get(model)
    assert known is not None, f"{model} is not in LiteLLM's bundled cost map"
    assert known.get("mode") == "chat"
    assert not known.get("deprecation_date"), f"{model} has a deprecation date"
    assert entry["model_info"]["context_window"] <= known["max_input_tokens"]


@pytest.mark.parametrize(
    "entry",
    [e for e in entries() if e["model_info"]["provider"] in {"openrouter", "ollama"}],
    ids=ids,
)
def test_models_missing_from_the_cost_map_set_their_prices(entry: dict[str, Any]) -> None:
    info = entry["model_info"]
    assert info["input_cost_per_token"] == 0.0
    assert info["output_cost_per_token"] == 0.0
    if info["provider"] == "openrouter":
        assert entry["litellm_params"]["model"].endswith(":free")


def test_all_six_providers_are_present() -> None:
    assert {e["model_info"]["provider"] for e in entries()} == PROVIDERS


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_is_covered_in_every_tier(tier: str, category: str) -> None:
    covering = [
        e["model_name"]
        for e in entries()
        if e["model_info"]["tier"] == tier and category in e["model_info"]["categories"]
    ]
    assert covering, f"no {tier} model for {category}"


def test_config_comments_say_when_it_was_checked() -> None:
    text = CONFIG.read_text(encoding="utf-8")
    assert "checked on 2026-11-26" in text


def test_registry_parses_the_shipped_catalog() -> None:
    from annas_gift.catalog.registry import Catalog

    catalog = Catalog.from_yaml(CONFIG, price=False)
    assert len(catalog) == len(all_entries())
    ollama = catalog.by_provider("ollama")[0]
    assert ollama.missing_env({}) == ["OLLAMA_API_BASE"]
    assert ollama.missing_env({"OLLAMA_API_BASE": "http://localhost:11434"}) == []


# ── the selection on the shipped catalog ───────────────────────────────────────────────────────

ALL_KEYS = {**{v: "key" for v in KEY_ENV.values()}, "OLLAMA_API_BASE": "http://localhost:11434"}

# The best *published* model per (tier, category), from the numbers in benchmarks.json, among
# the entries of the tier whose catalog entry lists the category:
BEST_KNOWN = {
    # gpt-oss-20b publishes SWE-bench Verified 60.7; qwen2.5-coder-7b only the saturated
    # HumanEval (88.4); codestral nothing.
    ("fast", "code"): "openai/gpt-oss-20b",
    # the only fast entry listing math; AIME 2025 91.7.
    ("fast", "math"): "openai/gpt-oss-20b",
    # Gemma 4 31B: MMLU-Pro 85.2, GPQA Diamond 84.3; Flash-Lite and Mistral Small publish nothing.
    ("fast", "knowledge"): "google/gemma-4-31b-it",
    # Gemma 4 31B: LMArena text 1452, the only arena rating among fast models (Llama 3.1 8B has
    # IFEval 80.4 but lists neither reading nor knowledge).
    ("fast", "reading"): "google/gemma-4-31b-it",
    ("fast", "writing"): "google/gemma-4-31b-it",
    ("fast", "chat"): "google/gemma-4-31b-it",
    # Qwen3.8 27B: LiveCodeBench v6 90.3 against Qwen3-Coder's SWE-bench Verified 67.0.
    ("powerful", "code"): "qwen/qwen3.8-27b",
    # gpt-oss-120b: AIME 2025 92.5, the only published math number among powerful models.
    ("powerful", "math"): "openai/gpt-oss-120b",
    # Qwen3.8 27B: GPQA Diamond 89.2 against gpt-oss-120b's 80.1.
    ("powerful", "knowledge"): "qwen/qwen3.8-27b",
}
# No powerful model publishes IFEval or an arena rating, so these are estimates (documented in
# docs/benchmarks.md): equal estimates, broken by published evidence, then name.
ESTIMATED = {
    ("powerful", "reading"): "openai/gpt-oss-120b",
    ("powerful", "writing"): "google/gemini-3.8-flash",
    ("powerful", "chat"): "google/gemini-3.8-flash",
}


@cache
def shipped_selector() -> Any:
    from annas_gift.catalog.registry import Catalog
    from annas_gift.routing.benchmark_selector import BenchmarkSelector
    from annas_gift.services.auto_routing import profile_of

    catalog = Catalog.from_yaml(CONFIG, price=False)
    unavailable = frozenset(m.name for m in catalog.all() if m.missing_env(ALL_KEYS))
    assert unavailable == frozenset()
    prepared = BenchmarkSelector().prepare(
        [profile_of(m) for m in catalog.all() if m.mode == "chat"]
    )
    return prepared, {m.name: m.benchmark_id for m in catalog.all()}


def test_every_tier_and_category_has_an_expectation() -> None:
    assert set(BEST_KNOWN) | set(ESTIMATED) == {(t, c) for t in TIERS for c in CATEGORIES}


@pytest.mark.parametrize(("tier", "category"), sorted(BEST_KNOWN))
def test_the_chosen_model_is_the_best_known_for_its_category(tier: str, category: str) -> None:
    prepared, benchmark_id = shipped_selector()
    selection = prepared.select(tier, category, now=0.0, required_context=1_000)
    winner = selection.ranking[0]
    assert benchmark_id[winner.name] == BEST_KNOWN[(tier, category)], selection.reason
    assert not winner.benchmark_imputed  # decided by a published number
    assert winner.tier == tier
    assert winner.in_category
    # Nothing without a published number in this category ranks above it.
    explanation = selection.explanation
    assert explanation is not None
    # fast math: gpt-oss-20b is the only fast entry listing math, and also leads on AIME.
    assert explanation.decided_by in ("benchmark", "category")
    assert explanation.benchmark is not None
    assert explanation.benchmark_label in explanation.summary
    assert not explanation.winner_imputed
    assert benchmark_id[explanation.runner_up] != benchmark_id[winner.name]


@pytest.mark.parametrize(("tier", "category"), sorted(ESTIMATED))
def test_categories_without_published_numbers_fall_back_deterministically(
    tier: str, category: str
) -> None:
    prepared, benchmark_id = shipped_selector()
    selection = prepared.select(tier, category, now=0.0, required_context=1_000)
    winner = selection.ranking[0]
    assert benchmark_id[winner.name] == ESTIMATED[(tier, category)]
    assert winner.benchmark_imputed
    assert "estimated" in selection.reason


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("category", CATEGORIES)
def test_no_ties_are_decided_by_file_order(tier: str, category: str) -> None:
    from annas_gift.catalog.registry import Catalog
    from annas_gift.routing.benchmark_selector import BenchmarkSelector
    from annas_gift.services.auto_routing import profile_of

    profiles = [
        profile_of(m) for m in Catalog.from_yaml(CONFIG, price=False).all() if m.mode == "chat"
    ]
    forward = BenchmarkSelector().prepare(profiles).select(tier, category, now=0.0)  # type: ignore[arg-type]
    backward = BenchmarkSelector().prepare(profiles[::-1]).select(tier, category, now=0.0)  # type: ignore[arg-type]
    assert forward.fallback_order == backward.fallback_order


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_model_has_a_score_for_every_category(tier: str, category: str) -> None:
    prepared, _ = shipped_selector()
    selection = prepared.select(tier, category, now=0.0)
    assert len(selection.ranking) == len(entries())
    assert all(r.benchmark_score is not None for r in selection.ranking)
