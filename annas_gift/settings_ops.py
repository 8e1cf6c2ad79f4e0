"""Settings of the operations surface: `metrics.*`, `alerts.*`, `dashboard.*` (docs/operations.md).

Kept apart from settings.py so the operations code can evolve on its own; `Settings` holds them
as `metrics`, `alerts` and `dashboard`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Strict(BaseModel):
    """A settings section: a misspelled key is an error, not silently a default."""

    model_config = ConfigDict(extra="forbid")


class MetricsSettings(_Strict):
    """`GET /metrics` in the Prometheus text format."""

    enabled: bool = True
    # When true, a scrape must send `Authorization: Bearer <gateway key>` like any API call.
    require_key: bool = False
    # Distinct label combinations kept per metric family; later ones are counted as "other".
    max_series: int = Field(default=5_000, ge=10)


class ChannelSettings(_Strict):
    """One notification channel. `url` is a secret: it is only ever shown masked.

    http(s):// URLs get the generic JSON webhook; anything else is an apprise URL
    (slack://, discord://, msteams://, mailto://, json://, ...).
    """

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    url: SecretStr
    kind: Literal["webhook", "apprise"] | None = None  # None: decided by the URL scheme
    headers: dict[str, SecretStr] = Field(default_factory=dict)  # webhook only

    @model_validator(mode="after")
    def _infer_kind(self) -> ChannelSettings:
        if self.kind is None:
            scheme = self.url.get_secret_value().partition("://")[0].lower()
            self.kind = "webhook" if scheme in ("http", "https") else "apprise"
        if not self.url.get_secret_value().strip():
            raise ValueError(f"alerts.channels[{self.name}].url is empty")
        return self


class RateRule(_Strict):
    """A ratio over a time window, with a minimum number of requests before it may fire."""

    enabled: bool = True
    threshold: float = Field(default=0.5, gt=0, le=1)  # errors / requests
    window_minutes: float = Field(default=5.0, gt=0)
    min_requests: int = Field(default=10, ge=1)


class LatencyRule(_Strict):
    enabled: bool = True
    p95_ms: float = Field(default=30_000.0, gt=0)
    window_minutes: float = Field(default=5.0, gt=0)
    min_requests: int = Field(default=20, ge=1)


class SpendRule(_Strict):
    """Spend limits in USD; None disables that limit."""

    day_usd: float | None = Field(default=None, gt=0)
    month_usd: float | None = Field(default=None, gt=0)
    # Per key id, once keys have budgets: {"alice": {"day_usd": 5}}. Read by the key-spend hook.
    per_key: dict[str, dict[str, float]] = Field(default_factory=dict)


class DeliverySettings(_Strict):
    """How notifications leave: in the background, rate limited, retried."""

    timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_s: float = Field(default=1.0, ge=0)  # doubled per retry
    min_interval_s: float = Field(default=1.0, ge=0)  # between two messages on one channel
    queue_size: int = Field(default=1_000, ge=1)


class AlertsSettings(_Strict):
    """Alert rules, where they go, and how often they are evaluated."""

    enabled: bool = False
    channels: list[ChannelSettings] = Field(default_factory=list)
    interval_s: float = Field(default=30.0, gt=0)  # evaluation period
    # After a rule notifies for a subject it stays quiet for that subject this long.
    cooldown_s: float = Field(default=900.0, ge=0)
    rule_cooldown_s: dict[str, float] = Field(default_factory=dict)  # per-rule override
    # An open incident is forgotten by Redis after this long without an instance seeing it.
    incident_ttl_s: float = Field(default=86_400.0, gt=0)
    recent_limit: int = Field(default=100, ge=1)  # resolved alerts kept for GET /api/v1/alerts
    instance: str | None = None  # names this gateway in messages (default: host name)

    error_rate: RateRule = Field(default_factory=RateRule)
    model_error_rate: RateRule = Field(default_factory=RateRule)
    breaker_open: bool = True
    tier_down: bool = True
    spend: SpendRule = Field(default_factory=SpendRule)
    latency: LatencyRule = Field(default_factory=LatencyRule)
    vpn: bool = True
    database: bool = True
    redis: bool = True
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

    @field_validator("channels", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return [] if value in (None, "") else value

    @model_validator(mode="after")
    def _unique_channels(self) -> AlertsSettings:
        names = [c.name for c in self.channels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"alert channel names must be unique: {', '.join(duplicates)}")
        return self

    def cooldown_for(self, rule: str) -> float:
        """The cooldown of one rule (its override, else the default)."""
        return self.rule_cooldown_s.get(rule, self.cooldown_s)


class DashboardSettings(_Strict):
    """`/dashboard`: who may log in and how long a login lasts."""

    # Admin keys always may log in; these settings-key ids (the name in "alice:sk-...") may too,
    # for an operator who should see the dashboard without administering keys (api/deps.py).
    admin_keys: list[str] = Field(default_factory=list)
    session_ttl_s: float = Field(default=8 * 3600.0, gt=0)
    # Sessions are tokens signed with the logged-in key's secret (api/dashboard/sessions.py);
    # this is mixed in when set, so changing it logs everyone out without changing any key.
    session_secret: SecretStr | None = None
    # Failed logins per client address per minute before 429 (counted in each process).
    login_failures_per_minute: int = Field(default=5, ge=1, le=1000)
