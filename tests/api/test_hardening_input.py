"""Issue 10, items 1-4 and 13: bad input is a 400/415 (never a 500), a down database a 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from annas_gift.api.app import create_app
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import load_settings
from tests.api.conftest import AUTH, KEY, make_catalog

HUGE = 100000000000000000000000000000  # beyond 64 bits
MSG = [{"role": "user", "content": "hi"}]
CHAT_ROUTES = ("/v1/chat/completions", "/api/v1/chat")


def _chat(**fields: object) -> dict[str, object]:
    return {"model": "sandbox/fast-small", "messages": MSG, **fields}


@pytest.mark.parametrize("route", CHAT_ROUTES)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": HUGE}, "max_tokens"),
        ({"seed": HUGE}, "seed"),
        ({"seed": -HUGE}, "seed"),
        ({"logit_bias": {"50256": HUGE}}, "logit_bias.50256"),
    ],
)
async def test_integers_beyond_64_bits_are_a_400_naming_the_field(
    client: httpx.AsyncClient,
    upstream: RunningSandbox,
    route: str,
    stream: bool,
    fields: dict[str, object],
    param: str,
) -> None:
    r = await client.post(route, headers=AUTH, json=_chat(stream=stream, **fields))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert upstream.requests() == []  # nothing reached the provider


async def test_an_integer_at_the_64_bit_edge_is_still_forwarded(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/v1/chat/completions", headers=AUTH, json=_chat(seed=2**63 - 1))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("route", CHAT_ROUTES)
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": "5"}, "max_tokens"),
        ({"temperature": "0.5"}, "temperature"),
        ({"top_p": False}, "top_p"),
    ],
)
async def test_lax_types_are_refused_like_openai(
    client: httpx.AsyncClient, route: str, fields: dict[str, object], param: str
) -> None:
    r = await client.post(route, headers=AUTH, json=_chat(**fields))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


@pytest.mark.parametrize("route", CHAT_ROUTES)
@pytest.mark.parametrize("option", ["extra_body", "extra_query"])
async def test_extra_request_options_are_refused(
    client: httpx.AsyncClient, upstream: RunningSandbox, route: str, option: str
) -> None:
    r = await client.post(route, headers=AUTH, json=_chat(**{option: {"api_base": "http://x"}}))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == option
    assert upstream.requests() == []


@pytest.mark.parametrize("route", CHAT_ROUTES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_non_json_content_type_is_a_415(
    client: httpx.AsyncClient, route: str, content_type: str
) -> None:
    body = b'{"model":"sandbox/fast-small","messages":[{"role":"user","content":"hi"}]}'
    headers = {**AUTH, "content-type": content_type}
    r = await client.post(route, headers=headers, content=body)
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"
    ok = await client.post(
        route, headers={**AUTH, "content-type": "application/json"}, content=body
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    "query",
    [
        {"since": "0001-01-01T00:00:00+23:59"},
        {"until": "9999-12-31T23:59:59-23:59"},
    ],
)
async def test_usage_window_beyond_the_calendar_is_a_400(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    r = await client.get("/api/v1/usage", headers=AUTH, params=query)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == next(iter(query))


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


@pytest.fixture
async def db_down_client(
    tmp_path: Path, upstream: RunningSandbox
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose PostgreSQL does not answer, started without migrations (item 13)."""
    settings = load_settings(
        auth={"api_keys": [KEY]},
        storage={
            "database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/x",
            "migrate_on_start": False,
            "flush_interval_s": 0.05,
            "spool_path": str(tmp_path / "spool.jsonl"),
        },
        litellm={"timeout_s": 5.0},
    )
    app: FastAPI = create_app(settings, catalog=make_catalog(upstream.base_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
            yield c


async def test_gateway_starts_and_serves_while_the_database_is_down(
    db_down_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ready = await db_down_client.get("/health/ready")
    assert ready.status_code == 503
    chat = await db_down_client.post("/v1/chat/completions", headers=AUTH, json=_chat())
    assert chat.status_code == 200, chat.text  # served; its usage waits in the buffer/journal
    journal = list((tmp_path / "spool.journal").glob("*.jsonl"))
    assert journal and any(p.read_text() for p in journal)


async def test_usage_while_the_database_is_down_is_a_503(
    db_down_client: httpx.AsyncClient,
) -> None:
    r = await db_down_client.get("/api/v1/usage", headers=AUTH)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"
    assert "127.0.0.1" not in r.text
