"""The VPN admin API's request and response bodies; URLs in responses are always masked."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from annas_gift.egress.config import NAME_PATTERN


def _boolean_only(schema: dict[str, Any]) -> None:
    schema.pop("anyOf", None)
    schema.pop("default", None)
    schema["type"] = "boolean"


class EndpointIn(BaseModel):
    """A new egress proxy: http, https, socks5 or socks5h URL with host and port."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=NAME_PATTERN, examples=["nl-1"])
    url: str = Field(
        min_length=1, max_length=2048, examples=["socks5://user:pass@nl.vpn.example:1080"]
    )
    country: str | None = Field(default=None, max_length=64, examples=["NL"])
    provider_label: str | None = Field(default=None, max_length=64, examples=["mullvad"])
    allowed_providers: list[str] | None = Field(default=None, examples=[["openai", "groq"]])
    active: bool = True


class EndpointPatch(BaseModel):
    """Fields to change; omitted fields stay, null clears country/label/providers."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    country: str | None = Field(default=None, max_length=64)
    provider_label: str | None = Field(default=None, max_length=64)
    allowed_providers: list[str] | None = None
    # Omitted: unchanged; null is not a state (the schema says boolean, the validator agrees).
    active: bool | None = Field(default=None, json_schema_extra=_boolean_only)

    @field_validator("active", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("active must be true or false (omit it to leave it unchanged)")
        return value


class EndpointOut(BaseModel):
    """An endpoint with its health; `url` has its credentials replaced by ***."""

    name: str
    url: str
    country: str | None
    provider_label: str | None
    allowed_providers: list[str] | None
    active: bool
    healthy: bool
    state: str = Field(description="up | suspect | down | inactive")
    latency_ms: float | None = Field(description="last probe's round trip through the proxy")
    request_latency_ms: float | None = Field(description="moving average of requests carried")
    last_check: str | None
    last_used: str | None
    last_error: str | None
    failure_count: int = Field(description="consecutive failures; a good probe resets it")
    failures_total: int
    rate_limited_total: int
    requests_carried: int
    egress_ip: str | None
    egress_country: str | None


class StatusOut(BaseModel):
    """The rotation policy, the current endpoint and every endpoint's health."""

    enabled: bool
    rotation: str
    current: str | None
    sticky: dict[str, str] = Field(description="provider -> endpoint (sticky policy)")
    providers: list[str] | None = Field(description="providers routed through the VPN")
    countries: list[str] | None
    failovers: int = Field(description="requests moved to another endpoint after a failure")
    exhausted: int = Field(description="requests for which every endpoint tried failed")
    endpoints: list[EndpointOut]


class RotateIn(BaseModel):
    """Where to rotate to."""

    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(default=None, description="an endpoint name; omitted: the next one")


class RotateOut(BaseModel):
    """The endpoint now current (None: no usable endpoint)."""

    current: str | None
    url: str | None = Field(description="masked")


class ProbeOut(BaseModel):
    """One probe through the endpoint to the configured probe URL."""

    name: str
    ok: bool
    latency_ms: float | None
    status_code: int | None
    error: str | None
    egress_ip: str | None
    egress_country: str | None
    checked_at: str
