"""The exact-match response cache: repeated deterministic requests are answered from state.

One cache for every instance when Redis is configured. Only successful whole completions are
stored, with the model that produced them and what they cost, so a hit can report the saving.
"""

from __future__ import annotations

from typing import Any

import orjson

from annas_gift.services.collaborators import CachedAnswer
from annas_gift.state import GatewayState, cache_key, is_cacheable
from annas_gift.upstream.base import Completion, Usage


class ResponseCache:
    """Looks up and stores answers under a key derived from the request."""

    def __init__(self, state: GatewayState, ttl_s: int) -> None:
        self.state = state
        self.ttl_s = ttl_s

    def key_for(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any], *,
        cache: bool | None, stream: bool,
    ) -> str | None:  # fmt: skip
        """The cache key, or None when this request must not be cached."""
        if self.ttl_s <= 0 or not is_cacheable({**params, "cache": cache, "stream": stream}):
            return None
        return cache_key(model, messages, params)

    async def get(self, key: str) -> CachedAnswer | None:
        """The stored answer for `key`, if any (a corrupt entry counts as a miss)."""
        raw = await self.state.cache_get(key)
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
            usage = Usage(int(data["usage"][0]), int(data["usage"][1]))
            completion = Completion(body=data["body"], usage=usage)
            return CachedAnswer(completion, str(data["model"]), float(data["cost"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
            return None

    async def put(self, key: str, completion: Completion, model_name: str, cost: float) -> None:
        """Store a successful answer for ttl_s seconds."""
        usage = completion.usage
        blob = orjson.dumps(
            {
                "body": completion.body,
                "usage": [usage.prompt_tokens, usage.completion_tokens],
                "model": model_name,
                "cost": cost,
            }
        )
        await self.state.cache_set(key, blob, self.ttl_s)
