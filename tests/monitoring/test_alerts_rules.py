"""Alert rules as a table: a snapshot in, the findings (rule, subject) out."""

from __future__ import annotations

from typing import Any

import pytest

from annas_gift.monitoring.alert_rules import (
    RULES,
    BudgetSpend,
    KeySpend,
    ModelHealth,
    Snapshot,
    Traffic,
    evaluate,
)
from annas_gift.settings_ops import AlertsSettings


def model(name: str, tier: str = "fast", **kw: Any) -> ModelHealth:
    fields: dict[str, Any] = {
        "provider": "p", "configured": True, "breaker": "closed", "healthy": True,
        "cooling_down": False,
    }  # fmt: skip
    fields.update(kw)
    return ModelHealth(name=name, tier=tier, **fields)


SETTINGS = AlertsSettings(
    spend={"day_usd": 5, "month_usd": 100, "per_key": {"alice": {"day_usd": 1}}},
    latency={"p95_ms": 2000, "min_requests": 5},
)
OK_MODELS = (model("a"), model("b"), model("big", "powerful"))

CASES: list[tuple[str, Snapshot, set[tuple[str, str]]]] = [
    ("quiet", Snapshot(models=OK_MODELS, traffic=Traffic(100, 1), redis="ok"), set()),
    ("overall errors", Snapshot(traffic=Traffic(20, 10)), {("error_rate", "all")}),
    ("errors below min_requests", Snapshot(traffic=Traffic(9, 9)), set()),
    ("errors just under", Snapshot(traffic=Traffic(100, 49)), set()),
    (
        "one model failing",
        Snapshot(model_traffic={"a": Traffic(10, 6), "b": Traffic(50, 0)}),
        {("model_error_rate", "a")},
    ),
    (
        "breaker open",
        Snapshot(models=(model("a", breaker="open"), model("b"))),
        {("breaker_open", "a")},
    ),
    (
        "whole tier failing",
        Snapshot(
            models=(
                model("a", breaker="open"),
                model("b", cooling_down=True),
                model("c", healthy=False),
                model("big", "powerful"),
            )
        ),
        {("breaker_open", "a"), ("tier_down", "fast")},
    ),
    (
        "unconfigured models are not failing",
        Snapshot(models=(model("a", breaker="open", configured=False), model("b"))),
        set(),
    ),
    (
        "spend",
        Snapshot(spend_day_usd=5.0, spend_month_usd=99.0),
        {("spend_day", "all")},
    ),
    ("month spend", Snapshot(spend_day_usd=1.0, spend_month_usd=120.0), {("spend_month", "all")}),
    (
        "key spend: a settings limit, and budgets at 80% and 100% from the keys feature",
        Snapshot(
            key_spend={
                "alice": KeySpend(day_usd=1.5, month_usd=2.0),
                "bob": KeySpend(day_usd=0.5, month_usd=30.0, month_limit=25.0),
                "carol": KeySpend(day_usd=9.0, month_usd=9.0),
                "dave": KeySpend(
                    day_usd=0.79, month_usd=1.0, day_limit=1.0, total_usd=0.8, total_limit=1.0
                ),
                "erin": KeySpend(day_usd=0.0, month_usd=0.0, day_limit=0.0),  # 0: refuses all
            },
            budget_thresholds=(0.8, 1.0),
        ),
        {
            ("key_spend_day", "alice"),
            ("key_budget", "bob/month/80%"),
            ("key_budget", "bob/month/100%"),
            ("key_budget", "dave/total/80%"),
        },
    ),
    (
        "key budgets without thresholds alert on nothing",
        Snapshot(key_spend={"bob": KeySpend(day_usd=0.5, month_usd=30.0, month_limit=25.0)}),
        set(),
    ),
    (
        "team budgets: each team, period and threshold reached; unlimited periods never fire",
        Snapshot(
            team_spend={
                "lab-a": BudgetSpend(day_usd=0.85, month_usd=0.85, day_limit=1.0),
                "lab-b": BudgetSpend(day_usd=2.0, month_usd=12.0, month_limit=10.0),
                "lab-c": BudgetSpend(day_usd=0.79, total_usd=50.0, day_limit=1.0),
                "lab-d": BudgetSpend(day_usd=0.0, day_limit=0.0),  # 0: refuses all, no alert
            },
            budget_thresholds=(0.8, 1.0),
        ),
        {
            ("team_budget", "lab-a/day/80%"),
            ("team_budget", "lab-b/month/80%"),
            ("team_budget", "lab-b/month/100%"),
        },
    ),
    (
        "the global cap, separately from the alerts.spend limits",
        Snapshot(
            spend_day_usd=1.0,
            global_spend=BudgetSpend(day_usd=1.0, month_usd=45.0, total_usd=45.0, total_limit=50),
            budget_thresholds=(0.5, 0.9, 1.0),
        ),
        {("global_budget", "all/total/50%"), ("global_budget", "all/total/90%")},
    ),
    (
        "team and global budgets without thresholds alert on nothing",
        Snapshot(
            team_spend={"lab": BudgetSpend(day_usd=5.0, day_limit=1.0)},
            global_spend=BudgetSpend(day_usd=5.0, day_limit=1.0),
        ),
        set(),
    ),
    ("slow", Snapshot(p95_latency_ms=2500.0, latency_samples=10), {("latency_p95", "all")}),
    ("slow but few", Snapshot(p95_latency_ms=2500.0, latency_samples=4), set()),
    (
        "one VPN endpoint down",
        Snapshot(vpn_enabled=True, vpn_endpoints={"nl": "down", "de": "up", "old": "inactive"}),
        {("vpn_endpoint_down", "nl")},
    ),
    (
        "every VPN endpoint down",
        Snapshot(vpn_enabled=True, vpn_endpoints={"nl": "down", "de": "down", "x": "inactive"}),
        {("vpn_endpoint_down", "nl"), ("vpn_endpoint_down", "de"), ("vpn_all_down", "all")},
    ),
    ("VPN disabled", Snapshot(vpn_enabled=False, vpn_endpoints={"nl": "down"}), set()),
    ("database down", Snapshot(database_up=False), {("database_down", "all")}),
    ("usage spooled", Snapshot(database_up=True, spool_bytes=10), {("usage_spooling", "all")}),
    ("redis lost", Snapshot(redis="lost"), {("redis_lost", "all")}),
    ("no redis configured", Snapshot(redis="not configured"), set()),
]


@pytest.mark.parametrize(
    ("snapshot", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rules(snapshot: Snapshot, expected: set[tuple[str, str]]) -> None:
    found = evaluate(snapshot, SETTINGS)
    assert {(f.rule, f.subject) for f in found} == expected
    assert {f.rule for f in found} <= set(RULES)
    assert all(f.summary for f in found)


def test_disabled_rules_stay_silent() -> None:
    off = AlertsSettings(
        error_rate={"enabled": False}, model_error_rate={"enabled": False}, breaker_open=False,
        tier_down=False, latency={"enabled": False}, vpn=False, database=False, redis=False,
    )  # fmt: skip
    loud = Snapshot(
        models=(model("a", breaker="open"),), traffic=Traffic(100, 100),
        model_traffic={"a": Traffic(100, 100)}, p95_latency_ms=1e9, latency_samples=1000,
        vpn_enabled=True, vpn_endpoints={"nl": "down"}, database_up=False, spool_bytes=1,
        redis="lost",
    )  # fmt: skip
    assert evaluate(loud, off) == []


def test_summary_names_the_numbers() -> None:
    (finding,) = evaluate(Snapshot(traffic=Traffic(20, 15)), SETTINGS)
    assert finding.summary == "75% of 20 requests failed in the last 5 min (limit 50%)"
    assert (finding.value, finding.threshold, finding.severity) == (0.75, 0.5, "critical")


def test_key_budget_findings_name_the_key_and_are_critical_at_the_limit() -> None:
    spend = KeySpend(day_usd=0.011, month_usd=0.011, day_limit=0.01, name="lab-alice")
    snapshot = Snapshot(key_spend={"vk_1": spend}, budget_thresholds=(0.8, 1.0))
    found = {f.subject: f for f in evaluate(snapshot, SETTINGS) if f.rule == "key_budget"}
    assert set(found) == {"vk_1/day/80%", "vk_1/day/100%"}
    full = found["vk_1/day/100%"]
    assert full.severity == "critical" and found["vk_1/day/80%"].severity == "warning"
    assert full.summary == (
        "key 'lab-alice' has used 110% of its daily budget ($0.0110 of $0.0100; alert at 100%)"
    )
    assert full.value == 0.011 and full.threshold == pytest.approx(0.01)
    assert "key_budget" in RULES


def test_team_and_global_budget_findings_say_whose_budget_and_how_much() -> None:
    snapshot = Snapshot(
        team_spend={"lab-a": BudgetSpend(day_usd=0.0085, month_usd=0.0085, day_limit=0.01)},
        global_spend=BudgetSpend(day_usd=0.03, month_usd=0.03, month_limit=0.03),
        budget_thresholds=(0.8, 1.0),
    )
    found = {f.fingerprint: f for f in evaluate(snapshot, SETTINGS)}
    assert set(found) == {
        "team_budget:lab-a/day/80%",
        "global_budget:all/month/80%",
        "global_budget:all/month/100%",
    }
    team = found["team_budget:lab-a/day/80%"]
    assert team.severity == "warning"
    assert team.summary == (
        "team 'lab-a' has used 85% of its daily budget ($0.0085 of $0.0100; alert at 80%)"
    )
    full = found["global_budget:all/month/100%"]
    assert full.severity == "critical"
    assert full.summary == (
        "the gateway has used 100% of its monthly budget ($0.0300 of $0.0300; alert at 100%)"
    )
    assert {"team_budget", "global_budget"} <= set(RULES)
