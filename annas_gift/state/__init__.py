"""Shared gateway state: rate-limit windows, cooldowns, health, in-flight counts, response cache.

In process by default; shared through Redis (atomic Lua scripts) when a URL is configured.
"""

from annas_gift.state.base import Admission, ModelLiveState
from annas_gift.state.cache import cache_key, is_cacheable
from annas_gift.state.facade import GatewayState
from annas_gift.state.headers import parse_retry_after

__all__ = [
    "Admission",
    "GatewayState",
    "ModelLiveState",
    "cache_key",
    "is_cacheable",
    "parse_retry_after",
]
