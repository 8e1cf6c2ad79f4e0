"""The offline demo catalog: sandbox models covering both tiers and every category."""

from __future__ import annotations

from typing import Any

from annas_gift.catalog.registry import Catalog

# name, tier, categories, (input, output) USD per token, context window. Prices are
# illustrative so that cost shows up in responses and usage; the sandbox itself is free.
_DEMO_MODELS: list[tuple[str, str, list[str], tuple[float, float], int]] = [
    ("fast-small", "fast", ["chat", "writing", "knowledge"], (5e-8, 1e-7), 8192),
    ("fast-coder", "fast", ["code", "math"], (1e-7, 2e-7), 16384),
    (
        "powerful-large",
        "powerful",
        ["knowledge", "reading", "writing", "chat"],
        (2e-6, 8e-6),
        131072,
    ),
    ("powerful-reasoner", "powerful", ["math", "code", "reading"], (3e-6, 1.2e-5), 65536),
]


# The sandbox's embedding model; its vectors are 256 floats unless `dimensions` asks otherwise.
EMBEDDING_MODEL = "sandbox/embed-small"


def demo_embedding_entry(sandbox_base_url: str, *, api_key: str = "sandbox") -> dict[str, Any]:
    """The LiteLLM entry of the sandbox embedding model (`mode: embedding`, as LiteLLM marks it)."""
    return {
        "model_name": EMBEDDING_MODEL,
        "litellm_params": {
            "model": "openai/embed-small",
            "api_base": sandbox_base_url,
            "api_key": api_key,
        },
        "model_info": {
            "provider": "sandbox",
            "mode": "embedding",
            "tier": "fast",
            "categories": [],
            "context_window": 8192,
            "output_vector_size": 256,
            "input_cost_per_token": 2e-8,
            "output_cost_per_token": 0.0,
            "description": "Offline sandbox embedding model (deterministic vectors)",
        },
    }


def demo_model_list(
    sandbox_base_url: str, *, api_key: str = "sandbox", embeddings: bool = False
) -> list[dict[str, Any]]:
    """LiteLLM `model_list` entries that point at a sandbox upstream.

    `embeddings` adds sandbox/embed-small; off by default until chat routing skips
    `mode: embedding` entries (the auto router would otherwise count it as a chat fallback).
    """
    entries = []
    for short, tier, categories, (inp, out), window in _DEMO_MODELS:
        entries.append(
            {
                "model_name": f"sandbox/{short}",
                "litellm_params": {
                    "model": f"openai/{short}",
                    "api_base": sandbox_base_url,
                    "api_key": api_key,
                },
                "model_info": {
                    "provider": "sandbox",
                    "tier": tier,
                    "categories": categories,
                    "context_window": window,
                    "max_output_tokens": 4096,
                    "input_cost_per_token": inp,
                    "output_cost_per_token": out,
                    "description": f"Offline sandbox model ({tier}) for demos and tests",
                },
            }
        )
    if embeddings:
        entries.append(demo_embedding_entry(sandbox_base_url, api_key=api_key))
    return entries


def demo_catalog(sandbox_base_url: str, *, embeddings: bool = False) -> Catalog:
    """A catalog of the sandbox models (prices come from the entries, not LiteLLM's map)."""
    return Catalog.from_model_list(
        demo_model_list(sandbox_base_url, embeddings=embeddings), price=False
    )
