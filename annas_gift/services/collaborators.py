"""What the chat service works with, as small interfaces, and the "null" ones used when off.

Every collaborator always exists: a gateway without Redis, Portkey or a VPN gets `NoCache`-style
stand-ins that do nothing, so the service never checks for None.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.core import errors
from annas_gift.core.events import ClassificationEvent, SelectionEvent, UsageEvent
from annas_gift.core.types import ChatInput
from annas_gift.egress.policies import ProxyChoice
from annas_gift.monitoring.metrics import GatewayMetrics
from annas_gift.services.prompt_excerpts import no_prompt_excerpt
from annas_gift.services.types import RoutePlan
from annas_gift.state import ModelLiveState
from annas_gift.state.budgets import Reservation
from annas_gift.upstream.base import Completion, Usage
from annas_gift.upstream.portkey_client import TraceEvent

T = TypeVar("T")


class Planner(Protocol):
    """Turns an `auto` request into a plan (`services.auto_routing.AutoRouter` implements it)."""

    def plan(
        self, inp: ChatInput, catalog: Catalog, live: Mapping[str, ModelLiveState] | None = None
    ) -> RoutePlan:
        """The ordered models to try for this request."""
        ...


class Recorder(Protocol):
    """Where usage and routing decisions go (the usage tracker: journal, then the database)."""

    def record_request(
        self, event: UsageEvent, decision: tuple[ClassificationEvent, SelectionEvent] | None = None
    ) -> None:
        """Record one attempt's usage (and the request's decision with it), off the request path."""
        ...

    def record_decision(
        self, classification: ClassificationEvent | None, selection: SelectionEvent | None
    ) -> None:
        """Record an auto-routing decision, off the request path."""
        ...


class Tracer(Protocol):
    """Observability for finished requests (Portkey)."""

    enabled: bool

    def trace_id_for(self, request_id: str) -> str:
        """The trace id a request is filed under."""
        ...

    def record(self, trace: TraceEvent) -> None:
        """Queue one entry; never blocks."""
        ...


class Egress(Protocol):
    """The VPN: which providers go through it, and a call with failover between endpoints."""

    def routes(self, provider: str) -> bool:
        """Whether calls to `provider` leave through an egress endpoint."""
        ...

    async def call_with_failover(
        self, provider: str, call: Callable[[ProxyChoice | None], Awaitable[T]]
    ) -> tuple[T, int]:
        """`call` through an endpoint, moving on after a connection failure."""
        ...


class LimitsGate(Protocol):
    """Rate limits and health around each request and attempt (`services.limits.Limits`)."""

    async def admit_client(self, key_id: str | None, est_tokens: int) -> None:
        """Count the request against its key's limits; RateLimited when over."""
        ...

    async def snapshot(
        self, models: Sequence[CatalogModel], max_age_s: float
    ) -> Mapping[str, ModelLiveState] | None:
        """Every model's live state (None: no state to rank by)."""
        ...

    async def admit_model(
        self, model: CatalogModel, est_tokens: int
    ) -> tuple[str | None, errors.GatewayError | None]:
        """(ticket, None) when the model may be called, else (None, the error)."""
        ...

    def succeeded(
        self,
        model: CatalogModel,
        *,
        est_tokens: int,
        usage: Usage,
        headers: Mapping[str, str],
        latency_ms: float,
        ticket: str | None,
    ) -> None:
        """Settle a successful call, off the request path."""
        ...

    async def failed(
        self, model: CatalogModel, exc: errors.GatewayError, latency_ms: float
    ) -> None:
        """Report a failed call at once."""
        ...

    async def drain(self) -> None:
        """Wait for background bookkeeping (shutdown)."""
        ...


class BudgetGate(Protocol):
    """A key's allowed models and USD budgets (`services.key_budgets.KeyBudgets`)."""

    def check_request(self, key_id: str | None, inp: ChatInput) -> None:
        """403 when the request names a model the key may not use."""
        ...

    async def shape(self, key_id: str | None, inp: ChatInput, plan: RoutePlan) -> RoutePlan:
        """An `auto` plan kept to the key's models (cheapest first near a budget's limit)."""
        ...

    async def reserve(
        self, key_id: str | None, model: CatalogModel, inp: ChatInput
    ) -> Reservation | None:
        """Hold an attempt's estimated cost; 429/403 budget_exceeded when over a budget."""
        ...

    async def settle(self, hold: Reservation | None, cost_usd: float) -> None:
        """Replace the hold by the real cost."""
        ...

    async def release(self, hold: Reservation | None) -> None:
        """Give a failed attempt's hold back."""
        ...


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A stored completion and its provenance."""

    completion: Completion
    model_name: str
    cost_usd: float


class AnswerCache(Protocol):
    """The exact-match response cache (`services.response_cache.ResponseCache`)."""

    def key_for(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any], *,
        cache: bool | None, stream: bool,
    ) -> str | None:  # fmt: skip
        """The cache key, or None when this request must not be cached."""
        ...

    async def get(self, key: str) -> CachedAnswer | None:
        """The stored answer, if any."""
        ...

    async def put(self, key: str, completion: Completion, model_name: str, cost: float) -> None:
        """Store a successful answer."""
        ...


class NoLimits:
    """No shared state: every request and model is admitted and nothing is counted."""

    async def admit_client(self, key_id: str | None, est_tokens: int) -> None:
        """Admit everyone."""

    async def snapshot(
        self, models: Sequence[CatalogModel], max_age_s: float
    ) -> Mapping[str, ModelLiveState] | None:
        """No live state: the planner ranks by the catalog alone."""
        return None

    async def admit_model(
        self, model: CatalogModel, est_tokens: int
    ) -> tuple[str | None, errors.GatewayError | None]:
        """Admit every model."""
        return None, None

    def succeeded(
        self,
        model: CatalogModel,
        *,
        est_tokens: int,
        usage: Usage,
        headers: Mapping[str, str],
        latency_ms: float,
        ticket: str | None,
    ) -> None:
        """Nothing to settle."""

    async def failed(
        self, model: CatalogModel, exc: errors.GatewayError, latency_ms: float
    ) -> None:
        """Nothing to report to."""

    async def drain(self) -> None:
        """Nothing pending."""


class NoBudgets:
    """No budgets: every model allowed, nothing reserved."""

    def check_request(self, key_id: str | None, inp: ChatInput) -> None:
        """Allow everything."""

    async def shape(self, key_id: str | None, inp: ChatInput, plan: RoutePlan) -> RoutePlan:
        """The plan as it is."""
        return plan

    async def reserve(
        self, key_id: str | None, model: CatalogModel, inp: ChatInput
    ) -> Reservation | None:
        """Hold nothing."""
        return None

    async def settle(self, hold: Reservation | None, cost_usd: float) -> None:
        """Nothing held."""

    async def release(self, hold: Reservation | None) -> None:
        """Nothing held."""


class NoCache:
    """No response cache: every request goes to a model."""

    def key_for(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any], *,
        cache: bool | None, stream: bool,
    ) -> str | None:  # fmt: skip
        """Never cacheable."""
        return None

    async def get(self, key: str) -> CachedAnswer | None:
        """Always a miss."""
        return None

    async def put(self, key: str, completion: Completion, model_name: str, cost: float) -> None:
        """Stores nothing."""


class NoTracer:
    """Tracing off."""

    enabled = False

    def trace_id_for(self, request_id: str) -> str:
        """The request id itself."""
        return request_id

    def record(self, trace: TraceEvent) -> None:
        """Drops the entry."""


class NoEgress:
    """No VPN: every call goes direct."""

    def routes(self, provider: str) -> bool:
        """No provider goes through a VPN."""
        return False

    async def call_with_failover(
        self, provider: str, call: Callable[[ProxyChoice | None], Awaitable[T]]
    ) -> tuple[T, int]:
        """The call, direct."""
        return await call(None), 0


class NoPlanner:
    """No auto routing configured: `auto` requests are refused with a clear 404."""

    def plan(
        self, inp: ChatInput, catalog: Catalog, live: Mapping[str, ModelLiveState] | None = None
    ) -> RoutePlan:
        """Always refuses."""
        raise errors.ModelNotFound(
            f"model {inp.model!r} needs the router, which is not configured", param="model"
        )


NO_LIMITS, NO_CACHE, NO_TRACER, NO_EGRESS = NoLimits(), NoCache(), NoTracer(), NoEgress()
NO_BUDGETS = NoBudgets()


@dataclass(frozen=True, slots=True)
class ChatCollaborators:
    """Everything the chat service calls besides the catalog and the upstream; all always exist."""

    recorder: Recorder
    planner: Planner
    limits: LimitsGate = NO_LIMITS
    cache: AnswerCache = NO_CACHE
    tracer: Tracer = NO_TRACER
    egress: Egress = NO_EGRESS
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)  # unread unless /metrics is
    budgets: BudgetGate = NO_BUDGETS
    clock: Callable[[], float] = time.perf_counter  # monotonic seconds, the service clock
    # `logging.store_prompts`: what of the prompt the usage rows keep (prompt_excerpts.py).
    prompt_excerpt: Callable[[ChatInput], str | None] = no_prompt_excerpt
