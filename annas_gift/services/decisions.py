"""Routing decisions as storable events: what the classifier said and what the selector chose."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from annas_gift.core.events import ClassificationEvent, JSONText, SelectionEvent
from annas_gift.core.names import COMPONENTS

if TYPE_CHECKING:
    from annas_gift.catalog.registry import CatalogModel
    from annas_gift.core.types import Attempt
    from annas_gift.routing.selection_types import RankedCandidate, Selection
    from annas_gift.services.types import RoutePlan

# The stored ranking keeps the top of the fallback order (plus the runner-up, wherever it is)
# and the first exclusions: a few hundred bytes of JSON per decision, not the whole catalog.
RANKING_LIMIT = 10
EXCLUDED_LIMIT = 10
# Rounded so that rows stay small: components to 4 decimals. Totals are kept whole: the pages
# show 3 decimals and must show what the native response's ranking shows, and rounding twice
# (to 6, then to 3) turns 0.7204996 into 0.721 where the response says 0.720.
_PART_DIGITS = 4
_POINTS_DIGITS = 2

# A selector decision is cached and shared by every request with the same live state, so its
# record is built and encoded once per Selection object (keyed by identity, the object kept to
# pin the id). It travels as JSON text: the journal encodes events with dataclasses.asdict,
# which copies a nested dict number by number (~0.6 ms for a ranking) but a string at once.
_RECORDS: dict[int, tuple[Selection, JSONText]] = {}
_RECORDS_LIMIT = 1024


def _points(value: float | None) -> float | None:
    return None if value is None else round(value, _POINTS_DIGITS)


def _candidate(rank: int, row: RankedCandidate, benchmark: str | None) -> dict[str, Any]:
    deciding = next((p for p in row.benchmark_parts if p.benchmark == benchmark), None)
    return {
        "rank": rank,
        "name": row.name,
        "provider": row.provider,
        "tier": row.tier,
        "score": row.score,
        "benchmark_score": _points(row.benchmark_score),
        "benchmark_imputed": row.benchmark_imputed,
        "in_category": row.in_category,
        "parts": [round(v, _PART_DIGITS) for v in row.parts],  # in the record's "components"
        # The candidate's number on the benchmark that decided (None if it has none).
        "benchmark_value": _points(deciding.value) if deciding else None,
        "benchmark_value_imputed": deciding.imputed if deciding else False,
    }


def ranking_record(selection: Selection) -> dict[str, Any]:
    """The selector's ranking as stored with the decision: bounded, JSON-ready, rounded.

    The top RANKING_LIMIT candidates in the selector's order (the fallback order), plus the
    explanation's runner-up wherever it ranked; each candidate's component values are listed
    in the order of the record's `components`.
    """
    why = selection.explanation
    benchmark = why.benchmark if why else None
    runner_up = why.runner_up if why else None
    ranking = selection.ranking
    shown = list(range(min(len(ranking), RANKING_LIMIT)))
    runner_at = next((i for i, r in enumerate(ranking) if r.name == runner_up), None)
    if runner_at is not None and runner_at >= RANKING_LIMIT:
        shown.append(runner_at)
    return {
        "ranked": len(ranking),
        "decided_by": why.decided_by if why else None,
        "benchmark": benchmark,
        "benchmark_label": why.benchmark_label if why else None,
        "runner_up": runner_up,
        "components": list(COMPONENTS),
        "candidates": [_candidate(i + 1, ranking[i], benchmark) for i in shown],
        "excluded": [{"model": m, "reason": r} for m, r in selection.excluded[:EXCLUDED_LIMIT]],
        "excluded_total": len(selection.excluded),
    }


def ranking_json(selection: Selection) -> JSONText:
    """`ranking_record` as compact JSON text, encoded once per selector decision."""
    cached = _RECORDS.get(id(selection))
    if cached is not None and cached[0] is selection:
        return cached[1]
    text = JSONText(orjson.dumps(ranking_record(selection)).decode())
    if len(_RECORDS) >= _RECORDS_LIMIT:
        _RECORDS.clear()
    _RECORDS[id(selection)] = (selection, text)
    return text


def decision_events(
    request_id: str,
    plan: RoutePlan,
    attempts: list[Attempt],
    served: CatalogModel | None,
) -> tuple[ClassificationEvent, SelectionEvent] | None:
    """The rows for an auto-routed request (None for explicit models: nothing was decided)."""
    classification, selection = plan.classification, plan.selection
    if classification is None or selection is None:
        return None
    now = datetime.now(UTC)
    chosen = served or (plan.models[0] if plan.models else None)
    top = next((r for r in selection.ranking if chosen and r.name == chosen.name), None)
    return (
        ClassificationEvent(
            request_id=request_id,
            created_at=now,
            tier=classification.tier,
            category=classification.category,
            confidence=classification.confidence,
            score=classification.score,
            factors=dict(classification.factors),
        ),
        SelectionEvent(
            request_id=request_id,
            created_at=now,
            tier=plan.tier or classification.tier,
            category=classification.category,
            selected_provider=chosen.provider if chosen else "",
            selected_model=chosen.name if chosen else "",
            reason=selection.reason if served else f"all attempts failed; {selection.reason}",
            score=top.score if top else None,
            benchmark_score=top.benchmark_score if top else None,
            breakdown=top.components if top else None,
            fallbacks_tried=[a.to_dict() for a in attempts],
            ranking=ranking_json(selection),
        ),
    )
