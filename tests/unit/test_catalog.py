"""The catalog: LiteLLM model_list parsing, credentials from env, prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from annas_gift.catalog.registry import Catalog, CatalogError

ENTRY = {
    "model_name": "groq/llama",
    "litellm_params": {"model": "groq/llama-3.3-70b-versatile", "api_key": "os.environ/GROQ_KEY_T"},
    "model_info": {
        "tier": "powerful",
        "categories": ["code", "math"],
        "context_window": 131072,
        "rpm": 30,
    },
}


def test_entry_fields_and_provider_from_model_prefix() -> None:
    model = Catalog.from_model_list([ENTRY], price=False).get("groq/llama")
    assert model is not None
    assert model.provider == "groq"
    assert model.tier == "powerful"
    assert model.categories == ("code", "math")
    assert model.rpm == 30
    assert model.required_env == ("GROQ_KEY_T",)


def test_credentials_resolve_from_environment() -> None:
    model = Catalog.from_model_list([ENTRY], price=False).all()[0]
    assert model.missing_env({}) == ["GROQ_KEY_T"]
    assert model.missing_env({"GROQ_KEY_T": ""}) == ["GROQ_KEY_T"]
    assert model.missing_env({"GROQ_KEY_T": "k"}) == []
    assert model.resolved_params({"GROQ_KEY_T": "k"})["api_key"] == "k"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"litellm_params": {"model": "x"}}, "model_name"),
        ({"model_name": "a"}, "litellm_params.model"),
        (
            {"model_name": "a", "litellm_params": {"model": "x"}, "model_info": {"tier": "huge"}},
            "tier",
        ),
        (
            {
                "model_name": "a",
                "litellm_params": {"model": "x"},
                "model_info": {"categories": ["poetry"]},
            },
            "categories",
        ),
        ({"model_name": "a", "litellm_params": {"model": "x"}, "model_info": {"rpm": -1}}, "rpm"),
    ],
)
def test_invalid_entries_name_the_problem(entry: dict[str, object], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        Catalog.from_model_list([entry], price=False)


def test_duplicate_names_rejected() -> None:
    with pytest.raises(CatalogError, match="twice"):
        Catalog.from_model_list([ENTRY, ENTRY], price=False)


def test_prices_from_litellm_cost_map_and_override() -> None:
    known = {"model_name": "g", "litellm_params": {"model": "gemini/gemini-2.5-flash"}}
    override = {
        "model_name": "o",
        "litellm_params": {"model": "gemini/gemini-2.5-flash"},
        "model_info": {"input_cost_per_token": 0, "output_cost_per_token": 0},
    }
    unknown = {"model_name": "u", "litellm_params": {"model": "openai/not-a-real-model"}}
    catalog = Catalog.from_model_list([known, override, unknown])
    g = catalog.get("g")
    assert g is not None and g.input_cost_per_token and g.input_cost_per_token > 0
    assert g.cost_usd(1000, 1000) == pytest.approx(
        1000 * g.input_cost_per_token + 1000 * (g.output_cost_per_token or 0)
    )
    assert catalog.get("o").cost_usd(1000, 1000) == 0  # type: ignore[union-attr]
    assert catalog.get("u").cost_usd(1000, 1000) == 0  # type: ignore[union-attr]


def test_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        Catalog.from_yaml(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: [unclosed")
    with pytest.raises(CatalogError, match="not valid YAML"):
        Catalog.from_yaml(bad)


def test_default_catalog_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    catalog = Catalog.from_yaml(root / "litellm_config.yaml")
    assert len(catalog) >= 12
    assert {"groq", "gemini", "openrouter", "mistral", "cerebras", "ollama"} <= set(
        catalog.providers()
    )
