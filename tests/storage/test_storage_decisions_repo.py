"""Classification and selection repositories on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core.events import ClassificationEvent, JSONText, SelectionEvent
from annas_gift.storage.models import SelectionRow
from annas_gift.storage.repositories import ClassificationRepository, SelectionRepository

Sessions = async_sessionmaker[AsyncSession]
WHEN = datetime(2024, 3, 1, 12, tzinfo=UTC)


async def test_classifications_round_trip(sessions: Sessions) -> None:
    events = [
        ClassificationEvent(
            "r1", WHEN, "powerful", "math", 0.9, 0.8, {"math_terms": 3, "len": 1.5}
        ),
        ClassificationEvent("r2", WHEN, "fast", "chat", 0.6, 0.1, {}),
    ]
    async with sessions() as session, session.begin():
        await ClassificationRepository(session).add_many(events)
        await ClassificationRepository(session).add_many([])
    async with sessions() as session:
        (r1,) = await ClassificationRepository(session).for_request("r1")
        assert await ClassificationRepository(session).for_request("missing") == []
    assert (r1.tier, r1.category, r1.confidence, r1.score) == ("powerful", "math", 0.9, 0.8)
    assert r1.factors == {"math_terms": 3, "len": 1.5}
    assert r1.created_at == WHEN


async def test_selections_round_trip_with_json_and_nulls(sessions: Sessions) -> None:
    full = SelectionEvent(
        "r1", WHEN, "powerful", "code", "openai", "gpt-large", "best code benchmark",
        0.87, 91.5, {"benchmark": 0.5, "cost": 0.2}, ["anthropic/claude-big"],
    )  # fmt: skip
    bare = SelectionEvent("r2", WHEN, "fast", "chat", "groq", "llama", "cheapest", None, None,
                          None, None)  # fmt: skip
    async with sessions() as session, session.begin():
        await SelectionRepository(session).add_many([full, bare])
    async with sessions() as session:
        (r1,) = await SelectionRepository(session).for_request("r1")
        (r2,) = await SelectionRepository(session).for_request("r2")
        # None is stored as SQL NULL (not JSON 'null'), so IS NULL finds it.
        null_breakdowns = await session.scalar(
            select(func.count()).where(SelectionRow.breakdown.is_(None))
        )
    assert (r1.selected_provider, r1.selected_model, r1.reason) == (
        "openai",
        "gpt-large",
        "best code benchmark",
    )
    assert (r1.score, r1.benchmark_score) == (0.87, 91.5)
    assert r1.breakdown == {"benchmark": 0.5, "cost": 0.2}
    assert r1.fallbacks_tried == ["anthropic/claude-big"]
    assert (r2.score, r2.breakdown, r2.fallbacks_tried) == (None, None, None)
    assert null_breakdowns == 1


async def test_a_selections_ranking_text_is_stored_as_json(sessions: Sessions) -> None:
    ranking = {"ranked": 2, "runner_up": "b", "components": ["cost"],
               "candidates": [{"rank": 1, "name": "a", "parts": [0.5]}]}  # fmt: skip
    with_ranking = SelectionEvent("r1", WHEN, "fast", "chat", "p", "a", "best", 0.9, 50.0, None,
                                  None, ranking=json.dumps(ranking))  # fmt: skip
    damaged = SelectionEvent("r2", WHEN, "fast", "chat", "p", "a", "best", None, None, None, None,
                             ranking='{"ranked": ')  # fmt: skip
    async with sessions() as session, session.begin():
        await SelectionRepository(session).add_many([with_ranking, damaged])
    async with sessions() as session:
        (r1,) = await SelectionRepository(session).for_request("r1")
        (r2,) = await SelectionRepository(session).for_request("r2")
        no_ranking = await session.scalar(
            select(func.count()).where(SelectionRow.ranking.is_(None))
        )
    assert r1.ranking == ranking
    # A damaged spool line keeps its decision; only the ranking is dropped (as SQL NULL).
    assert (r2.selected_model, r2.ranking, no_ranking) == ("a", None, 1)


async def test_a_live_decisions_ranking_text_is_stored_as_is_and_reads_back_as_json(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Text this process encoded (JSONText) goes to the column without a decode and re-encode;
    # on PostgreSQL the JSON column itself parses it, so it must be JSON the column accepts.
    import annas_gift.storage.repositories.decisions as repo_module

    ranking = {"ranked": 1, "runner_up": None, "candidates": [{"rank": 1, "name": "a"}]}
    live = SelectionEvent("r3", WHEN, "fast", "chat", "p", "a", "best", 0.9, None, None, None,
                          ranking=JSONText(json.dumps(ranking)))  # fmt: skip
    decoded: list[object] = []
    real_loads = repo_module.orjson.loads
    monkeypatch.setattr(repo_module, "orjson", _CountingOrjson(real_loads, decoded))
    async with sessions() as session, session.begin():
        await SelectionRepository(session).add_many([live])
    monkeypatch.undo()
    assert decoded == []  # not decoded on the way in
    async with sessions() as session:
        (row,) = await SelectionRepository(session).for_request("r3")
    assert row.ranking == ranking


class _CountingOrjson:
    """The repository's orjson with `loads` recorded."""

    JSONDecodeError = ValueError

    def __init__(self, loads: Any, seen: list[object]) -> None:
        self._loads, self._seen = loads, seen

    def loads(self, text: Any) -> Any:
        self._seen.append(text)
        return self._loads(text)
