"""Jinja2 filters that format the dashboard's numbers one way everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def count(value: int | float | None) -> str:
    """An integer with thousands separators; an em dash for none."""
    return "—" if value is None else f"{int(value):,}"


def usd(value: float | None) -> str:
    """Dollars: cents above $1, else six decimals so small per-request costs stay visible."""
    if value is None:
        return "—"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.6f}"


def ms(value: float | None) -> str:
    """Milliseconds, one decimal."""
    return "—" if value is None else f"{value:,.1f} ms"


def pct(value: float | None) -> str:
    """A 0..1 fraction as a percentage."""
    return "—" if value is None else f"{value * 100:.1f}%"


def num(value: float | None, digits: int = 3) -> str:
    """A float to `digits` decimals."""
    return "—" if value is None else f"{value:.{digits}f}"


FILTERS: dict[str, Callable[..., Any]] = {
    "count": count,
    "usd": usd,
    "ms": ms,
    "pct": pct,
    "num": num,
}
