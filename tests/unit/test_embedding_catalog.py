"""The shipped catalog's embedding models: LiteLLM's `mode: embedding`, free, never chat."""

from __future__ import annotations

from typing import Any

import pytest

from annas_gift.catalog.registry import Catalog, CatalogError
from tests.routing.test_default_catalog import CONFIG, KEY_ENV, all_entries, cost_map, ids


def embedding_entries() -> list[dict[str, Any]]:
    return [e for e in all_entries() if e["model_info"].get("mode") == "embedding"]


def test_the_free_embedding_models_are_offered() -> None:
    names = {e["model_name"] for e in embedding_entries()}
    assert names == {"gemini/gemini-embedding-001", "ollama/nomic-embed-text"}


@pytest.mark.parametrize("entry", embedding_entries(), ids=ids)
def test_embedding_entry(entry: dict[str, Any]) -> None:
    info, params = entry["model_info"], entry["litellm_params"]
    assert info["input_cost_per_token"] == 0.0 and info["output_cost_per_token"] == 0.0
    assert isinstance(info["output_vector_size"], int) and info["output_vector_size"] > 0
    assert "2026" in info["limits_source"]
    if info["provider"] == "ollama":
        assert params == {
            "model": "ollama/nomic-embed-text",
            "api_base": "os.environ/OLLAMA_API_BASE",
        }
        return
    assert params["api_key"] == f"os.environ/{KEY_ENV[info['provider']]}"
    known = cost_map().get(params["model"])
    assert known is not None and known["mode"] == "embedding"
    # A retirement date is fine if it is well ahead of the check date (2026-11-26).
    assert known.get("deprecation_date", "9999") > "2027-06-01"
    assert info["context_window"] <= known["max_input_tokens"]
    assert info["output_vector_size"] == known["output_vector_size"]


def test_registry_reads_the_mode_and_the_router_skips_embedding_models() -> None:
    from annas_gift.services.auto_routing import AutoRouter

    catalog = Catalog.from_yaml(CONFIG, price=False)
    modes = {m.name: m.mode for m in catalog.all()}
    assert modes["gemini/gemini-embedding-001"] == "embedding"
    assert modes["groq/gpt-oss-20b"] == "chat"
    router = AutoRouter()
    profiled = {m.name for m, _ in router._catalog_profiles(catalog)}
    assert profiled == {name for name, mode in modes.items() if mode == "chat"}


def test_an_unknown_mode_is_a_catalog_error() -> None:
    entry = {
        "model_name": "x/y",
        "litellm_params": {"model": "openai/y"},
        "model_info": {"mode": "image_generation"},
    }
    with pytest.raises(CatalogError, match=r"model_info\.mode must be one of chat, embedding"):
        Catalog.from_model_list([entry], price=False)
