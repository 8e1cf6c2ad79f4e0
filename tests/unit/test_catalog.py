"""The catalog: LiteLLM model_list parsing, credentials from env, prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from annas_gift.catalog.registry import Catalog, CatalogError, load_catalog_file

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


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {**ENTRY, "modle_info": ENTRY["model_info"]},
            "catalog entry 'groq/llama': unknown key modle_info (did you mean `model_info`?)",
        ),
        (
            {**ENTRY, "model_info": {"tier": "powerful", "context_windw": 8192}},
            "catalog entry 'groq/llama': unknown key model_info.context_windw "
            "(did you mean `context_window`?)",
        ),
    ],
)
def test_unknown_entry_keys_are_errors(entry: dict[str, object], expected: str) -> None:
    with pytest.raises(CatalogError) as info:
        Catalog.from_model_list([entry], price=False)
    assert str(info.value) == expected


def test_litellm_model_info_keys_are_accepted() -> None:
    info = {"tier": "fast", "id": "x", "mode": "chat", "supports_vision": True, "base_model": "b"}
    catalog = Catalog.from_model_list([{**ENTRY, "model_info": info}], price=False)
    assert catalog.get("groq/llama") is not None


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_misspelled_model_list_is_an_error_not_an_empty_catalog(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "modellist:\n  - model_name: a\n    litellm_params: {model: openai/a}\n")
    with pytest.raises(CatalogError) as info:
        Catalog.from_yaml(path, price=False)
    assert str(info.value) == f"catalog {path}: unknown key modellist (did you mean `model_list`?)"


def test_empty_catalog_is_an_error_unless_allowed(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "model_list: []\n")
    with pytest.raises(CatalogError, match="has no models; add a model_list or set litellm"):
        load_catalog_file(path, explicit=True)
    assert len(load_catalog_file(path, explicit=True, allow_empty=True)) == 0


def test_missing_explicit_catalog_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogError, match=r"catalog .*nope\.yaml not found"):
        load_catalog_file(missing, explicit=True, allow_empty=True)


def test_missing_default_catalog_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CatalogError) as info:
        load_catalog_file(Path("litellm_config.yaml"), explicit=False)
    assert str(info.value).startswith(f"no catalog: looked for {tmp_path / 'litellm_config.yaml'}")
    assert (
        len(load_catalog_file(Path("litellm_config.yaml"), explicit=False, allow_empty=True)) == 0
    )


def test_shipped_catalog_passes_the_strict_checks() -> None:
    root = Path(__file__).resolve().parents[2]
    assert len(load_catalog_file(root / "litellm_config.yaml", explicit=True, price=False)) > 0
