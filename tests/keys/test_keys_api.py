"""/api/v1/keys on the whole gateway app: roles, lifecycle, bad input, secrets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.api.app import create_app
from annas_gift.catalog.registry import Catalog
from annas_gift.services.key_cache import KeyCache
from annas_gift.settings import load_settings
from annas_gift.storage import database
from tests.keys.gateway_fixtures import gateway_settings

Sessions = async_sessionmaker[AsyncSession]
ADMIN = "sk-admin-secret-1"
CLIENT = "sk-client-secret-1"


@pytest.fixture
async def api(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, KeyCache]]:
    """The whole gateway app (admin key "ops", settings client key "alice"), no models."""
    args = gateway_settings(sqlite_url, tmp_path)
    args["auth"] = {"api_keys": [f"alice:{CLIENT}"], "admin_keys": [f"ops:{ADMIN}"]}
    app = create_app(load_settings(**args), catalog=Catalog([]))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            cache = app.state.gateway.key_parts.cache
            assert cache is not None
            yield client, cache


@pytest.fixture
async def sessions(
    api: tuple[httpx.AsyncClient, KeyCache], sqlite_url: str
) -> AsyncIterator[Sessions]:
    """Sessions on the app's database."""
    engine = database.create_engine(sqlite_url)
    yield database.session_factory(engine)
    await engine.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


NEW_KEY = {
    "name": "student-01",
    "team": "cs101",
    "allowed_models": ["auto*", "groq/*"],
    "rpm": 20,
    "budget_daily_usd": 0.5,
    "budget_total_usd": 5,
    "metadata": {"course": "CS 101"},
}


async def test_every_key_route_refuses_client_keys_and_changes_nothing(
    api: tuple[httpx.AsyncClient, KeyCache], sessions: Sessions
) -> None:
    client, _ = api
    made = await client.post("/api/v1/keys", json=NEW_KEY, headers=auth(ADMIN))
    assert made.status_code == 201
    virtual = made.json()["secret"]
    key_id = made.json()["id"]
    calls = [
        ("POST", "/api/v1/keys", {"name": "x"}),
        ("GET", "/api/v1/keys", None),
        ("GET", f"/api/v1/keys/{key_id}", None),
        ("PATCH", f"/api/v1/keys/{key_id}", {"rpm": 1}),
        ("DELETE", f"/api/v1/keys/{key_id}", None),
        ("POST", f"/api/v1/keys/{key_id}/rotate", None),
    ]
    for token in (CLIENT, virtual):
        for method, path, body in calls:
            r = await client.request(method, path, json=body, headers=auth(token))
            assert r.status_code == 403, (method, path, r.text)
            error = r.json()["error"]
            assert (error["type"], error["code"]) == (
                "permission_error",
                "insufficient_permissions",
            )
    for method, path, body in calls:
        r = await client.request(method, path, json=body, headers=auth("sk-wrong"))
        assert r.status_code == 401
        r = await client.request(method, path, json=body)
        assert r.status_code == 401
    shown = (await client.get(f"/api/v1/keys/{key_id}", headers=auth(ADMIN))).json()
    assert (shown["rpm"], shown["status"]) == (20, "active")
    listed = (await client.get("/api/v1/keys", headers=auth(ADMIN))).json()["data"]
    assert [k["name"] for k in listed] == ["student-01"]


async def test_key_lifecycle_through_the_api(
    api: tuple[httpx.AsyncClient, KeyCache], sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    client, cache = api
    caplog.set_level(logging.DEBUG)
    made = await client.post("/api/v1/keys", json=NEW_KEY, headers=auth(ADMIN))
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    body = made.json()
    secret, key_id = body["secret"], body["id"]
    assert secret.startswith("ag-") and body["prefix"] == secret[:7] + "…"
    assert body["allowed_models"] == ["auto*", "groq/*"] and body["metadata"] == {
        "course": "CS 101"
    }
    assert cache.lookup(secret) is not None  # usable at once on this instance

    shown = await client.get(f"/api/v1/keys/{key_id}", headers=auth(ADMIN))
    by_name = await client.get("/api/v1/keys/student-01", headers=auth(ADMIN))
    assert shown.json() == by_name.json()
    assert shown.json()["spend"] == {"day_usd": 0.0, "month_usd": 0.0, "total_usd": 0.0}
    listing = await client.get("/api/v1/keys", headers=auth(ADMIN))
    for response in (shown, by_name, listing):
        assert secret not in response.text and "secret" not in response.json()

    patched = await client.patch(
        f"/api/v1/keys/{key_id}",
        json={"budget_daily_usd": None, "rpm": 40, "metadata": {"seat": 3}},
        headers=auth(ADMIN),
    )
    assert patched.status_code == 200, patched.text
    p = patched.json()
    assert (p["budget_daily_usd"], p["rpm"], p["budget_total_usd"]) == (None, 40, 5.0)
    assert p["metadata"] == {"seat": 3}
    record = cache.lookup(secret)
    assert record is not None and record.rpm == 40

    rotated = await client.post(f"/api/v1/keys/{key_id}/rotate", headers=auth(ADMIN))
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != secret and rotated.json()["id"] == key_id
    assert cache.lookup(secret) is None and cache.lookup(new_secret) is not None

    revoked = await client.delete(f"/api/v1/keys/{key_id}", headers=auth(ADMIN))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert cache.lookup(new_secret) is None
    gone = await client.post(f"/api/v1/keys/{key_id}/rotate", headers=auth(ADMIN))
    assert gone.status_code == 400
    live = (await client.get("/api/v1/keys", headers=auth(ADMIN))).json()["data"]
    every = await client.get("/api/v1/keys?include_revoked=true", headers=auth(ADMIN))
    assert live == [] and [k["status"] for k in every.json()["data"]] == ["revoked"]

    async with sessions() as session:
        dump = repr((await session.execute(text("SELECT * FROM virtual_keys"))).all())
    for s in (secret, new_secret):
        assert s not in dump and s not in caplog.text


async def test_bad_input_is_a_clear_400_and_changes_nothing(
    api: tuple[httpx.AsyncClient, KeyCache],
) -> None:
    client, _ = api
    bad = [
        {"name": ""},
        {"name": "has space"},
        {"name": "a", "rpm": 0},
        {"name": "a", "budget_daily_usd": -1},
        {"name": "a", "secret": "ag-chosen-by-me"},
        {"name": "a", "allowed_models": ["  "]},
        {"name": "a", "expires_at": "2020-01-01T00:00:00Z"},
        {"name": "a", "expires_at": "2030-01-01T00:00:00"},  # no time zone
        {"name": "a", "rpm": 2**64},  # beyond the database's INTEGER: was a 500
    ]
    raw = [b'{"name": "a", "budget_daily_usd": Infinity}']  # Python's JSON reads it: was a 500
    json_type = {**auth(ADMIN), "content-type": "application/json"}
    for body in [*bad, *raw]:
        if isinstance(body, bytes):
            r = await client.post("/api/v1/keys", content=body, headers=json_type)
        else:
            r = await client.post("/api/v1/keys", json=body, headers=auth(ADMIN))
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error"
    assert (await client.get("/api/v1/keys", headers=auth(ADMIN))).json()["data"] == []
    ok = await client.post("/api/v1/keys", json={"name": "a"}, headers=auth(ADMIN))
    assert ok.status_code == 201
    again = await client.post("/api/v1/keys", json={"name": "a"}, headers=auth(ADMIN))
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    for change in ({"name": None}, {"tpm": 2**64}):
        r = await client.patch("/api/v1/keys/a", json=change, headers=auth(ADMIN))
        assert r.status_code == 400, (change, r.text)
    infinite = b'{"budget_total_usd": Infinity}'
    r = await client.patch("/api/v1/keys/a", content=infinite, headers=json_type)
    assert r.status_code == 400, r.text
    missing = await client.get("/api/v1/keys/nobody", headers=auth(ADMIN))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_an_expired_virtual_key_is_told_why(
    api: tuple[httpx.AsyncClient, KeyCache],
) -> None:
    client, cache = api
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    made = await client.post(
        "/api/v1/keys", json={"name": "brief", "expires_at": soon}, headers=auth(ADMIN)
    )
    assert made.status_code == 201
    secret = made.json()["secret"]
    record = cache.lookup(secret)
    assert record is not None and record.expires_at is not None
    await asyncio.sleep(max(0.0, (record.expires_at - datetime.now(UTC)).total_seconds()) + 0.05)
    r = await client.get("/api/v1/keys", headers=auth(secret))
    assert r.status_code == 401 and r.json()["error"]["code"] == "key_expired"
