"""Settings for roles, virtual keys and budgets (to be merged into `settings.Settings`).

Kept apart while settings.py is being rewritten; docs/keys.md lists every option.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

ADMIN_KEY_ENV = "ANNAS_GIFT_ADMIN_KEY"


def split_keys(value: Any) -> Any:
    """A comma-separated string of keys as a list; empty entries (`${KEY:-}`) dropped."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [v for v in value if not (isinstance(v, str) and not v.strip())]
    return value


class _Strict(BaseModel):
    """A settings section: a misspelled key is an error, not silently a default."""

    model_config = ConfigDict(extra="forbid")


class AdminKeySettings(_Strict):
    """`auth.admin_keys`: keys that administer (keys, VPN, all usage, dashboard, alerts)."""

    # Named ("ops:sk-...") or bare, like auth.api_keys; the name is the key id usage records.
    admin_keys: list[SecretStr] = Field(default_factory=list)

    # Not `_split`: AuthSettings's own `_split` (for api_keys) would override it.
    @field_validator("admin_keys", mode="before")
    @classmethod
    def _split_admin_keys(cls, value: Any) -> Any:
        return split_keys(value)


def admin_keys_from_env(env: dict[str, str] | None = None) -> dict[str, Any]:
    """What `ANNAS_GIFT_ADMIN_KEY` contributes to the settings' `auth` section."""
    source = os.environ if env is None else env
    keys = source.get(ADMIN_KEY_ENV)
    return {"admin_keys": keys} if keys else {}


class VirtualKeySettings(_Strict):
    """`keys.*`: virtual keys stored in the database."""

    enabled: bool = True
    # Full reload of the key cache; with Redis, changes also arrive within a second by pub/sub.
    refresh_interval_s: float = Field(default=30.0, gt=0)


class BudgetSettings(_Strict):
    """`budgets.*`: the gateway-wide cap and how budgets shape routing."""

    # Global caps in USD over every key (None: unlimited); per-key and per-team budgets live
    # with the keys in the database.
    global_daily_usd: float | None = Field(default=None, ge=0)
    global_monthly_usd: float | None = Field(default=None, ge=0)
    global_total_usd: float | None = Field(default=None, ge=0)
    # Output tokens reserved when a request sets no max_tokens and the model no
    # model_info.typical_output_tokens.
    typical_output_tokens: int = Field(default=256, gt=0)
    # `auto` prefers cheaper models once any budget of the key is this full (1 = never).
    prefer_cheaper: bool = True
    prefer_cheaper_at: float = Field(default=0.8, gt=0, le=1)
    # Fractions of a budget at which an alert fires (once per budget and period).
    alert_thresholds: list[float] = Field(default_factory=lambda: [0.8, 1.0])

    @field_validator("alert_thresholds")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < v <= 1 for v in value):
            raise ValueError("alert thresholds are fractions in (0, 1]")
        return sorted(set(value))
