"""Alert rules: pure functions from a snapshot of the gateway to the findings that should fire.

A finding is identified by (rule, subject), e.g. ("model_error_rate", "groq/llama"); the alert
manager turns findings that appear and disappear into firing and resolved notifications.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from annas_gift.settings_ops import AlertsSettings, RateRule

Severity = Literal["warning", "critical"]
ALL = "all"  # the subject of gateway-wide findings


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """A catalog model's live state, as the rules need it."""

    name: str
    provider: str
    tier: str
    configured: bool  # its provider key is set; unconfigured models are not "failing"
    breaker: str  # closed | open | half_open
    healthy: bool
    cooling_down: bool


@dataclass(frozen=True, slots=True)
class Traffic:
    """Requests and errors over a rule's window."""

    requests: int
    errors: int

    @property
    def error_rate(self) -> float:
        """errors / requests (0 without requests)."""
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class KeySpend:
    """One key's spend today and this month, with its limits (None: no limit)."""

    day_usd: float
    month_usd: float
    day_limit: float | None = None  # the key's budgets (virtual keys); settings limits are
    month_limit: float | None = None  # in alerts.spend.per_key
    total_usd: float = 0.0
    total_limit: float | None = None
    name: str = ""  # the key's name, for the message (the subject is its id)


@dataclass(frozen=True, slots=True)
class KeyBudget:
    """A virtual key's budgets in USD (None: no limit), as the keys feature hands them over."""

    name: str = ""
    day_usd: float | None = None
    month_usd: float | None = None
    total_usd: float | None = None


@dataclass(frozen=True, slots=True)
class BudgetSpend:
    """A team's or the whole gateway's spend today, this month and in total, with its budgets
    in USD (None: no limit)."""

    day_usd: float = 0.0
    month_usd: float = 0.0
    total_usd: float = 0.0
    day_limit: float | None = None
    month_limit: float | None = None
    total_limit: float | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the rules look at; a part that could not be read is None."""

    models: tuple[ModelHealth, ...] = ()
    traffic: Traffic | None = None  # overall, over alerts.error_rate.window_minutes
    model_traffic: Mapping[str, Traffic] = field(default_factory=dict)  # by model name
    p95_latency_ms: float | None = None  # over alerts.latency.window_minutes
    latency_samples: int = 0
    spend_day_usd: float | None = None
    spend_month_usd: float | None = None
    key_spend: Mapping[str, KeySpend] = field(default_factory=dict)
    team_spend: Mapping[str, BudgetSpend] = field(default_factory=dict)  # teams with a budget
    global_spend: BudgetSpend | None = None  # with the budgets.global_* caps
    vpn_enabled: bool = False
    vpn_endpoints: Mapping[str, str] = field(default_factory=dict)  # name -> up|suspect|down|..
    database_up: bool | None = None
    spool_bytes: int = 0
    redis: str = "not configured"  # ok | lost | not configured
    budget_thresholds: tuple[float, ...] = ()  # budgets.alert_thresholds, e.g. (0.8, 1.0)


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that holds now, for one subject."""

    rule: str
    subject: str
    severity: Severity
    summary: str
    value: float | None = None
    threshold: float | None = None

    @property
    def fingerprint(self) -> str:
        """What identifies the incident across evaluations and instances."""
        return f"{self.rule}:{self.subject}"


def evaluate(snapshot: Snapshot, settings: AlertsSettings) -> list[Finding]:
    """Every finding that holds for this snapshot, in a stable order."""
    found = [
        *_error_rates(snapshot, settings),
        *_breakers(snapshot, settings),
        *_spend(snapshot, settings),
        *_budgets(snapshot),
        *_latency(snapshot, settings),
        *_vpn(snapshot, settings),
        *_storage(snapshot, settings),
    ]
    return sorted(found, key=lambda f: f.fingerprint)


def _rate(rule: RateRule, traffic: Traffic) -> bool:
    return (
        rule.enabled
        and traffic.requests >= rule.min_requests
        and traffic.error_rate >= rule.threshold
    )


def _error_rates(s: Snapshot, settings: AlertsSettings) -> Iterator[Finding]:
    overall = settings.error_rate
    if s.traffic is not None and _rate(overall, s.traffic):
        yield Finding(
            "error_rate", ALL, "critical",
            f"{s.traffic.error_rate:.0%} of {s.traffic.requests} requests failed in the last "
            f"{overall.window_minutes:g} min (limit {overall.threshold:.0%})",
            s.traffic.error_rate, overall.threshold,
        )  # fmt: skip
    per_model = settings.model_error_rate
    for name, traffic in sorted(s.model_traffic.items()):
        if _rate(per_model, traffic):
            yield Finding(
                "model_error_rate", name, "warning",
                f"{name}: {traffic.error_rate:.0%} of {traffic.requests} requests failed in the "
                f"last {per_model.window_minutes:g} min (limit {per_model.threshold:.0%})",
                traffic.error_rate, per_model.threshold,
            )  # fmt: skip


def _breakers(s: Snapshot, settings: AlertsSettings) -> Iterator[Finding]:
    configured = [m for m in s.models if m.configured]
    if settings.breaker_open:
        for m in configured:
            if m.breaker == "open":
                yield Finding("breaker_open", m.name, "warning", f"{m.name}: circuit breaker open")
    if not settings.tier_down:
        return
    tiers: dict[str, list[ModelHealth]] = {}
    for m in configured:
        tiers.setdefault(m.tier, []).append(m)
    for tier, models in sorted(tiers.items()):
        failing = [m for m in models if m.breaker == "open" or not m.healthy or m.cooling_down]
        if len(failing) == len(models):
            yield Finding(
                "tier_down", tier, "critical",
                f"every {tier} model is failing or cooling down ({len(models)} models)",
                float(len(failing)), float(len(models)),
            )  # fmt: skip


def _over(
    name: str, subject: str, spent: float | None, limit: float | None, what: str
) -> Iterator[Finding]:
    if spent is not None and limit is not None and spent >= limit:
        yield Finding(
            name, subject, "critical", f"{what}: ${spent:.2f} spent, limit ${limit:.2f}",
            spent, limit,
        )  # fmt: skip


def _spend(s: Snapshot, settings: AlertsSettings) -> Iterator[Finding]:
    rule = settings.spend
    yield from _over("spend_day", ALL, s.spend_day_usd, rule.day_usd, "spend today (UTC)")
    yield from _over("spend_month", ALL, s.spend_month_usd, rule.month_usd, "spend this month")
    for key, spend in sorted(s.key_spend.items()):
        limits = rule.per_key.get(key, {})
        day, month = limits.get("day_usd"), limits.get("month_usd")
        yield from _over("key_spend_day", key, spend.day_usd, day, f"key {key} today")
        yield from _over("key_spend_month", key, spend.month_usd, month, f"key {key} this month")
        yield from _key_budgets(key, spend, s.budget_thresholds)


_BUDGET_WORD = {"day": "daily", "month": "monthly", "total": "total"}
Periods = tuple[tuple[str, float, float | None], ...]  # (period, spent, limit)


def _periods(spend: KeySpend | BudgetSpend) -> Periods:
    return (
        ("day", spend.day_usd, spend.day_limit),
        ("month", spend.month_usd, spend.month_limit),
        ("total", spend.total_usd, spend.total_limit),
    )


def _key_budgets(key: str, spend: KeySpend, thresholds: tuple[float, ...]) -> Iterator[Finding]:
    """`key_budget`: one incident per key, period and threshold reached (e.g. 80% and 100%)."""
    owner = f"key '{spend.name or key}'"
    yield from _budget_findings("key_budget", key, owner, _periods(spend), thresholds)


def _budgets(s: Snapshot) -> Iterator[Finding]:
    """`team_budget` per team label and `global_budget` for the gateway-wide caps."""
    for team, spend in sorted(s.team_spend.items()):
        owner = f"team '{team}'"
        yield from _budget_findings(
            "team_budget", team, owner, _periods(spend), s.budget_thresholds
        )
    if s.global_spend is not None:
        yield from _budget_findings(
            "global_budget", ALL, "the gateway", _periods(s.global_spend), s.budget_thresholds
        )


def _budget_findings(
    rule: str, owner_id: str, owner: str, periods: Periods, thresholds: tuple[float, ...]
) -> Iterator[Finding]:
    """One finding per period and threshold reached: subject `<owner_id>/<period>/<t>%`.

    Each threshold is its own incident, so crossing 80% and later 100% notifies twice, and a
    day's or month's incidents resolve when the period resets and the spend starts again (or
    the budget is raised).
    """
    for period, spent, limit in periods:
        if limit is None or limit <= 0:
            continue
        for t in sorted(thresholds):
            if spent >= t * limit:
                yield Finding(
                    rule, f"{owner_id}/{period}/{t:.0%}",
                    "critical" if t >= 1.0 else "warning",
                    f"{owner} has used {spent / limit:.0%} of its {_BUDGET_WORD[period]} "
                    f"budget (${spent:.4f} of ${limit:.4f}; alert at {t:.0%})",
                    spent, t * limit,
                )  # fmt: skip


def _latency(s: Snapshot, settings: AlertsSettings) -> Iterator[Finding]:
    rule = settings.latency
    p95 = s.p95_latency_ms
    enough = p95 is not None and s.latency_samples >= rule.min_requests
    if rule.enabled and enough and p95 is not None and p95 >= rule.p95_ms:
        yield Finding(
            "latency_p95", ALL, "warning",
            f"p95 latency {p95:.0f} ms over the last {rule.window_minutes:g} min "
            f"(limit {rule.p95_ms:.0f} ms)",
            p95, rule.p95_ms,
        )  # fmt: skip


def _vpn(s: Snapshot, settings: AlertsSettings) -> Iterator[Finding]:
    if not (settings.vpn and s.vpn_enabled):
        return
    active = {name: state for name, state in s.vpn_endpoints.items() if state != "inactive"}
    for name, state in sorted(active.items()):
        if state == "down":
            yield Finding("vpn_endpoint_down", name, "warning", f"VPN endpoint {name} is down")
    if active and all(state == "down" for state in active.values()):
        yield Finding(
            "vpn_all_down", ALL, "critical",
            f"every VPN endpoint is down ({len(active)}); VPN-routed providers are unreachable",
        )  # fmt: skip


def _storage(s: Snapshot, settings: AlertsSettings) -> Iterator[Finding]:
    if settings.database:
        if s.database_up is False:
            yield Finding("database_down", ALL, "critical", "the usage database is unreachable")
        if s.spool_bytes > 0:
            yield Finding(
                "usage_spooling", ALL, "warning",
                f"usage is being spooled to disk ({s.spool_bytes} bytes waiting)",
                float(s.spool_bytes),
            )  # fmt: skip
    if settings.redis and s.redis == "lost":
        yield Finding(
            "redis_lost", ALL, "critical",
            "Redis lost: limits, health and cache fell back to per-instance state",
        )  # fmt: skip


RULES = (
    "error_rate", "model_error_rate", "breaker_open", "tier_down", "spend_day", "spend_month",
    "key_spend_day", "key_spend_month", "key_budget", "team_budget", "global_budget",
    "latency_p95", "vpn_endpoint_down", "vpn_all_down", "database_down", "usage_spooling",
    "redis_lost",
)  # fmt: skip
