"""Virtual keys administration under /api/v1/keys: admin keys only (403 for a client key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from annas_gift.api.deps import Admin, JsonBody, KeyAdminDep
from annas_gift.api.schemas.keys import KeyCreate, KeyIssued, KeyList, KeyOut, KeyPatch
from annas_gift.services.key_admin import IssuedKey, KeySpec

routes = APIRouter(prefix="/api/v1/keys", tags=["keys"])
Keys = KeyAdminDep


def _issued(issued: IssuedKey) -> KeyIssued:
    return KeyIssued(**KeyOut.of(issued.view).model_dump(), secret=issued.secret)


@routes.post("", status_code=201)
async def create_key(
    body: KeyCreate, _: Admin, _json: JsonBody, keys: Keys, response: Response
) -> KeyIssued:
    """Create a key; the response holds its secret, which is never shown again."""
    spec = KeySpec(**body.model_dump())
    response.headers["Cache-Control"] = "no-store"
    return _issued(await keys.create(spec))


@routes.get("")
async def list_keys(
    _: Admin,
    keys: Keys,
    include_revoked: Annotated[bool, Query()] = False,
    team: Annotated[str | None, Query(max_length=128)] = None,
) -> KeyList:
    """Keys by name (revoked ones with include_revoked=true)."""
    views = await keys.list(include_revoked=include_revoked, team=team)
    return KeyList(data=[KeyOut.of(v) for v in views])


@routes.get("/{key_id}")
async def get_key(key_id: str, _: Admin, keys: Keys) -> KeyOut:
    """One key (by id or name) with its spend so far."""
    return KeyOut.of(await keys.show(key_id))


@routes.patch("/{key_id}")
async def update_key(key_id: str, body: KeyPatch, _: Admin, _json: JsonBody, keys: Keys) -> KeyOut:
    """Change a key's name, team, expiry, allowed models, limits, budgets or metadata."""
    return KeyOut.of(await keys.update(key_id, body.changes()))


@routes.delete("/{key_id}")
async def revoke_key(key_id: str, _: Admin, keys: Keys) -> KeyOut:
    """Revoke a key: every instance refuses it within a second; its usage stays."""
    return KeyOut.of(await keys.revoke(key_id))


@routes.post("/{key_id}/rotate")
async def rotate_key(key_id: str, _: Admin, keys: Keys, response: Response) -> KeyIssued:
    """Give a key a new secret (returned once); the old one stops working."""
    response.headers["Cache-Control"] = "no-store"
    return _issued(await keys.rotate(key_id))
