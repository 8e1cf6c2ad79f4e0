"""Virtual keys administration: admin keys only; a client key gets 403 and nothing changes.

Not yet included in the app: the integrator moves `get_principal`, `require_admin` and
`get_key_admin` into api/deps.py (on the Gateway object) and includes `router`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from annas_gift.api.schemas.keys import KeyCreate, KeyIssued, KeyList, KeyOut, KeyPatch
from annas_gift.core import errors
from annas_gift.services.key_admin import IssuedKey, KeyAdmin, KeySpec
from annas_gift.services.key_cache import resolve_principal
from annas_gift.services.keys import Principal

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


async def get_principal(request: Request) -> Principal:
    """The caller (admin, settings client key or virtual key), or a 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <your gateway key>'."
        )
    state = request.app.state
    principal = resolve_principal(
        token,
        admin=state.admin_keys.verify,
        clients=state.keys.verify,
        cache=getattr(state, "key_cache", None),
        now=datetime.now(UTC),
    )
    if principal is None:
        raise errors.AuthenticationFailed("Incorrect API key provided.")
    return principal


async def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """The caller, if it holds an admin key; else 403 insufficient_permissions."""
    if not principal.is_admin:
        raise errors.InsufficientPermissions(
            "This API key may not manage keys: use an admin key (ANNAS_GIFT_ADMIN_KEY)."
        )
    return principal


async def get_key_admin(request: Request) -> KeyAdmin:
    """The key administration service (503 when virtual keys are off)."""
    admin: KeyAdmin | None = getattr(request.app.state, "key_admin", None)
    if admin is None:
        raise errors.ServiceUnavailable(
            "virtual keys are not enabled on this gateway", code="keys_not_enabled"
        )
    return admin


Admin = Annotated[Principal, Depends(require_admin)]
Keys = Annotated[KeyAdmin, Depends(get_key_admin)]


def _issued(issued: IssuedKey) -> KeyIssued:
    return KeyIssued(**KeyOut.of(issued.view).model_dump(), secret=issued.secret)


@router.post("", status_code=201)
async def create_key(body: KeyCreate, _: Admin, keys: Keys, response: Response) -> KeyIssued:
    """Create a key; the response holds its secret, which is never shown again."""
    spec = KeySpec(**body.model_dump())
    response.headers["Cache-Control"] = "no-store"
    return _issued(await keys.create(spec))


@router.get("")
async def list_keys(
    _: Admin,
    keys: Keys,
    include_revoked: Annotated[bool, Query()] = False,
    team: Annotated[str | None, Query(max_length=128)] = None,
) -> KeyList:
    """Keys by name (revoked ones with include_revoked=true)."""
    views = await keys.list(include_revoked=include_revoked, team=team)
    return KeyList(data=[KeyOut.of(v) for v in views])


@router.get("/{key_id}")
async def get_key(key_id: str, _: Admin, keys: Keys) -> KeyOut:
    """One key (by id or name) with its spend so far."""
    return KeyOut.of(await keys.show(key_id))


@router.patch("/{key_id}")
async def update_key(key_id: str, body: KeyPatch, _: Admin, keys: Keys) -> KeyOut:
    """Change a key's name, team, expiry, allowed models, limits, budgets or metadata."""
    return KeyOut.of(await keys.update(key_id, body.changes()))


@router.delete("/{key_id}")
async def revoke_key(key_id: str, _: Admin, keys: Keys) -> KeyOut:
    """Revoke a key: every instance refuses it within a second; its usage stays."""
    return KeyOut.of(await keys.revoke(key_id))


@router.post("/{key_id}/rotate")
async def rotate_key(key_id: str, _: Admin, keys: Keys, response: Response) -> KeyIssued:
    """Give a key a new secret (returned once); the old one stops working."""
    response.headers["Cache-Control"] = "no-store"
    return _issued(await keys.rotate(key_id))
