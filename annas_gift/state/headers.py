"""Read providers' rate-limit response headers (OpenAI/Groq/Azure, Anthropic, LiteLLM-prefixed)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from annas_gift.state.base import Learned

# LiteLLM re-exports provider headers with this prefix in `_hidden_params["additional_headers"]`.
_LITELLM_PREFIX = "llm_provider-"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_EPOCH_FLOOR = 1_000_000_000.0  # a bare number above this is a Unix timestamp, not seconds
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


def _relevant(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased rate-limit headers only (plain dicts are case-sensitive; providers vary)."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        if name.startswith(_LITELLM_PREFIX):
            name = name[len(_LITELLM_PREFIX) :]
        if "ratelimit" in name or name.startswith("retry-after"):
            out[name] = str(value)
    return out


def parse_duration(value: str, now: float) -> float | None:
    """Seconds until a reset given as seconds, Go duration ("6m0s"), epoch or RFC 3339 time."""
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, number - now if number > _EPOCH_FLOOR else number)
    compact = text.replace(" ", "")
    parts = _DURATION.findall(compact)
    if parts and "".join(n + u for n, u in parts) == compact:
        return sum(float(n) * _UNIT_S[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


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
    found = _relevant(headers)
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


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    found = _relevant(headers)
    if "retry-after-ms" in found:
        try:
            return max(0.0, float(found["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    if "retry-after" in found:
        return parse_duration(found["retry-after"], now)
    return None
