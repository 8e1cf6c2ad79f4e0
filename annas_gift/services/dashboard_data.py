"""What the dashboard shows, assembled from the repositories and the live state (no HTML here).

Every function returns plain JSON-ready values, so templates render them and the page's charts
read the same numbers. The pure helpers (windows, percentiles, series, splits) take their
inputs as arguments and are tested on their own.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core.events import UsageStat, utc_hour
from annas_gift.state import GatewayState
from annas_gift.storage.models import ClassificationRow, SelectionRow, UsageRecord
from annas_gift.storage.repositories import (
    ClassificationRepository,
    SelectionRepository,
    UsageRepository,
)
from annas_gift.storage.repositories.activity import (
    ActivityRepository,
    LatencyPoint,
    RouteCount,
)

Sessions = async_sessionmaker[AsyncSession]
Rows = list[dict[str, Any]]
# Keys, teams and the global cap against their budgets (`services.key_overview`).
KeyViews = Callable[[], Awaitable[Mapping[str, Any]]]

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "24h"
RECENT_LIMIT = 50


def window_start(name: str | None, now: datetime) -> tuple[str, datetime]:
    """The window's name and start; an unknown or missing name means the default window."""
    key = name if name in WINDOWS else DEFAULT_WINDOW
    return key, now - WINDOWS[key]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-th percentile (0 < q <= 100) of values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every UTC hour from the one holding `start` to the one holding `end`, inclusive."""
    hour, last = utc_hour(start), utc_hour(end)
    out = []
    while hour <= last:
        out.append(hour)
        hour += timedelta(hours=1)
    return out


def _label(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _hour_label(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%m-%d %H:00")


def usage_series(rows: Iterable[Any], start: datetime, end: datetime) -> dict[str, list[Any]]:
    """Hourly requests, tokens, cost and errors over [start, end], zero-filled, all models."""
    hours = hours_between(start, end)
    index = {hour: i for i, hour in enumerate(hours)}
    series: dict[str, list[Any]] = {
        "hours": [_hour_label(h) for h in hours],
        "requests": [0] * len(hours),
        "tokens": [0] * len(hours),
        "errors": [0] * len(hours),
        "cost_usd": [0.0] * len(hours),
    }
    for row in rows:
        i = index.get(utc_hour(row.hour))
        if i is None:
            continue
        series["requests"][i] += row.requests
        series["tokens"][i] += row.prompt_tokens + row.completion_tokens
        series["errors"][i] += row.errors
        series["cost_usd"][i] += row.cost_usd
    return series


def latency_series(
    points: Iterable[LatencyPoint], start: datetime, end: datetime
) -> dict[str, list[Any]]:
    """Per-hour p50 and p95 latency (ms) over [start, end]; None for hours without calls."""
    hours = hours_between(start, end)
    buckets: dict[datetime, list[float]] = {hour: [] for hour in hours}
    for point in points:
        bucket = buckets.get(utc_hour(point.created_at))
        if bucket is not None:
            bucket.append(point.latency_ms)
    return {
        "hours": [_hour_label(h) for h in hours],
        "p50": [percentile(buckets[h], 50) for h in hours],
        "p95": [percentile(buckets[h], 95) for h in hours],
    }


def stat_dict(stat: UsageStat | None) -> dict[str, Any]:
    """A usage aggregate as the page shows it (zeros when there is none)."""
    if stat is None:
        stat = UsageStat(None, 0, 0, 0, 0, 0, 0.0, 0.0, None)
    return {
        "key": stat.key,
        "requests": stat.requests,
        "prompt_tokens": stat.prompt_tokens,
        "completion_tokens": stat.completion_tokens,
        "total_tokens": stat.total_tokens,
        "errors": stat.errors,
        "rate_limit_hits": stat.rate_limit_hits,
        "cost_usd": stat.cost_usd,
        "saved_cost_usd": stat.saved_cost_usd,
        "avg_latency_ms": stat.avg_latency_ms,
    }


async def overview(sessions: Sessions, window: str | None, now: datetime) -> dict[str, Any]:
    """Totals, hourly series, latency percentiles and cache savings for the window."""
    name, since = window_start(window, now)
    async with sessions() as session:
        usage = UsageRepository(session)
        totals = await usage.stats(since=since)
        by_model = await usage.stats(since=since, group_by="model")
        hourly = await usage.hourly(since=utc_hour(since))
        points = await ActivityRepository(session).latencies(since)
    latencies = [p.latency_ms for p in points]
    return {
        "window": name,
        "since": since.isoformat(),
        "totals": stat_dict(totals[0] if totals else None),
        "latency": {
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "samples": len(latencies),
        },
        "series": usage_series(hourly, since, now),
        "latency_series": latency_series(points, since, now),
        "by_model": [stat_dict(s) for s in by_model],
    }


def record_dict(record: UsageRecord) -> dict[str, Any]:
    """A usage record's metadata; the prompt excerpt is set only under `logging.store_prompts`."""
    return {
        "request_id": record.request_id,
        "created_at": _label(record.created_at) + record.created_at.strftime(":%S"),
        "key_id": record.key_id,
        "route": record.route,
        "provider": record.provider,
        "model": record.model,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cost_usd": record.cost_usd,
        "latency_ms": record.latency_ms,
        "status": record.status,
        "error_type": record.error_type,
        "stream": record.stream,
        "cached": record.cached,
        "saved_cost_usd": record.saved_cost_usd,
        "prompt_excerpt": record.prompt_excerpt,
    }


def model_row(model: CatalogModel, live: Any, now: float) -> dict[str, Any]:
    """One model's availability, breaker, cooldown and headroom as of `now` (epoch seconds)."""
    missing = model.missing_env()
    cooldown = live.cooled_down_until
    limits = {"rpm": model.rpm, "tpm": model.tpm, "rpd": model.rpd, "tpd": model.tpd}
    return {
        "name": model.name,
        "provider": model.provider,
        "tier": model.tier,
        "available": not missing,
        "missing_env": missing,
        "healthy": live.healthy,
        "breaker": live.breaker,
        "cooldown_s": round(cooldown - now, 1) if cooldown and cooldown > now else None,
        "headroom": live.headroom,
        "error_rate": live.error_rate,
        "latency_p50_ms": live.latency_p50_ms,
        "remaining": {k: v for k, v in live.remaining.items() if v is not None},
        "limits": {k: v for k, v in limits.items() if v is not None},
        "last_error": live.last_error,
    }


async def models_overview(
    models: Sequence[CatalogModel], state: GatewayState, sessions: Sessions, now: datetime
) -> dict[str, Any]:
    """Every model's live state grouped by provider, and the most recent failed calls."""
    live = await state.snapshot(models)
    providers: dict[str, Rows] = {}
    for model in models:
        row = model_row(model, live[model.name], now.timestamp())
        providers.setdefault(model.provider, []).append(row)
    async with sessions() as session:
        errors = await ActivityRepository(session).recent_records(20, errors_only=True)
    return {
        "providers": [
            {
                "provider": provider,
                "models": rows,
                "available": sum(1 for r in rows if r["available"]),
                "healthy": sum(1 for r in rows if r["healthy"] and r["cooldown_s"] is None),
            }
            for provider, rows in sorted(providers.items())
        ],
        "recent_errors": [record_dict(r) for r in errors],
    }


def route_split(counts: Iterable[RouteCount]) -> dict[str, Any]:
    """How auto split its traffic: by tier, by category, tier x category, and models chosen."""
    by_tier: dict[str, int] = {}
    by_category: dict[str, int] = {}
    matrix: dict[str, dict[str, int]] = {}
    by_model: dict[tuple[str, str, str], int] = {}
    for c in counts:
        by_tier[c.tier] = by_tier.get(c.tier, 0) + c.requests
        by_category[c.category] = by_category.get(c.category, 0) + c.requests
        cell = matrix.setdefault(c.tier, {})
        cell[c.category] = cell.get(c.category, 0) + c.requests
        key = (c.model or "(none served)", c.provider, c.tier)
        by_model[key] = by_model.get(key, 0) + c.requests
    ordered = sorted(by_model.items(), key=lambda kv: (-kv[1], kv[0]))
    models = [{"model": m, "provider": p, "tier": t, "requests": n} for (m, p, t), n in ordered]
    return {
        "total": sum(by_tier.values()),
        "by_tier": dict(sorted(by_tier.items())),
        "by_category": dict(sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))),
        "matrix": matrix,
        "categories": sorted(by_category),
        "by_model": models,
    }


def ranking_view(ranking: Mapping[str, Any] | None, chosen: str) -> dict[str, Any] | None:
    """A stored ranking with each candidate marked chosen / runner-up (None: not stored)."""
    if not ranking:
        return None
    runner_up = ranking.get("runner_up")
    names = ranking.get("components") or []
    candidates = [
        {
            **{k: v for k, v in c.items() if k != "parts"},
            "components": dict(zip(names, c.get("parts") or [], strict=False)),
            "chosen": c.get("name") == chosen,
            "runner_up": c.get("name") == runner_up,
        }
        for c in ranking.get("candidates") or []
    ]
    return {**ranking, "candidates": candidates}


def selection_dict(row: SelectionRow) -> dict[str, Any]:
    """A stored routing decision: the chosen model, why, its breakdown, ranking, attempts."""
    return {
        "request_id": row.request_id,
        "created_at": _label(row.created_at) + row.created_at.strftime(":%S"),
        "tier": row.tier,
        "category": row.category,
        "provider": row.selected_provider,
        "model": row.selected_model,
        "reason": row.reason,
        "score": row.score,
        "benchmark_score": row.benchmark_score,
        "breakdown": dict(row.breakdown or {}),
        "attempts": list(row.fallbacks_tried or []),
        "ranking": ranking_view(row.ranking, row.selected_model),
    }


async def routing(sessions: Sessions, window: str | None, now: datetime) -> dict[str, Any]:
    """The routing split in the window and the most recent decisions."""
    name, since = window_start(window, now)
    async with sessions() as session:
        activity = ActivityRepository(session)
        counts = await activity.route_counts(since)
        recent = await activity.recent_selections(25)
    return {
        "window": name,
        "split": route_split(counts),
        "recent": [selection_dict(r) for r in recent],
    }


async def recent_decisions(sessions: Sessions, limit: int) -> Rows:
    """The newest `limit` routing decisions, newest first (`GET /api/v1/decisions`)."""
    async with sessions() as session:
        recent = await ActivityRepository(session).recent_selections(limit)
    return [selection_dict(r) for r in recent]


async def decision(sessions: Sessions, request_id: str) -> dict[str, Any] | None:
    """One request's routing decision (the last stored if a client reused the id), or None."""
    async with sessions() as session:
        selections = await SelectionRepository(session).for_request(request_id)
    return selection_dict(selections[-1]) if selections else None


def classification_dict(row: ClassificationRow) -> dict[str, Any]:
    """The classifier's verdict with each factor's value and its pull on the tier score."""
    # Stored factors are the classifier's own top contributions (logit pull toward powerful).
    pulls = {k: float(v) for k, v in (row.factors or {}).items()}
    rows = [
        {"name": name, "contribution": pull}
        for name, pull in sorted(pulls.items(), key=lambda item: -abs(item[1]))
    ]
    return {
        "tier": row.tier,
        "category": row.category,
        "confidence": row.confidence,
        "score": row.score,
        "factors": rows,
    }


async def request_detail(sessions: Sessions, request_id: str) -> dict[str, Any] | None:
    """One request's calls and, if `auto` routed it, the classification and selection."""
    async with sessions() as session:
        records = await ActivityRepository(session).records_for(request_id)
        classes = await ClassificationRepository(session).for_request(request_id)
        selections = await SelectionRepository(session).for_request(request_id)
    if not (records or classes or selections):
        return None
    return {
        "request_id": request_id,
        "calls": [record_dict(r) for r in records],
        "classification": classification_dict(classes[-1]) if classes else None,
        "selection": selection_dict(selections[-1]) if selections else None,
    }


async def recent_requests(sessions: Sessions, limit: int = RECENT_LIMIT) -> Rows:
    """The newest calls' metadata."""
    async with sessions() as session:
        records = await ActivityRepository(session).recent_records(limit)
    return [record_dict(r) for r in records]


async def keys_summary(settings_keys: int, views: KeyViews | None) -> dict[str, Any]:
    """The configured key count and, with virtual keys, every key and team against its budgets."""
    if views is None:
        return {"settings_keys": settings_keys, "enabled": False, "keys": [], "teams": []}
    return {"settings_keys": settings_keys, "enabled": True, **await views()}


def alerts(rows: Sequence[Mapping[str, Any]], *, enabled: bool) -> dict[str, Any]:
    """Active and recent alerts as table rows, with the union of their columns."""
    items = [dict(a) for a in rows]
    columns: list[str] = []
    for item in items:
        columns.extend(k for k in item if k not in columns)
    return {"enabled": enabled, "alerts": items, "columns": columns}


def vpn_summary(status: Mapping[str, Any] | None) -> dict[str, Any]:
    """The VPN manager's status (URLs already masked), or a disabled placeholder."""
    if status is None:
        return {"enabled": False, "running": False, "endpoints": []}
    return {"running": True, **status}
