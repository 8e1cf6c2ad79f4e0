"""The chat routes' direct dispatch (api/hot_routes.py): same answers, without FastAPI's router.

The behaviour of the chat routes is pinned by test_chat_openai.py, test_native.py and the rest;
these tests pin what is particular to the dispatch: it serves the two chat routes even when
FastAPI's router could not, it leaves every other request to FastAPI, and its errors are the
same OpenAI-shaped bodies the app's handlers give.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from httpx import AsyncClient

from annas_gift.api.hot_routes import HOT_ROUTES
from annas_gift.sandbox import RunningSandbox
from tests.api.conftest import AUTH

BODY = {"model": "sandbox/fast-small", "messages": [{"role": "user", "content": "Hello there."}]}


def _drop_router_routes(app: FastAPI) -> None:
    """Remove the chat routes from FastAPI's router: only the direct dispatch can answer."""
    paths = {path for _, path in HOT_ROUTES}
    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, APIRoute) and r.path in paths)
    ]


async def test_chat_routes_answer_without_the_router(
    app: FastAPI, client: AsyncClient, upstream: RunningSandbox
) -> None:
    _drop_router_routes(app)
    openai = await client.post("/v1/chat/completions", json=BODY, headers=AUTH)
    assert openai.status_code == 200, openai.text
    assert openai.json()["object"] == "chat.completion"
    assert openai.headers["x-annas-model"] == "sandbox/fast-small"
    assert openai.headers["x-request-id"].startswith("req_")
    native = await client.post("/api/v1/chat", json=BODY, headers=AUTH)
    assert native.status_code == 200, native.text
    body = native.json()
    assert body["model"] == "sandbox/fast-small"
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert body["request_id"] == native.headers["x-request-id"]


async def test_other_methods_and_paths_still_reach_fastapi(client: AsyncClient) -> None:
    wrong_method = await client.get("/v1/chat/completions", headers=AUTH)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    models = await client.get("/v1/models", headers=AUTH)
    assert models.status_code == 200
    assert "auto" in {m["id"] for m in models.json()["data"]}


@pytest.mark.parametrize("path", [path for _, path in HOT_ROUTES])
async def test_errors_are_openai_shaped_with_the_request_id(
    client: AsyncClient, upstream: RunningSandbox, path: str
) -> None:
    no_key = await client.post(path, json=BODY)
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert no_key.headers["x-request-id"].startswith("req_")
    bad = await client.post(path, json={"model": "sandbox/fast-small"}, headers=AUTH)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "messages"
    unknown = await client.post(path, json={**BODY, "model": "no/such-model"}, headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["param"] == "model"
    assert upstream.requests() == []  # nothing reached the provider
