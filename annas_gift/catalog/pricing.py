"""Per-token prices: LiteLLM's bundled cost map, overridable per model in `model_info`.

Prices are resolved once when the catalog loads, so pricing a request is two multiplications.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from annas_gift.catalog.registry import CatalogModel


def _cost_map() -> dict[str, Any]:
    import litellm  # heavy import; only needed when a catalog is priced

    return litellm.model_cost


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
