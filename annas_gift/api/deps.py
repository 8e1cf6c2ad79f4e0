"""FastAPI dependencies: the only way routes reach the running gateway's parts.

Each alias below reads `app.state.gateway` (built by `api.gateway.open_gateway`); routes
declare the alias they need and never touch `request.app` themselves (tests/unit/
test_architecture.py enforces it). All are `async def`: FastAPI runs plain `def` dependencies
in a thread pool, a thread hand-off per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from annas_gift.api.gateway import Gateway
from annas_gift.catalog.registry import Catalog
from annas_gift.core.errors import AuthenticationFailed, Forbidden
from annas_gift.egress.admin import VPNAdmin
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.services.chat import ChatService
from annas_gift.services.collaborators import Planner
from annas_gift.services.embeddings import EmbeddingService
from annas_gift.state import GatewayState


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def authenticate(request: Request) -> str:
    """The caller's key id, or a 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <your gateway key>'."
        )
    key_id = _gateway(request).keys.verify(token.strip())
    if key_id is None:
        raise AuthenticationFailed("Incorrect API key provided.")
    request.state.key_id = key_id
    return key_id


async def get_gateway(request: Request) -> Gateway:
    """The whole running gateway (for routes that report on several parts)."""
    return _gateway(request)


async def get_chat(request: Request) -> ChatService:
    """The chat service."""
    return _gateway(request).chat


async def get_embeddings(request: Request) -> EmbeddingService:
    """The embeddings service."""
    return _gateway(request).embeddings


async def get_catalog(request: Request) -> Catalog:
    """The model catalog."""
    return _gateway(request).catalog


async def get_tracker(request: Request) -> UsageTracker:
    """The usage tracker."""
    return _gateway(request).tracker


async def get_state(request: Request) -> GatewayState:
    """The shared state (limits, health, cache)."""
    return _gateway(request).state


async def get_engine(request: Request) -> AsyncEngine:
    """The database engine."""
    return _gateway(request).engine


async def get_planner(request: Request) -> Planner:
    """The auto router."""
    return _gateway(request).planner


KeyId = Annotated[str, Depends(authenticate)]


async def get_vpn_admin(request: Request, key_id: KeyId) -> VPNAdmin:
    """VPN administration, for a key allowed to administer it (`vpn.admin_keys`)."""
    gateway = _gateway(request)
    admins = gateway.settings.vpn.admin_keys
    if admins and key_id not in admins:
        raise Forbidden("this API key may not administer the VPN")
    return gateway.vpn_admin


Chat = Annotated[ChatService, Depends(get_chat)]
Embeddings = Annotated[EmbeddingService, Depends(get_embeddings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
Tracker = Annotated[UsageTracker, Depends(get_tracker)]
State = Annotated[GatewayState, Depends(get_state)]
Engine = Annotated[AsyncEngine, Depends(get_engine)]
PlannerDep = Annotated[Planner, Depends(get_planner)]
VPNAdminDep = Annotated[VPNAdmin, Depends(get_vpn_admin)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
