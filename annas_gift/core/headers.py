"""Reading provider response headers: durations, resets and `Retry-After`, in one place."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

# LiteLLM re-exports provider headers with this prefix in `_hidden_params["additional_headers"]`.
LITELLM_PREFIX = "llm_provider-"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_EPOCH_FLOOR = 1_000_000_000.0  # a bare number above this is a Unix timestamp, not seconds


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased rate-limit headers only (plain dicts are case-sensitive; providers vary)."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        if name.startswith(LITELLM_PREFIX):
            name = name[len(LITELLM_PREFIX) :]
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


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    if not headers:
        return None
    found = rate_limit_headers(headers)
    if "retry-after-ms" in found:
        try:
            return max(0.0, float(found["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    if "retry-after" in found:
        return parse_duration(found["retry-after"], time.time() if now is None else now)
    return None
