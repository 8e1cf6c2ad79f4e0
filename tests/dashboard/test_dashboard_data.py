"""Dashboard data assembly: pure helpers, and the activity queries on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.events import ClassificationEvent, SelectionEvent, UsageEvent
from annas_gift.services import dashboard_data as data
from annas_gift.services.key_overview import budget_rows
from annas_gift.storage.batch import write_batch
from annas_gift.storage.repositories.activity import LatencyPoint, RouteCount

NOW = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


def test_window_start_falls_back_to_the_default_for_unknown_names() -> None:
    assert data.window_start("7d", NOW) == ("7d", NOW - timedelta(days=7))
    assert data.window_start("1y'; drop", NOW) == ("24h", NOW - timedelta(hours=24))
    assert data.window_start(None, NOW)[0] == "24h"


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert data.percentile(values, 50) == 50.0
    assert data.percentile(values, 95) == 95.0
    assert data.percentile([7.0], 95) == 7.0
    assert data.percentile([], 50) is None


class _Hour:
    def __init__(self, hour: datetime, requests: int, errors: int = 0) -> None:
        self.hour, self.requests, self.errors = hour, requests, errors
        self.prompt_tokens, self.completion_tokens, self.cost_usd = 10 * requests, requests, 0.5


def test_usage_series_is_zero_filled_per_hour_and_drops_rows_outside() -> None:
    start = NOW - timedelta(hours=3)
    rows = [_Hour(NOW.replace(minute=0), 4, 1), _Hour(start - timedelta(hours=5), 99)]
    series = data.usage_series(rows, start, NOW)
    assert series["hours"] == ["03-01 09:00", "03-01 10:00", "03-01 11:00", "03-01 12:00"]
    assert series["requests"] == [0, 0, 0, 4]
    assert series["errors"] == [0, 0, 0, 1]
    assert series["tokens"] == [0, 0, 0, 44]


def test_latency_series_has_none_for_hours_without_calls() -> None:
    points = [LatencyPoint(NOW, v) for v in (10.0, 20.0, 30.0, 400.0)]
    series = data.latency_series(points, NOW - timedelta(hours=1), NOW)
    assert series["p50"] == [None, 20.0]
    assert series["p95"] == [None, 400.0]


def test_route_split_counts_tiers_categories_and_models() -> None:
    split = data.route_split(
        [
            RouteCount("fast", "code", "p", "p/a", 3),
            RouteCount("fast", "chat", "p", "p/b", 1),
            RouteCount("powerful", "code", "p", "p/c", 2),
            RouteCount("powerful", "code", "", "", 1),  # every attempt failed
        ]
    )
    assert split["total"] == 7
    assert split["by_tier"] == {"fast": 4, "powerful": 3}
    assert split["by_category"] == {"code": 6, "chat": 1}
    assert split["matrix"] == {"fast": {"code": 3, "chat": 1}, "powerful": {"code": 3}}
    assert [m["model"] for m in split["by_model"]] == ["p/a", "p/c", "(none served)", "p/b"]


async def test_alert_rows_and_key_views_render_what_they_are_given() -> None:
    rows = [{"rule": "error_rate", "state": "firing"}, {"rule": "spend", "since": "x"}]
    view = data.alerts(rows, enabled=True)
    assert view["columns"] == ["rule", "state", "since"]
    assert view["alerts"] == rows and view["enabled"] is True
    assert data.alerts([], enabled=False) == {"enabled": False, "alerts": [], "columns": []}
    keys = await data.keys_summary(3, None)
    assert keys == {"settings_keys": 3, "enabled": False, "keys": [], "teams": []}

    async def views() -> dict[str, Any]:
        return {"keys": [{"name": "alice"}], "teams": [], "global": []}

    keys = await data.keys_summary(2, views)
    assert keys["enabled"] is True and keys["keys"] == [{"name": "alice"}]


def test_budget_rows_give_the_fraction_used_of_each_limited_budget() -> None:
    rows = budget_rows((0.004, 0.02, 0.5), (0.005, None, 0.0))
    assert [(r["period"], r["used"]) for r in rows] == [
        ("day", pytest.approx(0.8)), ("month", None), ("total", 1.0)
    ]  # fmt: skip
    assert rows[0]["spent_usd"] == 0.004 and rows[1]["limit_usd"] is None


async def test_activity_views_on_the_database(
    sessions: async_sessionmaker[AsyncSession], usage_event: Callable[..., UsageEvent]
) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=3)
    events: list[Any] = [
        usage_event(request_id="r1", created_at=now - timedelta(minutes=5), latency_ms=10.0),
        usage_event(request_id="r2", created_at=now - timedelta(minutes=2), latency_ms=30.0),
        usage_event(
            request_id="r3", created_at=now - timedelta(minutes=1), status=503, latency_ms=5.0
        ),
        usage_event(request_id="r4", created_at=now, cached=True, saved_cost_usd=0.01),
        usage_event(request_id="old", created_at=old),
        ClassificationEvent("r2", now, "fast", "code", 0.8, 0.3, {"code_block": 0.4, "wording": -1.0}),  # noqa: E501
        SelectionEvent("r2", now, "fast", "code", "openai", "gpt-small", "ranks first", 0.7,
                       80.0, {"cost": 0.5}, [{"model": "gpt-small", "status": 200}]),
        SelectionEvent("x", old, "powerful", "math", "p", "m", "old", None, None, None, None),
    ]  # fmt: skip
    assert await write_batch(sessions, events)

    view = await data.overview(sessions, "24h", now + timedelta(seconds=1))
    assert view["totals"]["requests"] == 4
    assert view["totals"]["errors"] == 1
    assert view["totals"]["saved_cost_usd"] == pytest.approx(0.01)
    assert view["latency"]["samples"] == 3  # the cache hit is not an upstream latency
    assert view["latency"]["p50_ms"] == 10.0

    recent = await data.recent_requests(sessions, limit=3)
    assert [r["request_id"] for r in recent] == ["r4", "r3", "r2"]

    split = (await data.routing(sessions, "24h", now + timedelta(seconds=1)))["split"]
    assert split["by_tier"] == {"fast": 1}

    detail = await data.request_detail(sessions, "r2")
    assert detail is not None
    assert [f["name"] for f in detail["classification"]["factors"]] == ["wording", "code_block"]
    assert detail["selection"]["model"] == "gpt-small"
    assert [c["request_id"] for c in detail["calls"]] == ["r2"]
    assert await data.request_detail(sessions, "nope") is None


def test_ranking_view_marks_the_chosen_and_the_runner_up_and_names_components() -> None:
    stored = {
        "ranked": 3,
        "runner_up": "b",
        "components": ["benchmark_rank", "cost"],
        "candidates": [
            {"rank": 1, "name": "a", "parts": [1.0, 0.5]},
            {"rank": 2, "name": "b", "parts": [0.5, 1.0]},
            {"rank": 3, "name": "c", "parts": [0.0, 0.2]},
        ],
    }
    # A fallback served the request: "c" is chosen, the runner-up stays the explanation's.
    view = data.ranking_view(stored, chosen="c")
    assert view is not None
    rows = view["candidates"]
    assert [(r["name"], r["chosen"], r["runner_up"]) for r in rows] == [
        ("a", False, False),
        ("b", False, True),
        ("c", True, False),
    ]
    assert rows[0]["components"] == {"benchmark_rank": 1.0, "cost": 0.5}
    assert "parts" not in rows[0]
    assert data.ranking_view(None, chosen="a") is None  # stored before rankings were kept
