"""What "Redis is down" means, without importing the Redis client where no Redis is configured.

Importing `redis` loads about 6 MB of modules (its observability layer pulls in OpenTelemetry's
metrics too) that the embedded default never uses, so the state modules import it only when
they build a client, and name its exceptions through `redis_down()`.
"""

from __future__ import annotations

from functools import cache


@cache
def redis_down() -> tuple[type[BaseException], ...]:
    """Connection refused or reset, timeouts, a Redis restarting or failing over: "not now".

    Called in `except` clauses that only run with a Redis client, which imported redis already.
    """
    from redis.exceptions import RedisError

    return (RedisError, OSError)
