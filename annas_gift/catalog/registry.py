"""The model registry: LiteLLM's `model_list` (litellm_config.yaml) plus our routing metadata.

Routing metadata lives in each entry's `model_info` (tier, categories, context window, limits,
price overrides), so the file stays a valid LiteLLM proxy config.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

Tier = Literal["fast", "powerful"]
CATEGORIES = ("code", "math", "knowledge", "reading", "writing", "chat")
# LiteLLM's `model_info.mode` values the gateway serves; an entry without one is a chat model.
MODES = ("chat", "embedding")
_ENV_PREFIX = "os.environ/"
log = logging.getLogger(__name__)

# Keys a LiteLLM proxy config may hold at the top and in each entry; anything else is a typo
# (`modellist:` would otherwise load as an empty catalog).
TOP_LEVEL_KEYS = (
    "model_list", "litellm_settings", "general_settings", "router_settings",
    "environment_variables", "credential_list", "include",
)  # fmt: skip
ENTRY_KEYS = ("model_name", "litellm_params", "model_info")
# Our routing metadata, plus the model_info keys LiteLLM itself reads.
MODEL_INFO_KEYS = (
    "provider", "tier", "categories", "context_window", "max_output_tokens",
    "rpm", "tpm", "rpd", "tpd", "limits_source", "input_cost_per_token", "output_cost_per_token",
    "benchmark_id", "description",
    "id", "mode", "base_model", "max_tokens", "max_input_tokens", "access_groups", "team_id",
    "output_vector_size", "max_output_tokens", "input_cost_per_second", "output_cost_per_second",
    "typical_output_tokens",
)  # fmt: skip


class CatalogError(Exception):
    """The catalog file is unreadable or an entry is invalid; the message names the entry."""


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """One routable model: how to call it (LiteLLM params) and what it is good for."""

    name: str
    provider: str
    litellm_model: str
    params: Mapping[str, Any]
    tier: Tier = "fast"
    categories: tuple[str, ...] = ()
    context_window: int | None = None
    max_output_tokens: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    tpd: int | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    benchmark_id: str | None = None
    description: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def required_env(self) -> tuple[str, ...]:
        """Environment variables the entry references (`os.environ/NAME`)."""
        return tuple(
            value[len(_ENV_PREFIX) :]
            for value in self.params.values()
            if isinstance(value, str) and value.startswith(_ENV_PREFIX)
        )

    def missing_env(self, env: Mapping[str, str] | None = None) -> list[str]:
        """The referenced variables that are unset or empty (the model is unavailable if any)."""
        source = os.environ if env is None else env
        return [name for name in self.required_env if not source.get(name)]

    def resolved_params(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """LiteLLM params with `os.environ/` references replaced by their values."""
        source = os.environ if env is None else env
        out: dict[str, Any] = {}
        for key, value in self.params.items():
            if isinstance(value, str) and value.startswith(_ENV_PREFIX):
                value = source.get(value[len(_ENV_PREFIX) :], "")
            out[key] = value
        return out

    @property
    def mode(self) -> str:
        """What the model serves: "chat" (the default) or "embedding" (`model_info.mode`)."""
        return str(self.info.get("mode") or "chat")

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Price of one call from the resolved per-token prices (0 when unknown)."""
        return prompt_tokens * (self.input_cost_per_token or 0.0) + completion_tokens * (
            self.output_cost_per_token or 0.0
        )


def _int_or_none(entry: str, key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CatalogError(f"catalog entry {entry!r}: model_info.{key} must be a whole number >= 0")
    return value


def _float_or_none(entry: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise CatalogError(f"catalog entry {entry!r}: model_info.{key} must be a number >= 0")
    return float(value)


def _unknown(keys: Iterable[str], valid: tuple[str, ...], prefix: str = "") -> str | None:
    """`key (did you mean `x`?)` for the first key not in `valid`, else None."""
    for key in keys:
        if key in valid or (prefix == "model_info." and str(key).startswith("supports_")):
            continue  # LiteLLM's capability flags (supports_vision, ...) are all valid
        match = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
        return f"{prefix}{key}" + (f" (did you mean `{match[0]}`?)" if match else "")
    return None


def _parse_entry(raw: Any, index: int) -> CatalogModel:
    if not isinstance(raw, dict) or not isinstance(raw.get("model_name"), str):
        raise CatalogError(f"model_list[{index}] needs a string model_name")
    name = raw["model_name"]
    bad = _unknown(raw, ENTRY_KEYS)
    if bad is None and isinstance(raw.get("model_info"), dict):
        bad = _unknown(raw["model_info"], MODEL_INFO_KEYS, "model_info.")
    if bad is not None:
        raise CatalogError(f"catalog entry {name!r}: unknown key {bad}")
    params = raw.get("litellm_params")
    if not isinstance(params, dict) or not isinstance(params.get("model"), str):
        raise CatalogError(f"catalog entry {name!r}: litellm_params.model is required")
    info = raw.get("model_info") or {}
    if not isinstance(info, dict):
        raise CatalogError(f"catalog entry {name!r}: model_info must be a mapping")
    tier = info.get("tier", "fast")
    if tier not in ("fast", "powerful"):
        raise CatalogError(f"catalog entry {name!r}: model_info.tier must be fast or powerful")
    categories = tuple(info.get("categories") or ())
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise CatalogError(f"catalog entry {name!r}: unknown categories {unknown}")
    mode = info.get("mode") or "chat"
    if mode not in MODES:
        raise CatalogError(
            f"catalog entry {name!r}: model_info.mode must be one of {', '.join(MODES)}"
        )
    litellm_model: str = params["model"]
    provider = info.get("provider") or litellm_model.split("/", 1)[0]
    return CatalogModel(
        name=name,
        provider=str(provider),
        litellm_model=litellm_model,
        params={k: v for k, v in params.items() if k != "model"},
        tier=cast(Tier, tier),
        categories=categories,
        context_window=_int_or_none(name, "context_window", info.get("context_window")),
        max_output_tokens=_int_or_none(name, "max_output_tokens", info.get("max_output_tokens")),
        rpm=_int_or_none(name, "rpm", info.get("rpm")),
        tpm=_int_or_none(name, "tpm", info.get("tpm")),
        rpd=_int_or_none(name, "rpd", info.get("rpd")),
        tpd=_int_or_none(name, "tpd", info.get("tpd")),
        input_cost_per_token=_float_or_none(
            name, "input_cost_per_token", info.get("input_cost_per_token")
        ),
        output_cost_per_token=_float_or_none(
            name, "output_cost_per_token", info.get("output_cost_per_token")
        ),
        benchmark_id=info.get("benchmark_id") or name,
        description=str(info.get("description", "")),
        info=dict(info),
    )


class Catalog:
    """All configured models by name, with lookups by provider."""

    def __init__(self, models: Iterable[CatalogModel]) -> None:
        self._models: dict[str, CatalogModel] = {}
        for model in models:
            if model.name in self._models:
                raise CatalogError(f"catalog entry {model.name!r} appears twice")
            self._models[model.name] = model

    @classmethod
    def from_model_list(cls, model_list: Any, *, price: bool = True) -> Catalog:
        """Parse LiteLLM's `model_list`; fill prices from LiteLLM's cost map unless overridden."""
        if not isinstance(model_list, list):
            raise CatalogError("model_list must be a list")
        models = [_parse_entry(raw, i) for i, raw in enumerate(model_list)]
        if price:
            from annas_gift.catalog.pricing import with_cost_map_prices

            models = [with_cost_map_prices(m) for m in models]
        return cls(models)

    @classmethod
    def from_yaml(cls, path: Path, *, price: bool = True) -> Catalog:
        """Load a litellm_config.yaml file."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise CatalogError(f"cannot read catalog {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise CatalogError(f"catalog {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise CatalogError(f"catalog {path} must hold a mapping with a model_list")
        bad = _unknown(data, TOP_LEVEL_KEYS)
        if bad is not None:
            raise CatalogError(f"catalog {path}: unknown key {bad}")
        return cls.from_model_list(data.get("model_list") or [], price=price)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __len__(self) -> int:
        return len(self._models)

    def get(self, name: str) -> CatalogModel | None:
        """The model called `name`, or None."""
        return self._models.get(name)

    def all(self) -> list[CatalogModel]:
        """Every model, in file order."""
        return list(self._models.values())

    def by_provider(self, provider: str) -> list[CatalogModel]:
        """The models of one provider label."""
        return [m for m in self._models.values() if m.provider == provider]

    def providers(self) -> list[str]:
        """Provider labels, in first-seen order."""
        return list(dict.fromkeys(m.provider for m in self._models.values()))


def load_catalog_file(
    path: Path, *, explicit: bool, allow_empty: bool = False, price: bool = True
) -> Catalog:
    """The catalog the settings name, refusing a missing or model-less one unless allowed.

    `explicit`: the path was configured (a missing file is then always an error); otherwise it is
    the default, and the error says where it was looked for.
    """
    if not path.exists():
        where = path.expanduser().resolve()
        if explicit:
            raise CatalogError(f"catalog {path} not found (litellm.config_path; looked at {where})")
        if not allow_empty:
            raise CatalogError(
                f"no catalog: looked for {where}; set litellm.config_path "
                "(ANNAS_GIFT_LITELLM__CONFIG_PATH) or litellm.allow_empty_catalog"
            )
        log.warning("catalog %s not found: no models configured (allowed by settings)", where)
        return Catalog([])
    catalog = Catalog.from_yaml(path, price=price)
    if not len(catalog) and not allow_empty:
        raise CatalogError(
            f"catalog {path} has no models; add a model_list or set litellm.allow_empty_catalog"
        )
    return catalog
