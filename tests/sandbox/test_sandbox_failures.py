"""Scripted failures over real HTTP: error statuses, malformed bodies, cut streams, timeouts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from annas_gift.sandbox import SandboxServer

Chat = Callable[..., Awaitable[httpx.Response]]


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (429, "rate_limit_exceeded", "rate_limit_exceeded"),
        (401, "invalid_request_error", "invalid_api_key"),
        (400, "invalid_request_error", "invalid_request_error"),
        (500, "server_error", "server_error"),
        (503, "server_error", "server_error"),
    ],
)
async def test_error_status_with_retry_after(chat: Chat, status: int, kind: str, code: str) -> None:
    response = await chat(behavior=f"status={status};retry_after=2")
    assert response.status_code == status
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == (kind, code)
    assert str(status) in error["message"]


async def test_error_without_retry_after_has_no_header(chat: Chat) -> None:
    response = await chat(behavior="status=502")
    assert response.status_code == 502
    assert "retry-after" not in response.headers


async def test_fractional_retry_after(chat: Chat) -> None:
    assert (await chat(behavior="status=429;retry_after=0.5")).headers["retry-after"] == "0.5"


async def test_malformed_body(chat: Chat) -> None:
    response = await chat(behavior="malformed")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


async def test_cut_stream_breaks_without_done(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "messages": [], "stream": True}
    headers = {"x-sandbox-behavior": "cut=2;reply=a b c d e f g h i j k l"}
    lines: list[str] = []

    async def read_all() -> None:
        async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line:
                    lines.append(line)  # one by one: the list must survive the broken read

    with pytest.raises(httpx.RemoteProtocolError):
        await read_all()
    # The role chunk and exactly two content chunks arrived; no finish chunk, no [DONE].
    assert len(lines) == 3
    assert '"content":"a b c"' in lines[1]
    assert '"content":" d e f"' in lines[2]
    assert "data: [DONE]" not in lines


async def test_cut_without_stream_drops_the_connection(chat: Chat) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await chat(behavior="cut=1")


async def test_server_keeps_serving_after_failures(chat: Chat) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await chat(behavior="cut=0", stream=True)
    for behavior, status in (("malformed", 200), ("bogus", 400), ("status=500", 500)):
        assert (await chat(behavior=behavior, stream=True)).status_code == status
    assert (await chat()).json()["choices"][0]["message"][
        "content"
    ] == "[sandbox gpt-test] hello there"


async def test_unknown_directive_in_header_is_a_400(chat: Chat) -> None:
    response = await chat(behavior="status=500;explode")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "x-sandbox-behavior" in error["message"]
    assert "'explode'" in error["message"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b'{"model": "m"}', "'messages'"),
        (b'{"messages": []}', "'model'"),
        (b'{"model": "m", "messages": [], "max_tokens": 0}', "max_tokens"),
        (b'{"model": "m", "messages": [], "max_tokens": "9"}', "max_tokens"),
    ],
)
async def test_bad_request_bodies_are_400(
    client: httpx.AsyncClient, content: bytes, fragment: str
) -> None:
    response = await client.post("/v1/chat/completions", content=content)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


async def test_timeout_holds_until_client_gives_up(chat: Chat) -> None:
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        await chat(behavior="timeout", client_timeout=httpx.Timeout(5, read=0.3))
    assert time.monotonic() - started < 2


async def test_stop_is_prompt_despite_held_requests() -> None:
    server = SandboxServer()
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        body = {"model": "m", "messages": [], "stream": True}
        held = [
            asyncio.create_task(
                http.post("/v1/chat/completions", json=body, headers={"x-sandbox-behavior": b})
            )
            for b in ("timeout", "latency=600000", "chunk_delay=600000")
        ]
        for _ in range(500):  # until the server holds all three
            if len(server.requests()) == len(held):
                break
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await server.stop()
        # Well under the shutdown grace period, which would only bound stragglers.
        assert time.monotonic() - started < 0.9
        results = await asyncio.gather(*held, return_exceptions=True)
    assert all(isinstance(r, httpx.RemoteProtocolError) for r in results), results
