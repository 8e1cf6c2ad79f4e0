"""Response-cache policy and key derivation, plus the bounded in-process LRU store.

Policy (`is_cacheable`), in order of precedence:
1. `cache: false` in the request: never cached.
2. `stream: true` or `n` > 1: never cached (the cache holds one non-streamed answer), even
   with `cache: true`.
3. `cache: true`: cached whatever the temperature (the client accepts a repeated answer).
4. Otherwise only deterministic requests: `temperature` present and 0. An absent temperature
   is not cacheable, because OpenAI's default temperature is 1.
Errors are never cached: the caller stores only successful answers.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import orjson

KEY_VERSION = "v1"
# Request fields that do not change the answer (transport, bookkeeping, the policy itself).
_IGNORED_PARAMS = frozenset(
    {
        "cache",
        "stream",
        "stream_options",
        "user",
        "metadata",
        "timeout",
        "request_timeout",
        "extra_headers",
        "api_key",
        "model",
        "messages",
    }
)


def is_cacheable(params: Mapping[str, Any]) -> bool:
    """Whether the answer to this request may be served from / stored in the cache."""
    forced = params.get("cache")
    if forced is False:
        return False
    if params.get("stream"):
        return False
    n = params.get("n")
    if n is not None and n != 1:
        return False
    if forced is True:
        return True
    temperature = params.get("temperature")
    return (
        isinstance(temperature, (int, float))
        and not isinstance(temperature, bool)
        and temperature == 0
    )


def _normal(value: Any) -> Any:
    # 0 and 0.0 ask for the same answer; orjson would serialize them differently.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def cache_key(model: str, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> str:
    """A stable hash of exactly what determines the answer: model, messages, sampling params."""
    relevant = {
        k: _normal(v)
        for k, v in params.items()
        if k not in _IGNORED_PARAMS and v is not None and not (k == "n" and v == 1)
    }
    blob = orjson.dumps(
        [KEY_VERSION, model, messages, relevant], option=orjson.OPT_SORT_KEYS, default=str
    )
    return hashlib.blake2b(blob, digest_size=20).hexdigest()


class LruCache:
    """At most `max_entries` values, least recently used evicted first, each with its own TTL."""

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self._max = max(0, max_entries)
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> bytes | None:
        """The live value (refreshing its recency), or None."""
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return item[1]

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store (or replace) a value; evict the least recently used beyond the bound."""
        if ttl_s <= 0 or self._max == 0:
            return
        self._data[key] = (self._clock() + ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)
