"""Connection limits for the gateway's HTTP server, and the uvicorn configuration applying them."""

from __future__ import annotations

import dataclasses
import logging
import resource
from dataclasses import dataclass
from typing import Any

import uvicorn

log = logging.getLogger("annas_gift.server")

# File descriptors kept free beyond max_connections: database and Redis pools, upstream
# connections, log and key files.
_FD_RESERVE = 256


@dataclass(frozen=True)
class ServerLimits:
    """What a single client connection may cost the server, enforced before any app code runs."""

    # Request line plus header lines, in bytes. A bigger head gets 431 and the connection closes.
    max_header_bytes: int = 64 * 1024
    # From the first byte of a request to the end of its headers. Slower: 408 and close.
    header_timeout_s: float = 30.0
    # A request body must finish within this window, or keep arriving at body_min_rate bytes/s
    # averaged over each window; otherwise 408 and close. Writing the response is never timed.
    body_timeout_s: float = 30.0
    body_min_rate: int = 1024
    # A connection with no request in progress (new or between keep-alive requests) is closed.
    keepalive_timeout_s: float = 5.0
    # Open connections, idle ones included; the next one gets 503 and is closed at once.
    max_connections: int = 1024
    # After an error reply the server keeps reading (and discarding) for up to this long, so the
    # client can read the reply instead of a connection reset.
    linger_s: float = 2.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kind = int if field.type == "int" else int | float
            if not isinstance(value, kind) or isinstance(value, bool) or value <= 0:
                noun = "integer" if kind is int else "number"
                raise ValueError(f"server limit {field.name} must be a positive {noun}: {value!r}")

    @classmethod
    def from_settings(cls, section: Any) -> ServerLimits:
        """Limits from any object with attributes named like the fields (e.g. settings.server)."""
        defaults = cls()
        values = {
            f.name: getattr(section, f.name, getattr(defaults, f.name))
            for f in dataclasses.fields(cls)
        }
        return cls(**values)


def build_config(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    limits: ServerLimits | None = None,
) -> uvicorn.Config:
    """The uvicorn configuration that serves `app` with the limits on httptools."""
    from annas_gift.server.protocol import protocol_class

    limits = limits or ServerLimits()
    ensure_fd_budget(limits.max_connections + _FD_RESERVE)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # the gateway writes its own JSON access log, without secrets
        loop="auto",
        # httptools is a pinned dependency; the guarded protocol is built on it, so h11 is
        # never chosen behind our back.
        http=protocol_class(limits),
        ws="none",  # the gateway has no WebSocket routes; an Upgrade is answered as plain HTTP
        timeout_keep_alive=limits.keepalive_timeout_s,  # type: ignore[arg-type]
        # The protocol caps connections itself (with an OpenAI-shaped 503); each connection runs
        # one request at a time, so that also caps concurrent requests.
        limit_concurrency=None,
    )


def serve(
    app: Any, *, host: str, port: int, log_level: str = "info", limits: ServerLimits | None = None
) -> None:
    """Run the gateway app until interrupted, with the limits applied."""
    uvicorn.Server(
        build_config(app, host=host, port=port, log_level=log_level, limits=limits)
    ).run()


def ensure_fd_budget(needed: int) -> int:
    """Raise the soft open-files limit towards `needed` (up to the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return needed if soft == resource.RLIM_INFINITY else soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning(
            "open-files limit %d is below max_connections + %d; connections beyond it fail at "
            "accept (raise `ulimit -n` or lower server.max_connections)",
            target,
            _FD_RESERVE,
        )
    return target
