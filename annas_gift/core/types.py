"""Value types every layer shares: a chat request, its context, and one attempt's report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# The model names that ask the gateway to choose (any tier, or a forced one).
AUTO_MODELS = ("auto", "auto:fast", "auto:powerful")


@dataclass(slots=True)
class ChatInput:
    """A chat request, whichever API it came from."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    fallbacks: list[str] = field(default_factory=list)
    cache: bool | None = None  # the request's cache opt-in/opt-out (None: policy decides)


@dataclass(slots=True)
class RequestContext:
    """Who asked, on which route, and when (service clock) the request started."""

    request_id: str
    key_id: str | None
    route: str
    started: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class Attempt:
    """One call to one model, as reported back to the client."""

    model: str
    provider: str
    status: int
    error: str | None = None
    message: str | None = None
    latency_ms: float = 0.0
    retry_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form clients see in `attempts` (retry_after stays internal)."""
        return {
            "model": self.model,
            "provider": self.provider,
            "status": self.status,
            "error": self.error,
            "message": self.message,
            "latency_ms": round(self.latency_ms, 2),
        }
