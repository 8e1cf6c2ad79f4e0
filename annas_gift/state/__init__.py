"""Shared gateway state: rate-limit windows, cooldowns, health, in-flight counts, response cache.

In process by default; shared through Redis (atomic Lua scripts) when a URL is configured, with
a per-instance fallback while Redis is unreachable. Per request the gateway calls, in order:
`admit_client`, `snapshot` (ranking), `admit` (per candidate, until one is admitted),
`inflight(+1)`, the upstream call, `inflight(-1)`, `settle(..., ticket=admission.ticket)` and
`report`; `cache_get`/`cache_set` around it when `is_cacheable`.
"""

from annas_gift.state.base import Admission, ModelLiveState
from annas_gift.state.breaker import HealthPolicy
from annas_gift.state.cache import cache_key, is_cacheable
from annas_gift.state.facade import GatewayState

__all__ = [
    "Admission",
    "GatewayState",
    "HealthPolicy",
    "ModelLiveState",
    "cache_key",
    "is_cacheable",
]
