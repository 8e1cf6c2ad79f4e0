"""POST /api/v1/classify: the routing decision for a request, without calling any model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from annas_gift.api.deps import CatalogDep, Chat, KeyId, PlannerDep
from annas_gift.api.routes.common import json_body, read_body, to_chat_input
from annas_gift.api.schemas.native import ChatRequest, DecisionExplanation
from annas_gift.core.types import AUTO_MODELS
from annas_gift.services.auto_routing import explain_plan

routes = APIRouter(prefix="/api/v1", tags=["routing"])


class ClassifyResponse(BaseModel):
    """What `auto` would do with this request: the classification, the ranked selection, and
    both in plain words (`explanation`)."""

    tier: str
    category: str
    classification: dict[str, Any]
    selection: dict[str, Any]
    fallback_order: list[str]
    explanation: DecisionExplanation


@routes.post("/classify", response_model=ClassifyResponse, openapi_extra=json_body(ChatRequest))
async def classify(
    request: Request, _: KeyId, catalog: CatalogDep, chat: Chat, planner: PlannerDep
) -> ClassifyResponse:
    """Explain the routing decision for a chat request; spends no tokens and records nothing."""
    body = await read_body(request, ChatRequest)
    inp = to_chat_input(body, body.messages)
    if inp.model not in AUTO_MODELS:
        inp.model = "auto"  # an explicit model needs no decision; explain what auto would do
    # The same live view of health and headroom that a real auto request would be ranked with.
    plan = planner.plan(inp, catalog, await chat.live_state())
    # An auto plan always carries its decision; the checks narrow the types for mypy.
    explained = explain_plan(plan)
    if plan.classification is None or plan.selection is None or explained is None:
        raise ValueError("the planner returned a plan without its decision")
    return ClassifyResponse(
        tier=plan.tier or plan.classification.tier,
        category=plan.category or plan.classification.category,
        classification=plan.classification.to_dict(),
        selection=plan.selection.to_dict(),
        fallback_order=[m.name for m in plan.models],
        explanation=DecisionExplanation.model_validate(explained.to_dict()),
    )
