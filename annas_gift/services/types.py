"""The chat service's value types: its input, context, attempts, plans and results."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.monitoring.events import ClassificationEvent, SelectionEvent, UsageEvent
from annas_gift.upstream.base import Completion

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
        return {
            "model": self.model,
            "provider": self.provider,
            "status": self.status,
            "error": self.error,
            "message": self.message,
            "latency_ms": round(self.latency_ms, 2),
        }


@dataclass(slots=True)
class RoutePlan:
    """The models to try, in order, and the decision behind them (for auto requests)."""

    models: list[CatalogModel]
    explicit: bool
    tier: str | None = None
    category: str | None = None
    classification: Any = None
    selection: Any = None

    def tier_of(self, served: CatalogModel) -> str | None:
        """The tier to report: an explicit request may be served by a fallback of another tier."""
        return served.tier if self.explicit else self.tier


class Router(Protocol):
    """Turns an `auto` request into a plan (the routing package implements it)."""

    def plan(
        self, inp: ChatInput, catalog: Catalog, live: Mapping[str, Any] | None = None
    ) -> RoutePlan: ...


class Recorder(Protocol):
    def record_request(self, event: UsageEvent) -> None: ...

    def record_decision(
        self, classification: ClassificationEvent | None, selection: SelectionEvent | None
    ) -> None: ...


T = TypeVar("T")


@dataclass(slots=True)
class Outcome(Generic[T]):
    """The successful attempt of the attempt loop: which model, what it returned, how long."""

    model: CatalogModel
    value: T
    attempts: list[Attempt]
    began: float
    took_ms: float
    est_tokens: int = 0
    ticket: str | None = None


@dataclass(slots=True)
class ChatResult:
    completion: Completion
    model: CatalogModel
    plan: RoutePlan
    attempts: list[Attempt]
    cost_usd: float
    latency_ms: float
    cache: str = "miss"  # "hit" when answered from the response cache
