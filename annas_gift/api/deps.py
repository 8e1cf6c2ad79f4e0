"""FastAPI dependencies: the only way routes reach the running gateway's parts.

Each alias below reads `app.state.gateway` (built by `api.gateway.open_gateway`); routes
declare the alias they need and never touch `request.app` themselves (tests/unit/
test_architecture.py enforces it). All are `async def`: FastAPI runs plain `def` dependencies
in a thread pool, a thread hand-off per dependency per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from annas_gift.api.gateway import Gateway
from annas_gift.api.operations import Operations
from annas_gift.catalog.registry import Catalog
from annas_gift.core.errors import (
    AuthenticationFailed,
    InsufficientPermissions,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from annas_gift.egress.admin import VPNAdmin
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.services.chat import ChatService
from annas_gift.services.collaborators import Planner
from annas_gift.services.embeddings import EmbeddingService
from annas_gift.services.key_admin import KeyAdmin
from annas_gift.services.keys import Principal
from annas_gift.state import GatewayState
from annas_gift.storage import database


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def get_principal(request: Request) -> Principal:
    """The caller (admin key, settings client key or virtual key), or a 401.

    One SHA-256 and at most two dict lookups (`services.principals`). FastAPI caches this per
    request, so every alias below shares one resolution.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <your gateway key>'."
        )
    principal = _gateway(request).principals.resolve(token.strip())
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


async def get_db_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """Sessions on the gateway's database (for routes that read it through repositories)."""
    return database.session_factory(_gateway(request).engine)


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


def _may_see_dashboard(principal: Principal, gateway: Gateway) -> bool:
    """An admin key, or a settings key whose id `dashboard.admin_keys` names; virtual keys
    never (`record` is set for them only)."""
    named = principal.record is None and principal.key_id in gateway.settings.dashboard.admin_keys
    return principal.is_admin or named


async def dashboard_login(request: Request, key: Annotated[str, Form()] = "") -> str | None:
    """The key id if the key posted to the dashboard login may log in, else None.

    The dashboard is an admin surface: an admin key logs in; so does a settings client key
    whose id `dashboard.admin_keys` names (a read-only operator who is not a key admin).
    """
    token = key.strip()
    if not token:
        return None
    gateway = _gateway(request)
    principal = gateway.principals.settings_principal(token)
    if principal is None:
        return None
    return principal.key_id if _may_see_dashboard(principal, gateway) else None


def check_json_content(request: Request, *, missing_is_json: bool = True) -> None:
    """415 for a body declared as anything but JSON (`application/json` or `*/*+json`).

    The chat routes read a missing Content-Type as JSON, as OpenAI's API does; FastAPI parses
    the admin routes' bodies only when declared JSON, so those say so (`missing_is_json`).
    """
    declared = request.headers.get("content-type")
    if declared is None:
        if missing_is_json:
            return
        raise UnsupportedMediaType(
            "The request has a body but no Content-Type; send it as application/json."
        )
    media = declared.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {media[:100]!r}; send the body as application/json."
        )


async def require_json_body(request: Request) -> None:
    """415 unless a request body present is declared JSON (admin routes' bodies).

    Declare it after the route's key check, so a request without a valid key gets its 401
    first; FastAPI runs it before validating the body, so 415 comes before any 400.
    """
    has_body = request.headers.get("content-length", "0") != "0"
    if has_body or "transfer-encoding" in request.headers:
        check_json_content(request, missing_is_json=False)


JsonBody = Annotated[None, Depends(require_json_body)]


async def dashboard_reader(principal: PrincipalDep, request: Request) -> Principal:
    """The caller, if it may read what the dashboard shows: an admin key, or a settings key
    whose id `dashboard.admin_keys` names (the same people who may log in to the dashboard)."""
    if _may_see_dashboard(principal, _gateway(request)):
        return principal
    raise InsufficientPermissions(
        "This API key may not read routing decisions: it needs an admin key or an id listed "
        "in dashboard.admin_keys."
    )


Ops = Annotated[Operations, Depends(get_operations)]
DbSessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_db_sessions)]
DashboardReader = Annotated[Principal, Depends(dashboard_reader)]
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
