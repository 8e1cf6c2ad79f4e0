"""Read providers' rate-limit response headers (OpenAI/Groq/Azure, Anthropic, LiteLLM-prefixed)."""

from __future__ import annotations

from collections.abc import Mapping

from annas_gift.core.headers import parse_duration, rate_limit_headers
from annas_gift.state.base import Learned

DEFAULT_RESET_S = 60.0  # providers that omit the reset header are nearly always per-minute

_REMAINING = {
    "x-ratelimit-remaining-requests": "requests",
    "x-ratelimit-remaining-tokens": "tokens",
    "anthropic-ratelimit-requests-remaining": "requests",
    "anthropic-ratelimit-tokens-remaining": "tokens",
}
_RESET = {
    "x-ratelimit-reset-requests": "requests",
    "x-ratelimit-reset-tokens": "tokens",
    "anthropic-ratelimit-requests-reset": "requests",
    "anthropic-ratelimit-tokens-reset": "tokens",
}


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return max(0, int(float(value)))
    except ValueError:
        return None


def learned_from_headers(headers: Mapping[str, str], now: float) -> Learned:
    """The remaining request/token budgets and their resets that the provider reported."""
    if not headers:
        return Learned()
    found = rate_limit_headers(headers)
    remaining: dict[str, int | None] = {"requests": None, "tokens": None}
    reset: dict[str, float | None] = {"requests": None, "tokens": None}
    for name, unit in _REMAINING.items():
        if name in found and remaining[unit] is None:
            remaining[unit] = _int(found[name])
    for name, unit in _RESET.items():
        if name in found and reset[unit] is None:
            reset[unit] = parse_duration(found[name], now)
    req_reset, tok_reset = reset["requests"], reset["tokens"]
    return Learned(
        requests=remaining["requests"],
        requests_reset_s=DEFAULT_RESET_S if req_reset is None else req_reset,
        tokens=remaining["tokens"],
        tokens_reset_s=DEFAULT_RESET_S if tok_reset is None else tok_reset,
    )
