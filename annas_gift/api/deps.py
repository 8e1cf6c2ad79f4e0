"""FastAPI dependencies: the lifespan's clients, reachable and overridable in tests.

All are `async def`: FastAPI runs plain `def` dependencies in a thread pool, a thread hand-off
per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from annas_gift.api.auth import authenticate
from annas_gift.catalog.registry import Catalog
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.services.chat import ChatService


async def get_chat(request: Request) -> ChatService:
    """The chat service built in the lifespan."""
    return request.app.state.chat


async def get_catalog(request: Request) -> Catalog:
    """The model catalog."""
    return request.app.state.catalog


async def get_tracker(request: Request) -> UsageTracker:
    """The usage tracker."""
    return request.app.state.tracker


KeyId = Annotated[str, Depends(authenticate)]
Chat = Annotated[ChatService, Depends(get_chat)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
Tracker = Annotated[UsageTracker, Depends(get_tracker)]
