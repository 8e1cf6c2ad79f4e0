"""Budget decisions, pure: which budgets a request counts against, its estimated cost, the
error a refused request gets, and how close a key is to its limits.

Cost is the gateway's own priced cost (the catalog's per-token prices, which usage records
use), so budgets and usage always agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core.errors import BudgetExceeded, TotalBudgetExceeded
from annas_gift.services.keys import KeyRecord, TeamBudgets
from annas_gift.services.limits import DEFAULT_COMPLETION_ESTIMATE, estimate_prompt_tokens
from annas_gift.state.budgets import BudgetDenial, BudgetLine, Period

_PERIOD_WORD: dict[Period, str] = {"day": "daily", "month": "monthly", "total": "total"}


@dataclass(frozen=True, slots=True)
class GlobalCaps:
    """The gateway-wide USD caps (settings `budgets.*`; None: unlimited)."""

    daily_usd: float | None = None
    monthly_usd: float | None = None
    total_usd: float | None = None


def _three(
    subject: str, daily: float | None, monthly: float | None, total: float | None
) -> list[BudgetLine]:
    return [
        BudgetLine(subject, "day", daily),
        BudgetLine(subject, "month", monthly),
        BudgetLine(subject, "total", total),
    ]


def budget_lines(
    key_id: str,
    record: KeyRecord | None,
    team: TeamBudgets | None,
    caps: GlobalCaps,
) -> list[BudgetLine]:
    """Every budget a request of this key counts against: key, its team (if any), global.

    Settings keys (no record) have no budgets of their own but are still counted, so their
    spend shows and the global cap applies to them.
    """
    if record is None:
        lines = _three(f"key:{key_id}", None, None, None)
    else:
        lines = _three(
            f"key:{record.id}",
            record.budget_daily_usd,
            record.budget_monthly_usd,
            record.budget_total_usd,
        )
        if record.team is not None:
            t = team or TeamBudgets(record.team)
            lines += _three(f"team:{record.team}", t.daily_usd, t.monthly_usd, t.total_usd)
    return lines + _three("global", caps.daily_usd, caps.monthly_usd, caps.total_usd)


def uncapped(lines: Sequence[BudgetLine]) -> bool:
    """True when no line has a limit: nothing can refuse the request."""
    return all(line.limit_usd is None for line in lines)


def completion_estimate(
    model: CatalogModel, params: Mapping[str, Any], typical_output_tokens: int
) -> int:
    """Output tokens to reserve: the request's max_tokens, else the model's typical output.

    `model_info.typical_output_tokens` sets a model's typical output; the settings default
    applies otherwise. Never more than the model can produce.
    """
    budget = params.get("max_tokens") or params.get("max_completion_tokens")
    if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
        tokens = budget
    else:
        typical = model.info.get("typical_output_tokens")
        valid = isinstance(typical, int) and not isinstance(typical, bool) and typical > 0
        tokens = typical if valid and isinstance(typical, int) else typical_output_tokens
    if model.max_output_tokens:
        tokens = min(tokens, model.max_output_tokens)
    return tokens


def estimate_cost_usd(
    model: CatalogModel,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
    typical_output_tokens: int = DEFAULT_COMPLETION_ESTIMATE,
) -> float:
    """The priced cost of a call before it is made: prompt estimate plus reserved output."""
    prompt = estimate_prompt_tokens(messages)
    return model.cost_usd(prompt, completion_estimate(model, params, typical_output_tokens))


def _owner(line: BudgetLine, key_name: str) -> str:
    kind, _, name = line.subject.partition(":")
    if kind == "key":
        return f"This API key ('{key_name}')"
    if kind == "team":
        return f"The team '{name}' of this API key"
    return "The gateway"


def budget_error(denial: BudgetDenial, key_name: str, now: datetime) -> BudgetExceeded:
    """The OpenAI-shaped error for a refused request: 429 until a reset, 403 for a total."""
    line = denial.line
    limit = line.limit_usd or 0.0
    used = (
        f"{_owner(line, key_name)} has used its {_PERIOD_WORD[line.period]} budget of "
        f"${limit:.2f} (spent ${denial.spent_usd:.4f})"
    )
    details = {
        "budget": {
            "scope": line.subject.partition(":")[0],
            "period": line.period,
            "limit_usd": limit,
            "spent_usd": round(denial.spent_usd, 6),
            "resets_at": None if denial.reset_at is None else denial.reset_at.isoformat(),
        }
    }
    if denial.reset_at is None:
        return TotalBudgetExceeded(
            f"{used}. It does not reset; ask the gateway's administrator to raise it.",
            details=details,
        )
    wait = max(1.0, math.ceil((denial.reset_at - now).total_seconds()))
    stamp = denial.reset_at.strftime("%Y-%m-%d %H:%M UTC")
    return BudgetExceeded(f"{used}. It resets at {stamp}.", retry_after=wait, details=details)


def budget_pressure(lines: Sequence[BudgetLine], spent_usd: Sequence[float]) -> float:
    """The largest fraction used of any limited budget (0 when none is limited)."""
    worst = 0.0
    for line, spent in zip(lines, spent_usd, strict=True):
        if line.limit_usd is None:
            continue
        used = 1.0 if line.limit_usd <= 0 else spent / line.limit_usd
        worst = max(worst, used)
    return worst


def crossed_thresholds(
    limit_usd: float, before_usd: float, after_usd: float, thresholds: Sequence[float]
) -> list[float]:
    """The alert thresholds (fractions, e.g. 0.8 and 1.0) a spend change crossed upward."""
    if limit_usd <= 0:
        return []
    return [t for t in thresholds if before_usd < t * limit_usd <= after_usd]
