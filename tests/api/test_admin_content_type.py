"""The admin routes' JSON bodies (keys, VPN) answer a non-JSON Content-Type with 415, as the
chat routes do, after the key check (401/403 first) and before validation; nothing changes."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import ADMIN_KEY, AUTH

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
# (method, path, a valid JSON body): every admin route that takes a body.
BODIES = [
    ("POST", "/api/v1/keys", b'{"name": "student-01"}'),
    ("PATCH", "/api/v1/keys/student-00", b'{"team": "lab"}'),
    ("POST", "/api/v1/vpn/endpoints", b'{"name": "nl", "url": "http://127.0.0.1:9"}'),
    ("PATCH", "/api/v1/vpn/endpoints/nl0", b'{"active": false}'),
    ("POST", "/api/v1/vpn/rotate", b'{"to": "nl0"}'),
]
IDS = [f"{m} {p}" for m, p, _ in BODIES]


async def _state(client: httpx.AsyncClient) -> tuple[object, object]:
    keys = (await client.get("/api/v1/keys", headers=ADMIN)).json()
    vpn = (await client.get("/api/v1/vpn/endpoints", headers=ADMIN)).json()
    return keys, vpn


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A key and a VPN endpoint for the PATCH and rotate routes to name."""
    made = await client.post("/api/v1/keys", headers=ADMIN, json={"name": "student-00"})
    assert made.status_code == 201, made.text
    endpoint = {"name": "nl0", "url": "http://127.0.0.1:9"}
    added = await client.post("/api/v1/vpn/endpoints", headers=ADMIN, json=endpoint)
    assert added.status_code == 201, added.text
    return client


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
@pytest.mark.parametrize(("method", "path", "body"), BODIES, ids=IDS)
async def test_a_non_json_body_is_a_415_and_changes_nothing(
    seeded: httpx.AsyncClient, method: str, path: str, body: bytes, content_type: str | None
) -> None:
    before = await _state(seeded)
    headers = {**ADMIN, **({"content-type": content_type} if content_type else {})}
    r = await seeded.request(method, path, headers=headers, content=body)
    assert r.status_code == 415, r.text
    error = r.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert await _state(seeded) == before
    ok = await seeded.request(
        method, path, headers={**ADMIN, "content-type": "application/json"}, content=body
    )
    assert ok.status_code < 300, ok.text


@pytest.mark.parametrize(("method", "path", "body"), BODIES, ids=IDS)
async def test_the_key_check_comes_before_the_content_type(
    client: httpx.AsyncClient, method: str, path: str, body: bytes
) -> None:
    plain = {"content-type": "text/plain"}
    anonymous = await client.request(method, path, headers=plain, content=body)
    assert anonymous.status_code == 401, anonymous.text
    as_client = await client.request(method, path, headers={**AUTH, **plain}, content=body)
    assert as_client.status_code == 403, as_client.text


async def test_rotate_without_a_body_needs_no_content_type(seeded: httpx.AsyncClient) -> None:
    r = await seeded.post("/api/v1/vpn/rotate", headers=ADMIN)
    assert r.status_code == 200, r.text
