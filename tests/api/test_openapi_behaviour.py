"""Issue 10 item 5: the OpenAPI document describes what the gateway actually answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import ADMIN_AUTH


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


async def test_no_422_anywhere_and_400_where_input_is_validated(spec: dict[str, Any]) -> None:
    ops = _operations(spec)
    assert ops
    for path, method, op in ops:
        assert "422" not in op["responses"], (method, path)
        if op.get("parameters") or "requestBody" in op:
            assert "400" in op["responses"], (method, path)
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            assert "404" in op["responses"], (method, path)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/v1/chat"])
async def test_chat_routes_document_sse_and_415(spec: dict[str, Any], path: str) -> None:
    responses = spec["paths"][path]["post"]["responses"]
    assert "text/event-stream" in responses["200"]["content"]
    assert "415" in responses


async def test_endpoint_patch_refuses_null_active_as_documented(
    spec: dict[str, Any], client: httpx.AsyncClient
) -> None:
    patch = spec["components"]["schemas"]["EndpointPatch"]["properties"]["active"]
    assert patch == {"type": "boolean", "title": "Active"}
    name = spec["components"]["schemas"]["EndpointIn"]["properties"]["name"]
    assert name["pattern"].startswith("^[A-Za-z0-9]")
    bad_name = await client.post(
        "/api/v1/vpn/endpoints", headers=ADMIN_AUTH, json={"name": "bad name!", "url": "http://h:1"}
    )
    assert bad_name.status_code == 400, bad_name.text
    await client.post(
        "/api/v1/vpn/endpoints", headers=ADMIN_AUTH, json={"name": "nl-1", "url": "http://h:1"}
    )
    null = await client.patch(
        "/api/v1/vpn/endpoints/nl-1", headers=ADMIN_AUTH, json={"active": None}
    )
    assert null.status_code == 400, null.text
    assert null.json()["error"]["param"] == "active"
