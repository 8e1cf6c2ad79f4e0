"""Bodies of the operations routes (`GET /api/v1/alerts`, `GET /api/v1/decisions`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class AlertOut(BaseModel):
    """One alert: the rule that holds (or held) for one subject."""

    rule: str = Field(description="e.g. error_rate, model_error_rate, breaker_open, spend_day")
    subject: str = Field(description="what it is about: a model, a tier, an endpoint, 'gateway'")
    severity: Literal["warning", "critical"]
    summary: str
    value: float | None
    threshold: float | None
    incident_id: str = Field(description="the same on every instance that sees the incident")
    started_at: datetime
    resolved_at: datetime | None
    state: Literal["firing", "resolved"]


class AlertsOut(BaseModel):
    """Alerts firing now (oldest first) and recently resolved ones (newest first)."""

    enabled: bool = Field(description="false: alerts.enabled is off and nothing is evaluated")
    active: list[AlertOut]
    recent: list[AlertOut]


class RankedModelOut(BaseModel):
    """One candidate of a stored ranking, as the selector scored it."""

    rank: int = Field(description="1 = the selector's first choice; the fallback order")
    name: str
    provider: str
    tier: str
    score: float = Field(description="total selection score, 0..1 (rounded to 4 decimals)")
    benchmark_score: float | None = Field(description="category score, 0..100 points")
    benchmark_imputed: bool = Field(description="no published number in the category: estimated")
    in_category: bool = Field(description="the catalog lists the request's category for it")
    components: dict[str, float] = Field(description="each score component, 0..1")
    benchmark_value: float | None = Field(
        description="its number on the benchmark that decided (0..100 points)"
    )
    benchmark_value_imputed: bool
    chosen: bool = Field(description="the model that was recorded as serving the request")
    runner_up: bool = Field(description="the best-ranked different model (the explanation's)")


class ExclusionOut(BaseModel):
    model: str
    reason: str


class RankingOut(BaseModel):
    """The ranking that decided an `auto` request, as stored with it (top 10 and the runner-up)."""

    ranked: int = Field(description="how many models were ranked (eligible)")
    decided_by: str | None = Field(
        description="benchmark, headroom, cost, latency, health, tier, category or tie-break"
    )
    benchmark: str | None = Field(description="the benchmark that decided the choice")
    benchmark_label: str | None
    runner_up: str | None
    candidates: list[RankedModelOut]
    excluded: list[ExclusionOut] = Field(description="the first 10 models left out, and why")
    excluded_total: int


class DecisionOut(BaseModel):
    """A stored `auto` decision: the chosen model, why, the ranking and the attempts."""

    request_id: str
    created_at: str = Field(description="UTC, 'YYYY-MM-DD HH:MM:SS'")
    tier: str
    category: str
    provider: str
    model: str
    reason: str
    score: float | None
    benchmark_score: float | None
    breakdown: dict[str, float]
    attempts: list[dict[str, Any]]
    ranking: RankingOut | None = Field(
        description="null for decisions stored before rankings were kept"
    )


class DecisionsOut(BaseModel):
    """The newest `auto` decisions, newest first."""

    decisions: list[DecisionOut]
