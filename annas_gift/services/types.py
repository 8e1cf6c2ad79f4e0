"""The chat service's own value types: its configuration, plans, attempt results and answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core.types import Attempt
from annas_gift.routing.benchmark_selector import Selection
from annas_gift.routing.task_classifier import TaskClassification
from annas_gift.state.budgets import Reservation
from annas_gift.upstream.base import Completion

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """The chat service's settings, as one value."""

    attempt_timeout_s: float = 60.0  # one model's call
    request_timeout_s: float = 120.0  # the whole request, fallbacks included
    snapshot_max_age_s: float = 0.05  # how stale the live model state may be for ranking
    env: Mapping[str, str] | None = None  # where provider keys are looked up (None: os.environ)


@dataclass(slots=True)
class RoutePlan:
    """The models to try, in order, and the decision behind them (for auto requests)."""

    models: list[CatalogModel]
    explicit: bool
    tier: str | None = None
    category: str | None = None
    classification: TaskClassification | None = None
    selection: Selection | None = None

    def tier_of(self, served: CatalogModel) -> str | None:
        """The tier to report: an explicit request may be served by a fallback of another tier."""
        return served.tier if self.explicit else self.tier


@dataclass(slots=True)
class AttemptSuccess(Generic[T]):
    """The attempt that answered: which model, what it returned, how long, what it reserved."""

    model: CatalogModel
    value: T
    attempts: list[Attempt]
    began: float
    took_ms: float
    est_tokens: int = 0
    ticket: str | None = None
    hold: Reservation | None = None  # the budget reservation, settled with the real cost


@dataclass(slots=True)
class ChatResult:
    """A whole chat answer with the decision and bookkeeping the routes report."""

    completion: Completion
    model: CatalogModel
    plan: RoutePlan
    attempts: list[Attempt]
    cost_usd: float
    latency_ms: float
    cache: str = "miss"  # "hit" when answered from the response cache
