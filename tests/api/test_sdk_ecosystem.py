"""What people reach for after plain chat, through a running gateway and the sandbox over HTTP:
the real `openai` SDK and LangChain for chat, streams, tools, structured output, n choices,
embeddings and models.retrieve, on both upstream paths (direct OpenAI wire and LiteLLM)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from fastapi import FastAPI
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import BaseModel, Field

from annas_gift.api.app import create_app
from annas_gift.catalog.demo import EMBEDDING_MODEL, demo_embedding_entry
from annas_gift.catalog.registry import Catalog
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import Settings
from tests.api.conftest import KEY, LiveGateway, make_catalog

CHAT = "sandbox/fast-small"
ASKED = "What is the weather in Lisbon?"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": ASKED}]
WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
CALCULATOR: ChatCompletionToolParam = {
    "type": "function",
    "function": {"name": "add_numbers", "description": "Add two numbers", "parameters": {}},
}


class Paper(BaseModel):
    """A paper's citation."""

    title: str
    year: int = Field(ge=1900, le=2100)
    authors: list[str] = Field(min_length=1)
    peer_reviewed: bool


@pytest.fixture(params=["direct", "litellm"])
def upstream_path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app(settings: Settings, upstream: RunningSandbox) -> FastAPI:
    chat = make_catalog(upstream.base_url).all()
    embed = Catalog.from_model_list([demo_embedding_entry(upstream.base_url)], price=False)
    return create_app(settings, catalog=Catalog([*chat, *embed.all()]))


@pytest.fixture
def sdk(live_gateway: LiveGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{live_gateway.url}/v1", api_key=KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def chat_model(live_gateway: LiveGateway) -> ChatOpenAI:
    return ChatOpenAI(
        model=CHAT,
        base_url=f"{live_gateway.url}/v1",
        api_key=KEY,  # type: ignore[arg-type]
        max_retries=0,
    )


def test_sdk_chat_and_stream(sdk: openai.OpenAI) -> None:
    reply = sdk.chat.completions.create(model=CHAT, messages=MESSAGES)
    assert reply.choices[0].message.content == f"[sandbox fast-small] {ASKED}"
    stream = sdk.chat.completions.create(
        model="auto", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert text.endswith(ASKED) and text.startswith("[sandbox ")
    assert usage is not None and usage.completion_tokens > 0


def test_sdk_tools_whole_and_streamed(sdk: openai.OpenAI) -> None:
    reply = sdk.chat.completions.create(model=CHAT, messages=MESSAGES, tools=[CALCULATOR, WEATHER])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    whole = json.loads(call.function.arguments)
    assert whole == {"city": ASKED, "days": 1}

    stream = sdk.chat.completions.create(
        model=CHAT, messages=MESSAGES, tools=[CALCULATOR, WEATHER], stream=True
    )
    names, arguments, finishes = [], "", []
    for chunk in stream:
        if not chunk.choices:
            continue
        for part in chunk.choices[0].delta.tool_calls or []:
            if part.function and part.function.name:
                names.append(part.function.name)
            arguments += (part.function.arguments or "") if part.function else ""
        finishes.append(chunk.choices[0].finish_reason)
    assert names == ["get_weather"]
    assert json.loads(arguments) == whole
    assert finishes[-1] == "tool_calls"


@pytest.mark.parametrize("model", [CHAT, "auto"])
def test_sdk_parse_structured_output(sdk: openai.OpenAI, model: str) -> None:
    reply = sdk.chat.completions.parse(
        model=model,
        messages=[{"role": "user", "content": "Cite Attention Is All You Need"}],
        response_format=Paper,
    )
    paper = reply.choices[0].message.parsed
    assert isinstance(paper, Paper)
    assert paper.title == "Cite Attention Is All You Need" and len(paper.authors) == 1

    by_tool = sdk.chat.completions.parse(
        model=model,
        messages=[{"role": "user", "content": "Record this paper"}],
        tools=[openai.pydantic_function_tool(Paper)],
    )
    calls = by_tool.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "Paper"
    assert isinstance(calls[0].function.parsed_arguments, Paper)


def test_sdk_n_choices_and_logprobs(sdk: openai.OpenAI) -> None:
    reply = sdk.chat.completions.create(
        model=CHAT, messages=MESSAGES, n=2, logprobs=True, top_logprobs=2
    )
    assert [c.index for c in reply.choices] == [0, 1]
    for choice in reply.choices:
        assert choice.logprobs is not None and choice.logprobs.content is not None
        assert "".join(t.token for t in choice.logprobs.content) == choice.message.content


def test_sdk_embeddings(sdk: openai.OpenAI) -> None:
    # The SDK asks for base64 unless told otherwise and decodes it itself.
    raw = sdk.embeddings.with_raw_response.create(model=EMBEDDING_MODEL, input=["a cat", "a dog"])
    packed = raw.parse()
    assert raw.headers["x-annas-model"] == EMBEDDING_MODEL
    floats = sdk.embeddings.create(
        model=EMBEDDING_MODEL, input=["a cat", "a dog"], encoding_format="float"
    )
    assert [len(d.embedding) for d in packed.data] == [256, 256]
    for a, b in zip(packed.data, floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
    small = sdk.embeddings.create(model=EMBEDDING_MODEL, input="a cat", dimensions=32)
    assert len(small.data[0].embedding) == 32
    assert packed.usage.prompt_tokens > 0


def test_sdk_models_retrieve_and_list(sdk: openai.OpenAI) -> None:
    for model_id in ("auto", "auto:fast", "auto:powerful", CHAT, EMBEDDING_MODEL):
        assert sdk.models.retrieve(model_id).id == model_id
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("sandbox/unknown")
    assert info.value.code == "model_not_found"
    listed = {m.id for m in sdk.models.list()}
    assert {"auto", CHAT, EMBEDDING_MODEL} <= listed


def test_sdk_legacy_completions_is_an_unsupported_endpoint(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        sdk.completions.create(model=CHAT, prompt="Once upon a time")
    assert info.value.code == "unsupported_endpoint"
    assert "POST /v1/chat/completions" in info.value.message


def test_langchain_invoke_and_stream(chat_model: ChatOpenAI) -> None:
    assert chat_model.invoke(ASKED).content == f"[sandbox fast-small] {ASKED}"
    assert "".join(str(c.content) for c in chat_model.stream(ASKED)).endswith(ASKED)


def test_langchain_structured_output(chat_model: ChatOpenAI) -> None:
    paper = chat_model.with_structured_output(Paper).invoke("Cite BERT")
    assert isinstance(paper, Paper) and paper.title == "Cite BERT"
    by_tool = chat_model.with_structured_output(Paper, method="function_calling")
    assert isinstance(by_tool.invoke("Cite GPT-2"), Paper)


@tool
def get_weather(city: str, days: int) -> str:
    """Current weather for a city over the next days."""
    return f"{city}: sunny for {days} days"


@tool
def add_numbers(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def test_langchain_bind_tools_round_trip(chat_model: ChatOpenAI) -> None:
    model = chat_model.bind_tools([add_numbers, get_weather])
    first = model.invoke(ASKED)
    assert isinstance(first, AIMessage)
    (call,) = first.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": ASKED, "days": 0}
    final = model.invoke([("user", ASKED), first, get_weather.invoke(call)])
    assert final.content == f"[sandbox fast-small] tool result: {ASKED}: sunny for 0 days"
    assert not final.tool_calls

    chunks = list(model.stream(ASKED))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    streamed = sum(chunks[1:], chunks[0])
    assert isinstance(streamed, AIMessageChunk)
    assert [c["args"] for c in streamed.tool_calls] == [call["args"]]


def test_langchain_embeddings(live_gateway: LiveGateway) -> None:
    # check_embedding_ctx_length would fetch tiktoken's vocabulary from the internet.
    embedder = OpenAIEmbeddings(
        model=EMBEDDING_MODEL,
        base_url=f"{live_gateway.url}/v1",
        api_key=KEY,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        dimensions=48,
        max_retries=0,
    )
    docs = embedder.embed_documents(["gradient descent", "stochastic gradient descent", "poetry"])
    query = embedder.embed_query("gradient descent")
    assert [len(v) for v in docs] == [48, 48, 48]
    assert query == pytest.approx(docs[0], abs=1e-6)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(query, docs[1]) > cosine(query, docs[2])
