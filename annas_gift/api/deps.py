"""FastAPI dependencies: the only way routes reach the running gateway's parts.

Each alias below reads `app.state.gateway` (built by `api.gateway.open_gateway`); routes
declare the alias they need and never touch `request.app` themselves (tests/unit/
test_architecture.py enforces it). All are `async def`: FastAPI runs plain `def` dependencies
in a thread pool, a thread hand-off per dependency per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Form, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from annas_gift.api.auth import token_digest
from annas_gift.api.gateway import Gateway
from annas_gift.api.operations import Operations
from annas_gift.catalog.registry import Catalog
from annas_gift.core.errors import AuthenticationFailed, InsufficientPermissions, ServiceUnavailable
from annas_gift.egress.admin import VPNAdmin
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.services.chat import ChatService
from annas_gift.services.collaborators import Planner
from annas_gift.services.embeddings import EmbeddingService
from annas_gift.services.key_admin import KeyAdmin
from annas_gift.services.key_cache import resolve_principal
from annas_gift.services.keys import Principal
from annas_gift.state import GatewayState


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def get_principal(request: Request) -> Principal:
    """The caller (admin key, settings client key or virtual key), or a 401.

    The token is hashed once; an unknown key costs the two key rings' checks and one dict
    lookup. FastAPI caches this per request, so every alias below shares one resolution.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <your gateway key>'."
        )
    gateway = _gateway(request)
    principal = resolve_principal(
        token_digest(token.strip()),
        admin=gateway.admin_keys.verify_digest,
        clients=gateway.keys.verify_digest,
        cache=gateway.key_parts.cache,
        now=datetime.now(UTC),
    )
    if principal is None:
        raise AuthenticationFailed("Incorrect API key provided.")
    request.state.key_id = principal.key_id
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def authenticate(principal: PrincipalDep) -> str:
    """The caller's key id, or a 401."""
    return principal.key_id


async def require_admin(principal: PrincipalDep) -> Principal:
    """The caller, if it holds an admin key; else 403 insufficient_permissions."""
    if not principal.is_admin:
        raise InsufficientPermissions(
            "This API key may not use this route: it needs an admin key (ANNAS_GIFT_ADMIN_KEY)."
        )
    return principal


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


async def get_vpn_admin(request: Request, principal: PrincipalDep) -> VPNAdmin:
    """VPN administration: admin keys, and the key ids listed in `vpn.admin_keys`."""
    gateway = _gateway(request)
    if not principal.is_admin and principal.key_id not in (gateway.settings.vpn.admin_keys or ()):
        raise InsufficientPermissions(
            "This API key may not administer the VPN: it needs an admin key (ANNAS_GIFT_ADMIN_KEY)."
        )
    return gateway.vpn_admin


async def get_key_admin(
    request: Request, _: Annotated[Principal, Depends(require_admin)]
) -> KeyAdmin:
    """Key administration, for admin keys (503 when virtual keys are off)."""
    admin = _gateway(request).key_parts.admin
    if admin is None:
        raise ServiceUnavailable(
            "virtual keys are not enabled on this gateway (keys.enabled)", code="keys_not_enabled"
        )
    return admin


Chat = Annotated[ChatService, Depends(get_chat)]
Embeddings = Annotated[EmbeddingService, Depends(get_embeddings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
Tracker = Annotated[UsageTracker, Depends(get_tracker)]
State = Annotated[GatewayState, Depends(get_state)]
Engine = Annotated[AsyncEngine, Depends(get_engine)]
PlannerDep = Annotated[Planner, Depends(get_planner)]
VPNAdminDep = Annotated[VPNAdmin, Depends(get_vpn_admin)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def get_operations(request: Request) -> Operations:
    """Metrics, alerts and dashboard sessions."""
    return _gateway(request).ops


async def dashboard_login(request: Request, key: Annotated[str, Form()] = "") -> str | None:
    """The key id if the key posted to the dashboard login may log in, else None.

    The dashboard is an admin surface: an admin key logs in; so does a settings client key
    whose id `dashboard.admin_keys` names (a read-only operator who is not a key admin).
    """
    token = key.strip()
    if not token:
        return None
    gateway = _gateway(request)
    digest = token_digest(token)
    admin_id = gateway.admin_keys.verify_digest(digest)
    if admin_id is not None:
        return admin_id
    key_id = gateway.keys.verify_digest(digest)
    if key_id is not None and key_id in gateway.settings.dashboard.admin_keys:
        return key_id
    return None


Ops = Annotated[Operations, Depends(get_operations)]
DashboardLogin = Annotated[str | None, Depends(dashboard_login)]
Admin = Annotated[Principal, Depends(require_admin)]
KeyAdminDep = Annotated[KeyAdmin, Depends(get_key_admin)]


@dataclass(frozen=True, slots=True)
class ChatCaller:
    """Who calls a chat route, and the service that answers it."""

    key_id: str
    chat: ChatService


async def get_chat_caller(request: Request) -> ChatCaller:
    """The caller (or a 401) and the chat service, as one dependency.

    The chat routes are the hot path: FastAPI's resolution costs per dependency, and this one
    replaces the three (`authenticate`, `get_principal`, `get_chat`) they would declare.
    """
    principal = await get_principal(request)
    return ChatCaller(principal.key_id, _gateway(request).chat)


ChatCallerDep = Annotated[ChatCaller, Depends(get_chat_caller)]
