"""Routing decisions as storable events: what the classifier said and what the selector chose."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from annas_gift.core.events import ClassificationEvent, SelectionEvent

if TYPE_CHECKING:
    from annas_gift.catalog.registry import CatalogModel
    from annas_gift.core.types import Attempt
    from annas_gift.services.types import RoutePlan


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
        ),
    )
