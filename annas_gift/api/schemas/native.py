"""Native `/api/v1` models: ChatRequest/ChatResponse, ModelInfo, ProviderStatus, UsageMetrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from annas_gift.api.schemas.openai import ChatMessage, StreamOptions


class ChatRequest(BaseModel):
    """POST /api/v1/chat: `model` defaults to `auto`; other OpenAI parameters pass through."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(default="auto", min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    fallbacks: list[str] | None = Field(default=None, max_length=16)
    # Response cache: true = cache this answer whatever the temperature, false = never.
    cache: StrictBool | None = None


class TokenUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AttemptInfo(BaseModel):
    model: str
    provider: str
    status: int
    error: str | None = None
    message: str | None = None
    latency_ms: float


class ExplanationFactor(BaseModel):
    """One named feature of the request and how far it pushed the classifier (logit units)."""

    name: str = Field(description="the classifier's feature name, e.g. proof_cue")
    label: str = Field(description="the same in plain words")
    contribution: float = Field(description="+ pushes towards the decision's side, - against")


class DecisionExplanation(BaseModel):
    """Why `auto` chose this model, in plain words: top factors, deciding benchmark, runner-up."""

    summary: str = Field(description="the whole decision in a few sentences")
    tier: str
    tier_reason: str
    category: str
    category_reason: str
    factors: list[ExplanationFactor] = Field(
        description="largest contributions to the tier score (+ = needs a powerful model)"
    )
    category_factors: list[ExplanationFactor] = Field(
        description="what set the chosen category apart from the others"
    )
    model: str | None
    choice_reason: str = Field(description="why this model and not the runner-up")
    decided_by: str | None = Field(
        description="benchmark, headroom, cost, latency, health, tier, category or tie-break"
    )
    benchmark: str | None = Field(description="the benchmark that decided the choice")
    benchmark_label: str | None
    model_value: float | None = Field(description="the chosen model on it, 0..100 points")
    model_value_estimated: bool = Field(description="true when not published but imputed")
    runner_up: str | None = Field(description="the best-ranked different model")
    runner_up_value: float | None
    runner_up_value_estimated: bool


class ChatResponse(BaseModel):
    """The answer plus everything the gateway decided and measured."""

    id: str
    request_id: str
    trace_id: str
    model: str
    provider: str
    upstream_model: str
    tier: str | None
    category: str | None
    content: str | None
    message: dict[str, Any]
    finish_reason: str | None
    usage: TokenUsage
    cost_usd: float
    latency_ms: float
    cache: str = Field(description="hit when answered from the response cache, else miss")
    attempts: list[AttemptInfo]
    classification: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None
    explanation: DecisionExplanation | None = Field(
        default=None, description="for auto requests: the routing decision in plain words"
    )


class ModelInfo(BaseModel):
    name: str
    provider: str
    litellm_model: str
    tier: str
    categories: list[str]
    context_window: int | None
    max_output_tokens: int | None
    limits: dict[str, int | None]
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    available: bool
    missing_env: list[str]
    description: str


class ModelStatus(BaseModel):
    """Live health and headroom of one model, as every gateway instance sees it."""

    name: str
    provider: str
    available: bool
    missing_env: list[str]
    healthy: bool
    breaker: str
    cooled_down_until: datetime | None
    latency_p50_ms: float | None
    error_rate: float
    headroom: float
    limits: dict[str, int | None]
    remaining: dict[str, int | None]
    last_error: str | None
    last_check: datetime | None


class ProviderStatus(BaseModel):
    provider: str
    models: int
    available_models: int
    healthy_models: int
    missing_env: list[str]
    model_status: list[ModelStatus]


class UsageMetrics(BaseModel):
    key: str | None = Field(
        description="the group (provider, model, day, key id, category or tier); null for totals"
    )
    requests: int
    prompt_tokens: int
    completion_tokens: int
    errors: int
    rate_limit_hits: int
    cost_usd: float
    saved_cost_usd: float
    avg_latency_ms: float | None


class UsageReport(BaseModel):
    since: datetime | None
    until: datetime | None
    group_by: Literal["provider", "model", "day", "key", "category", "tier"] | None
    totals: UsageMetrics
    groups: list[UsageMetrics]
