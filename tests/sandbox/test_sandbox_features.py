"""Tools, structured output, n, logprobs and embeddings as the sandbox serves them over HTTP."""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest

from annas_gift.sandbox import SandboxServer
from tests.sandbox.conftest import Chat

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_papers",
        "description": "Find academic papers on a topic",
        "parameters": {
            "type": "object",
            "properties": {"topic": {"type": "string", "maxLength": 10}},
            "required": ["topic"],
        },
    },
}


def _call(body: dict[str, Any]) -> dict[str, Any]:
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    (call,) = message["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    return {"name": call["function"]["name"], "args": json.loads(call["function"]["arguments"])}


async def test_tool_is_chosen_by_the_prompt_and_arguments_fit_its_schema(chat: Chat) -> None:
    tools = [SEARCH, WEATHER]
    call = _call((await chat("What is the weather in Paris?", tools=tools)).json())
    assert call["name"] == "get_weather"
    jsonschema.validate(call["args"], WEATHER["function"]["parameters"])  # type: ignore[index]
    assert call["args"]["city"].startswith("What is the weather")

    call = _call((await chat("find papers about transformers", tools=tools)).json())
    assert call["name"] == "search_papers"
    assert len(call["args"]["topic"]) <= 10


async def test_tool_choice_forces_or_suppresses_the_call(chat: Chat) -> None:
    named = {"type": "function", "function": {"name": "search_papers"}}
    forced = await chat("the weather please", tools=[WEATHER, SEARCH], tool_choice=named)
    assert _call(forced.json())["name"] == "search_papers"

    plain = (await chat("the weather please", tools=[WEATHER], tool_choice="none")).json()
    assert plain["choices"][0]["message"]["content"] == "[sandbox gpt-test] the weather please"
    assert "tool_calls" not in plain["choices"][0]["message"]

    missing = await chat("x", tools=[WEATHER], tool_choice={"function": {"name": "nope"}})
    assert missing.status_code == 400
    assert "nope" in missing.json()["error"]["message"]


async def test_after_a_tool_result_the_reply_is_text(client: httpx.AsyncClient) -> None:
    messages = [
        {"role": "user", "content": "weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    body = {"model": "m", "messages": messages, "tools": [WEATHER]}
    reply = (await client.post("/v1/chat/completions", json=body)).json()
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["choices"][0]["message"]["content"] == "[sandbox m] tool result: sunny, 21 C"


async def test_streamed_tool_call_deltas_join_into_the_arguments(
    chat: Chat, sse: Callable[[str], list[Any]]
) -> None:
    events = sse((await chat("weather in Rome", tools=[WEATHER], stream=True)).text)
    assert events[-1] == "[DONE]"
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    header = deltas[0]["tool_calls"][0]
    assert header["function"] == {"name": "get_weather", "arguments": ""}
    assert header["id"].startswith("call_")
    parts = [d["tool_calls"][0]["function"]["arguments"] for d in deltas[1:-1]]
    assert len(parts) > 1  # really streamed, not one blob
    args = json.loads("".join(parts))
    jsonschema.validate(args, WEATHER["function"]["parameters"])  # type: ignore[index]
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_json_schema_reply_is_a_valid_instance(chat: Chat) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer", "minimum": 1900}},
        "required": ["title", "year"],
        "additionalProperties": False,
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "paper", "schema": schema, "strict": True},
    }
    reply = (await chat("Attention is all you need", response_format=fmt)).json()
    parsed = json.loads(reply["choices"][0]["message"]["content"])
    jsonschema.validate(parsed, schema)
    assert parsed == {"title": "Attention is all you need", "year": 1900}

    plain = (await chat("hi", response_format={"type": "json_object"})).json()
    assert json.loads(plain["choices"][0]["message"]["content"]) == {
        "reply": "[sandbox gpt-test] hi"
    }

    bad = await chat("hi", response_format={"type": "yaml"})
    assert bad.status_code == 400


async def test_scripted_reply_wins_over_tools_and_formats(chat: Chat) -> None:
    reply = await chat("weather?", tools=[WEATHER], behavior="reply=not json")
    assert reply.json()["choices"][0]["message"]["content"] == "not json"


async def test_n_choices_and_usage_counts_them_all(chat: Chat) -> None:
    one = (await chat("count these words please")).json()
    three = (await chat("count these words please", n=3)).json()
    assert [c["index"] for c in three["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in three["choices"]} == {
        one["choices"][0]["message"]["content"]
    }
    completion = one["usage"]["completion_tokens"]
    assert three["usage"]["completion_tokens"] == 3 * completion
    assert (await chat("x", n=0)).status_code == 400


async def test_streamed_n_choices(chat: Chat, sse: Callable[[str], list[Any]]) -> None:
    events = sse((await chat("two streams", n=2, stream=True)).text)
    text = {0: "", 1: ""}
    for event in events[:-1]:
        choice = event["choices"][0]
        text[choice["index"]] += choice["delta"].get("content") or ""
    assert text == {0: "[sandbox gpt-test] two streams", 1: "[sandbox gpt-test] two streams"}


async def test_logprobs_when_asked(chat: Chat) -> None:
    none = (await chat("a b c")).json()
    assert none["choices"][0]["logprobs"] is None
    body = (await chat("a b c", logprobs=True, top_logprobs=2)).json()
    content = body["choices"][0]["logprobs"]["content"]
    assert "".join(t["token"] for t in content) == body["choices"][0]["message"]["content"]
    for entry in content:
        assert entry["logprob"] < 0
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        assert len(entry["top_logprobs"]) == 2
        assert entry["top_logprobs"][1]["logprob"] < entry["logprob"]
    assert (await chat("x", top_logprobs=2)).status_code == 400


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_embeddings_are_deterministic_unit_vectors(client: httpx.AsyncClient) -> None:
    texts = ["the cat sat on the mat", "the cat sat on a mat", "quantum chromodynamics"]
    body = {"model": "embed-small", "input": texts}
    first = (await client.post("/v1/embeddings", json=body)).json()
    again = (await client.post("/v1/embeddings", json=body)).json()
    assert first["data"] == again["data"]
    vectors = [d["embedding"] for d in first["data"]]
    assert [d["index"] for d in first["data"]] == [0, 1, 2]
    assert all(len(v) == 256 for v in vectors)
    assert all(math.isclose(_cosine(v, v), 1.0) for v in vectors)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])
    assert first["usage"]["prompt_tokens"] == first["usage"]["total_tokens"] > 0


async def test_embedding_dimensions_base64_and_token_ids(client: httpx.AsyncClient) -> None:
    sized = {"model": "e", "input": "hello", "dimensions": 64}
    floats = (await client.post("/v1/embeddings", json=sized)).json()["data"][0]["embedding"]
    assert len(floats) == 64
    packed = {**sized, "encoding_format": "base64"}
    encoded = (await client.post("/v1/embeddings", json=packed)).json()["data"][0]["embedding"]
    decoded = struct.unpack("<64f", base64.b64decode(encoded))
    assert decoded == pytest.approx(floats, abs=1e-6)
    tokens = {"model": "e", "input": [[1, 2, 3], [4]]}
    assert len((await client.post("/v1/embeddings", json=tokens)).json()["data"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"model": "e", "input": ""},
        {"model": "e", "input": []},
        {"model": "e", "input": "x", "dimensions": 0},
        {"model": "e", "input": "x", "encoding_format": "hex"},
        {"input": "x"},
    ],
)
async def test_bad_embedding_requests_are_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    reply = await client.post("/v1/embeddings", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


async def test_embeddings_follow_scripted_behaviour(
    sandbox: SandboxServer, client: httpx.AsyncClient
) -> None:
    sandbox.script("e", ["status=429;retry_after=1"])
    body = {"model": "e", "input": "x"}
    limited = await client.post("/v1/embeddings", json=body)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")
    assert (await client.post("/v1/embeddings", json=body)).status_code == 200
    logged = sandbox.requests()
    assert [r["path"] for r in logged] == ["/v1/embeddings", "/v1/embeddings"]


async def test_one_model_and_unsupported_paths(client: httpx.AsyncClient) -> None:
    await client.post("/v1/embeddings", json={"model": "embed/small", "input": "x"})
    known = await client.get("/v1/models/embed/small")
    assert known.json() == {
        "id": "embed/small",
        "object": "model",
        "created": 0,
        "owned_by": "sandbox",
    }
    unknown = await client.get("/v1/models/never-used")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    for method, path in [("POST", "/v1/completions"), ("GET", "/v1/files"), ("POST", "/v1/models")]:
        reply = await client.request(method, path, json={})
        assert reply.status_code == 404, (method, path)
        assert reply.json()["error"]["code"] == "unsupported_endpoint"
        assert "POST /v1/embeddings" in reply.json()["error"]["message"]
