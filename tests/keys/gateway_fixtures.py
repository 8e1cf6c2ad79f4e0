"""A whole gateway app (create_app) with admin, settings and virtual keys over the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

ADMIN = "sk-admin-keys-test"
CLIENT = "sk-client-keys-test"
# Output is 0.0001 USD a token and input free: a call with max_tokens=10 is estimated at
# exactly 0.001 USD, and the sandbox (pinned to 10 completion tokens) costs exactly that.
PRICE_OUT = 0.0001
COST = 0.001
BODY = {"model": "shared/budget", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


def auth(token: str) -> dict[str, str]:
    """A bearer header."""
    return {"Authorization": f"Bearer {token}"}


def sandbox_defaults() -> dict[str, str]:
    """Upstream model -> behaviour: pinned usage, so every priced cost is known exactly."""
    return {"budget": "tokens=3,10", "overrun": "tokens=3,25", "cheap": "tokens=3,10"}


def model_list(base_url: str) -> list[dict[str, Any]]:
    """Sandbox-backed models with known prices."""

    def entry(name: str, price_out: float, **info: Any) -> dict[str, Any]:
        return {
            "model_name": f"shared/{name}",
            "litellm_params": {"model": f"openai/{name}", "api_base": base_url, "api_key": "sk"},
            "model_info": {
                "provider": "shared",
                "tier": "fast",
                "categories": ["chat"],
                "input_cost_per_token": 0.0,
                "output_cost_per_token": price_out,
                **info,
            },
        }

    return [
        # A strong benchmark: auto's selector picks it over the cheap one when budgets allow.
        entry("budget", PRICE_OUT, benchmark_id="google/gemma-4-31b-it"),  # has an arena rating
        entry("overrun", PRICE_OUT),
        entry("cheap", PRICE_OUT / 100, categories=["code"]),  # not a chat pick on its merits
        entry("other", PRICE_OUT),
    ]


def gateway_settings(db_url: str, tmp: Path, **extra: Any) -> dict[str, Any]:
    """load_settings arguments: one admin key, one settings client key (alice)."""
    return {
        "auth": {"api_keys": [f"alice:{CLIENT}"], "admin_keys": [f"ops:{ADMIN}"]},
        "storage": {
            "database_url": db_url,
            "flush_interval_s": 0.05,
            "spool_path": str(tmp / "spool.jsonl"),
        },
        "litellm": {"timeout_s": 5.0},
        **extra,
    }


async def create_key(client: httpx.AsyncClient, **fields: Any) -> tuple[str, str]:
    """Create a virtual key as the admin; returns (id, secret)."""
    made = await client.post("/api/v1/keys", json=fields, headers=auth(ADMIN))
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["secret"]
