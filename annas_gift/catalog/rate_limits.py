"""Rate-limit specs: what a catalog model (or a gateway client key) may spend per window.

Limits come from each model's `model_info` (rpm, tpm, rpd, tpd) and from the per-key client
limits in settings; `annas_gift.state` enforces them. A missing limit means unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from annas_gift.catalog.registry import CatalogModel

Unit = Literal["requests", "tokens"]
MINUTE_S = 60
DAY_S = 86_400

# (catalog field, unit, window) in the order snapshots and denials report them.
_MODEL_FIELDS: tuple[tuple[str, Unit, int], ...] = (
    ("rpm", "requests", MINUTE_S),
    ("tpm", "tokens", MINUTE_S),
    ("rpd", "requests", DAY_S),
    ("tpd", "tokens", DAY_S),
)
LIMIT_NAMES: tuple[str, ...] = tuple(name for name, _, _ in _MODEL_FIELDS)


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One budget: at most `limit` requests or tokens in any `window_s`-second sliding window."""

    unit: Unit
    window_s: int
    limit: int
    name: str


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """Per-key limits on the gateway's own clients (None = unlimited)."""

    rpm: int | None = None
    tpm: int | None = None


def limits_for(model: CatalogModel) -> tuple[LimitSpec, ...]:
    """The model's configured limits: rpm, tpm (60 s) and rpd, tpd (86,400 s); None = unlimited."""
    out: list[LimitSpec] = []
    for name, unit, window in _MODEL_FIELDS:
        value = getattr(model, name)
        if value is not None:
            out.append(LimitSpec(unit=unit, window_s=window, limit=value, name=name))
    return tuple(out)


def client_limit_specs(limits: ClientLimits) -> tuple[LimitSpec, ...]:
    """A client key's limits as specs (rpm and tpm over 60 s)."""
    out: list[LimitSpec] = []
    if limits.rpm is not None:
        out.append(LimitSpec(unit="requests", window_s=MINUTE_S, limit=limits.rpm, name="rpm"))
    if limits.tpm is not None:
        out.append(LimitSpec(unit="tokens", window_s=MINUTE_S, limit=limits.tpm, name="tpm"))
    return tuple(out)
