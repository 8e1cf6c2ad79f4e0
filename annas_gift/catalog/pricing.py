"""Per-token prices: LiteLLM's bundled cost map, overridable per model in `model_info`.

Prices are resolved once when the catalog loads, so pricing a request is two multiplications.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from annas_gift.catalog.registry import CatalogModel

_COST_MAP_FILE = "model_prices_and_context_window_backup.json"


@functools.cache
def _cost_map() -> dict[str, Any]:
    # LiteLLM's bundled cost map, read as a file: importing litellm for it would cost seconds
    # and ~100 MB when every model goes down the direct path.
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / _COST_MAP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # pragma: no cover - a broken install prices at 0
        return {}
    return data if isinstance(data, dict) else {}


def lookup_prices(litellm_model: str) -> tuple[float | None, float | None]:
    """(input, output) USD per token for a LiteLLM model id, or (None, None) if unknown."""
    costs = _cost_map()
    candidates = [litellm_model]
    if "/" in litellm_model:
        candidates.append(litellm_model.split("/", 1)[1])
    for key in candidates:
        entry = costs.get(key)
        if isinstance(entry, dict) and "input_cost_per_token" in entry:
            return entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    return None, None


def with_cost_map_prices(model: CatalogModel) -> CatalogModel:
    """The model with any price `model_info` leaves unset taken from the cost map."""
    if model.input_cost_per_token is not None and model.output_cost_per_token is not None:
        return model
    inp, out = lookup_prices(model.litellm_model)
    return dataclasses.replace(
        model,
        input_cost_per_token=model.input_cost_per_token
        if model.input_cost_per_token is not None
        else inp,
        output_cost_per_token=model.output_cost_per_token
        if model.output_cost_per_token is not None
        else out,
    )
