"""Successful completions over real HTTP: reply shape, usage, truncation, streaming."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

Chat = Callable[..., Awaitable[httpx.Response]]
Sse = Callable[[str], list[Any]]


async def test_reply_shape_and_usage(client: httpx.AsyncClient) -> None:
    before = int(time.time())
    response = await client.post(
        "/v1/chat/completions",
        json={
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "hello   there"},
            ],
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert before <= body["created"] <= time.time()
    assert body["model"] == "gpt-test"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "[sandbox gpt-test] hello there"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    # 5 prompt words -> 7 tokens; 4 reply words -> 5 tokens (about 4 tokens per 3 words).
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


async def test_echo_uses_last_user_message_and_content_parts(client: httpx.AsyncClient) -> None:
    messages = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "one"}],
        },
    ]
    response = await client.post("/v1/chat/completions", json={"model": "m", "messages": messages})
    assert response.json()["choices"][0]["message"]["content"] == "[sandbox m] second one"


async def test_long_echo_is_truncated(chat: Chat) -> None:
    content = (await chat(" ".join(f"word{i}" for i in range(200)))).json()["choices"][0]
    text = content["message"]["content"]
    assert text.startswith("[sandbox gpt-test] word0 word1")
    assert text.endswith("…")
    assert len(text) < 220
    assert "word199" not in text


async def test_ids_differ_between_requests(chat: Chat) -> None:
    assert (await chat()).json()["id"] != (await chat()).json()["id"]


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_truncates_reply(chat: Chat, limit_field: str) -> None:
    reply = "one two three four five six seven eight"
    body = (await chat(behavior=f"reply={reply}", **{limit_field: 3})).json()
    choice = body["choices"][0]
    assert choice["message"]["content"] == "one two"
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] <= 3


async def test_generous_max_tokens_changes_nothing(chat: Chat) -> None:
    body = (await chat(behavior="reply=short answer", max_tokens=100)).json()
    assert body["choices"][0]["message"]["content"] == "short answer"
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_reply_and_tokens_overrides(chat: Chat) -> None:
    body = (await chat(behavior="reply=Forty  two.;tokens=1000,50")).json()
    assert body["choices"][0]["message"]["content"] == "Forty  two."
    assert body["usage"] == {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050}


async def test_latency_delays_the_reply(chat: Chat) -> None:
    started = time.monotonic()
    response = await chat(behavior="latency=200")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_ratelimit_headers(chat: Chat) -> None:
    plain = await chat(behavior="ratelimit_headers")
    assert int(plain.headers["x-ratelimit-remaining-requests"]) > 0
    assert int(plain.headers["x-ratelimit-remaining-tokens"]) > 0
    assert plain.headers["x-ratelimit-reset-requests"]
    pinned = await chat(behavior="remaining_requests=0;remaining_tokens=12")
    assert pinned.headers["x-ratelimit-remaining-requests"] == "0"
    assert pinned.headers["x-ratelimit-remaining-tokens"] == "12"
    assert "x-ratelimit-remaining-requests" not in (await chat()).headers


async def _stream(
    client: httpx.AsyncClient, sse: Sse, **extra: Any
) -> tuple[httpx.Response, list[Any]]:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"x-sandbox-behavior": "reply=alpha beta gamma delta epsilon zeta eta"}
    response = await client.post("/v1/chat/completions", json={**body, **extra}, headers=headers)
    return response, sse(response.text)


async def test_stream_without_usage(client: httpx.AsyncClient, sse: Sse) -> None:
    response, events = await _stream(client, sse)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["model"] == "gpt-test" for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert "".join(content) == "alpha beta gamma delta epsilon zeta eta"
    assert len(content) > 1
    assert all(len(part.split()) <= 3 for part in content)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + [
        "stop"
    ]
    assert chunks[-1]["choices"][0]["delta"] == {}


async def test_stream_with_usage(client: httpx.AsyncClient, sse: Sse) -> None:
    _, events = await _stream(client, sse, stream_options={"include_usage": True})
    assert events[-1] == "[DONE]"
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == []
    # "hi" is 1 word -> 1 token; the 7-word reply -> 9 tokens.
    assert usage_chunk["usage"] == {"prompt_tokens": 1, "completion_tokens": 9, "total_tokens": 10}
    assert events[-3]["choices"][0]["finish_reason"] == "stop"
    assert all(e["usage"] is None for e in events[:-2])


async def test_stream_respects_max_tokens(client: httpx.AsyncClient, sse: Sse) -> None:
    _, events = await _stream(client, sse, max_tokens=4)
    content = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert content == "alpha beta gamma"
    assert events[-2]["choices"][0]["finish_reason"] == "length"


async def test_chunk_delay_spaces_out_chunks(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "messages": [], "stream": True}
    headers = {"x-sandbox-behavior": "chunk_delay=60;reply=a b c d e f g h i"}
    arrivals: list[float] = []
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic())
    # role + 3 content + finish + [DONE] = 6 events, 5 gaps of 60 ms.
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] >= 0.25


async def test_health_and_models(client: httpx.AsyncClient, chat: Chat) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    await chat(model="model-a")
    await chat(model="model-b")
    listed = (await client.get("/v1/models")).json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == ["model-a", "model-b"]
    assert all(m["object"] == "model" for m in listed["data"])
