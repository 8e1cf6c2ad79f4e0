"""Pure key and budget logic: secrets, allow-lists, expiry, estimates, error messages."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    ModelNotAllowed,
    TotalBudgetExceeded,
)
from annas_gift.services import budget_policy as bp
from annas_gift.services.keys import (
    KeyRecord,
    TeamBudgets,
    candidate_allowed,
    check_model,
    check_usable,
    display_prefix,
    hash_secret,
    key_status,
    looks_like_virtual_key,
    model_allowed,
    new_key_id,
    new_secret,
    secret_prefix,
    validate_patterns,
)
from annas_gift.state.budgets import BudgetDenial, BudgetLine

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)


def record(**fields: object) -> KeyRecord:
    base: dict[str, object] = {
        "id": "vk-000000000001",
        "name": "alice",
        "team": None,
        "secret_hash": "0" * 64,
        "prefix": "ag-abcd",
        "created_at": NOW - timedelta(days=1),
    }
    base.update(fields)
    return KeyRecord(**base)  # type: ignore[arg-type]


def model(**fields: object) -> CatalogModel:
    base: dict[str, object] = {
        "name": "groq/llama",
        "provider": "groq",
        "litellm_model": "groq/llama",
        "params": {},
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6,
    }
    base.update(fields)
    return CatalogModel(**base)  # type: ignore[arg-type]


def test_secrets_are_random_prefixed_and_stored_only_as_their_sha256() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    secret = secrets.pop()
    assert secret.startswith("ag-") and len(secret) == 3 + 43
    assert looks_like_virtual_key(secret) and not looks_like_virtual_key("sk-annas-x")
    assert hash_secret(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert secret_prefix(secret) == secret[:7]
    assert display_prefix("ag-3f9c") == "ag-3f9c…"
    assert new_key_id().startswith("vk-") and len(new_key_id()) == 15
    assert "0" * 64 not in repr(record())  # no hash in reprs (logs)


@pytest.mark.parametrize(
    ("patterns", "requested", "allowed"),
    [
        (None, "anything", True),
        ([], "groq/llama", False),
        (["groq/*"], "groq/llama", True),
        (["groq/*"], "openai/gpt-4o", False),
        (["groq/*"], "auto", False),
        (["auto*"], "auto", True),
        (["auto*"], "auto:fast", True),
        (["auto*"], "auto:powerful", True),
        (["auto"], "auto:powerful", False),
        (["openai/gpt-4o-mini"], "openai/gpt-4o-mini", True),
        (["openai/gpt-4o-mini"], "openai/gpt-4o", False),
        (["Groq/*"], "groq/llama", False),  # case matters, as model names do
    ],
)
def test_model_allow_list(patterns: list[str] | None, requested: str, allowed: bool) -> None:
    assert model_allowed(patterns, requested) is allowed


def test_auto_routing_stays_inside_the_named_models() -> None:
    assert candidate_allowed(["auto*"], "openai/gpt-4o")  # auto alone: any model
    assert candidate_allowed(["auto*", "groq/*"], "groq/llama")
    assert not candidate_allowed(["auto*", "groq/*"], "openai/gpt-4o")
    assert candidate_allowed(None, "openai/gpt-4o")


def test_a_disallowed_model_is_a_403_naming_the_allowed_ones() -> None:
    check_model(None, "x")  # settings keys have no allow-list
    check_model(record(allowed_models=("groq/*",)), "groq/llama")
    with pytest.raises(ModelNotAllowed) as info:
        check_model(record(allowed_models=("groq/*", "auto*")), "openai/gpt-4o")
    assert info.value.status == 403
    assert info.value.body()["error"]["code"] == "model_not_allowed"
    assert "groq/*, auto*" in info.value.message


def test_validate_patterns() -> None:
    assert validate_patterns([" groq/* ", "auto*", "groq/*"]) == ["groq/*", "auto*"]
    with pytest.raises(ValueError, match="empty"):
        validate_patterns(["groq/*", " "])


def test_revoked_and_expired_keys_are_refused_with_their_reason() -> None:
    assert key_status(record(), NOW) == "active"
    assert key_status(record(expires_at=NOW + timedelta(seconds=1)), NOW) == "active"
    assert key_status(record(expires_at=NOW), NOW) == "expired"
    revoked = record(revoked_at=NOW - timedelta(hours=1), expires_at=NOW - timedelta(days=1))
    assert key_status(revoked, NOW) == "revoked"
    check_usable(record(), NOW)
    with pytest.raises(AuthenticationFailed) as info:
        check_usable(revoked, NOW)
    assert (info.value.status, info.value.code) == (401, "key_revoked")
    with pytest.raises(AuthenticationFailed) as info:
        check_usable(record(expires_at=NOW - timedelta(days=1)), NOW)
    assert info.value.code == "key_expired"
    assert "2026-12-01" in info.value.message


def test_budget_lines_cover_key_team_and_global() -> None:
    caps = bp.GlobalCaps(monthly_usd=100.0)
    vk = record(team="cs101", budget_daily_usd=0.5, budget_total_usd=5.0)
    lines = bp.budget_lines(vk.id, vk, TeamBudgets("cs101", monthly_usd=20.0), caps)
    assert [(line.subject, line.period, line.limit_usd) for line in lines] == [
        ("key:vk-000000000001", "day", 0.5),
        ("key:vk-000000000001", "month", None),
        ("key:vk-000000000001", "total", 5.0),
        ("team:cs101", "day", None),
        ("team:cs101", "month", 20.0),
        ("team:cs101", "total", None),
        ("global", "day", None),
        ("global", "month", 100.0),
        ("global", "total", None),
    ]
    settings_key = bp.budget_lines("alice", None, None, caps)
    assert [line.subject for line in settings_key] == ["key:alice"] * 3 + ["global"] * 3
    team_without_budget = bp.budget_lines(vk.id, vk, None, bp.GlobalCaps())
    assert {line.subject for line in team_without_budget} >= {"team:cs101"}


def test_cost_estimate_uses_max_tokens_else_typical_output_and_caps_at_the_model() -> None:
    messages = [{"role": "user", "content": "x" * 400}]  # 100 + 4 prompt tokens
    m = model()
    assert bp.estimate_cost_usd(m, messages, {"max_tokens": 50}) == pytest.approx(
        104 * 1e-6 + 50 * 2e-6
    )
    assert bp.estimate_cost_usd(m, messages, {}, typical_output_tokens=300) == pytest.approx(
        104 * 1e-6 + 300 * 2e-6
    )
    typical = model(info={"typical_output_tokens": 40})
    assert bp.completion_estimate(typical, {}, 300) == 40
    assert bp.completion_estimate(typical, {"max_completion_tokens": 90}, 300) == 90
    assert bp.completion_estimate(model(max_output_tokens=64), {"max_tokens": 4096}, 300) == 64
    assert bp.completion_estimate(m, {"max_tokens": True}, 300) == 300  # bools are not sizes
    free = model(input_cost_per_token=None, output_cost_per_token=None)
    assert bp.estimate_cost_usd(free, messages, {}) == 0.0


def test_daily_budget_error_is_a_429_with_reset_time_and_retry_after() -> None:
    line = BudgetLine("key:vk-1", "day", 0.10)
    denial = BudgetDenial(line, 0.1, datetime(2026, 12, 3, tzinfo=UTC))
    err = bp.budget_error(denial, "alice", NOW)
    assert isinstance(err, BudgetExceeded) and not isinstance(err, TotalBudgetExceeded)
    assert err.status == 429
    body = err.body()["error"]
    assert (body["type"], body["code"]) == ("insufficient_quota", "budget_exceeded")
    assert "daily budget of $0.10" in body["message"]
    assert "resets at 2026-12-03 00:00 UTC" in body["message"]
    assert body["budget"]["resets_at"] == "2026-12-03T00:00:00+00:00"
    assert err.headers() == {"Retry-After": str(8 * 3600 + 30 * 60)}


def test_team_and_global_refusals_name_who_ran_out() -> None:
    reset = datetime(2027, 1, 1, tzinfo=UTC)
    team = bp.budget_error(BudgetDenial(BudgetLine("team:cs101", "month", 20), 20, reset), "a", NOW)
    assert "team 'cs101'" in team.message and "monthly budget of $20.00" in team.message
    cap = bp.budget_error(BudgetDenial(BudgetLine("global", "day", 5), 5, reset), "a", NOW)
    assert cap.message.startswith("The gateway has used its daily budget")


def test_total_budget_error_is_a_403_without_retry_after() -> None:
    denial = BudgetDenial(BudgetLine("key:vk-1", "total", 5.0), 5.01, None)
    err = bp.budget_error(denial, "alice", NOW)
    assert isinstance(err, TotalBudgetExceeded)
    assert err.status == 403 and err.code == "budget_exceeded"
    assert err.headers() == {}
    assert "does not reset" in err.message


def test_budget_pressure_and_alert_thresholds() -> None:
    lines = [
        BudgetLine("key:a", "day", 1.0),
        BudgetLine("key:a", "month"),
        BudgetLine("g", "total", 10),
    ]
    assert bp.budget_pressure(lines, [0.85, 50.0, 2.0]) == pytest.approx(0.85)
    assert bp.budget_pressure([BudgetLine("g", "day")], [99.0]) == 0.0
    assert bp.crossed_thresholds(1.0, 0.7, 0.85, [0.8, 1.0]) == [0.8]
    assert bp.crossed_thresholds(1.0, 0.85, 1.2, [0.8, 1.0]) == [1.0]
    assert bp.crossed_thresholds(1.0, 0.5, 1.0, [0.8, 1.0]) == [0.8, 1.0]
    assert bp.crossed_thresholds(1.0, 0.81, 0.9, [0.8, 1.0]) == []
