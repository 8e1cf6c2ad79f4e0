"""Bodies of the operations routes (`GET /api/v1/alerts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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
