"""Names the settings validate and the packages above them use: rotation policies, weights.

They live in the leaf package so that `settings` can refuse a bad value at load (for every
command, not only `serve`) without importing `egress` or `routing`.
"""

from __future__ import annotations

POLICIES = ("round_robin", "random", "least_used", "timed", "sticky")
_ALIASES = {
    "roundrobin": "round_robin",
    "rr": "round_robin",
    "least_recently_used": "least_used",
    "interval": "timed",
    "every_n_minutes": "timed",
    "sticky_per_provider": "sticky",
}
# The selector's score components, in the order its weights are applied.
COMPONENTS = ("benchmark_rank", "benchmark_score", "headroom", "cost", "latency", "health")


def normalize_policy(name: str) -> str:
    """The canonical policy name (case and `-`/`_` insensitive); ValueError if unknown."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in POLICIES:
        raise ValueError(f"unknown rotation policy {name!r} (use one of: {', '.join(POLICIES)})")
    return key
