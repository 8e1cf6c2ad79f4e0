"""What people reach for after plain chat, via the real openai SDK and LangChain, on the sandbox.

The gateway's own versions of these tests come with its /v1 routes; these pin the sandbox side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import openai
import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import BaseModel, Field

from annas_gift.sandbox import RunningSandbox, SandboxServer, start_in_thread

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the weather in Lisbon?"}
]
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


async def test_sdk_parse_with_a_pydantic_model(sandbox: SandboxServer) -> None:
    async with openai.AsyncOpenAI(base_url=sandbox.base_url, api_key="x", max_retries=0) as sdk:
        reply = await sdk.chat.completions.parse(
            model="m",
            messages=[{"role": "user", "content": "Cite Attention Is All You Need"}],
            response_format=Paper,
        )
    paper = reply.choices[0].message.parsed
    assert isinstance(paper, Paper)
    assert paper.title == "Cite Attention Is All You Need"
    assert paper.year == 1900 and len(paper.authors) == 1
    sent = sandbox.requests()[0]["body"]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True


async def test_sdk_parse_with_a_strict_pydantic_tool(sandbox: SandboxServer) -> None:
    async with openai.AsyncOpenAI(base_url=sandbox.base_url, api_key="x", max_retries=0) as sdk:
        reply = await sdk.chat.completions.parse(
            model="m",
            messages=[{"role": "user", "content": "Record this paper"}],
            tools=[openai.pydantic_function_tool(Paper)],
        )
    calls = reply.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "Paper"
    paper = calls[0].function.parsed_arguments
    assert isinstance(paper, Paper) and paper.title == "Record this paper"


async def test_sdk_tools_whole_and_streamed(sandbox: SandboxServer) -> None:
    async with openai.AsyncOpenAI(base_url=sandbox.base_url, api_key="x", max_retries=0) as sdk:
        reply = await sdk.chat.completions.create(
            model="m", messages=MESSAGES, tools=[CALCULATOR, WEATHER]
        )
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls is not None
        (call,) = choice.message.tool_calls
        assert call.type == "function" and call.function.name == "get_weather"
        whole = json.loads(call.function.arguments)
        assert whole == {"city": "What is the weather in Lisbon?", "days": 1}

        stream = await sdk.chat.completions.create(
            model="m", messages=MESSAGES, tools=[CALCULATOR, WEATHER], stream=True
        )
        names, arguments, finishes = [], "", []
        async for chunk in stream:
            delta = chunk.choices[0].delta
            for part in delta.tool_calls or []:
                assert part.index == 0
                if part.function and part.function.name:
                    names.append(part.function.name)
                arguments += (part.function.arguments or "") if part.function else ""
            finishes.append(chunk.choices[0].finish_reason)
        assert names == ["get_weather"]
        assert json.loads(arguments) == whole
        assert finishes[-1] == "tool_calls"


async def test_sdk_n_choices_and_logprobs(sandbox: SandboxServer) -> None:
    async with openai.AsyncOpenAI(base_url=sandbox.base_url, api_key="x", max_retries=0) as sdk:
        reply = await sdk.chat.completions.create(
            model="m", messages=MESSAGES, n=2, logprobs=True, top_logprobs=3
        )
    assert [c.index for c in reply.choices] == [0, 1]
    for choice in reply.choices:
        assert choice.message.content == "[sandbox m] What is the weather in Lisbon?"
        assert choice.logprobs is not None and choice.logprobs.content is not None
        tokens = [t.token for t in choice.logprobs.content]
        assert "".join(tokens) == choice.message.content
        assert all(len(t.top_logprobs) == 3 for t in choice.logprobs.content)


async def test_sdk_embeddings(sandbox: SandboxServer) -> None:
    # The SDK asks for base64 unless told otherwise and decodes it: both paths must agree.
    async with openai.AsyncOpenAI(base_url=sandbox.base_url, api_key="x", max_retries=0) as sdk:
        packed = await sdk.embeddings.create(model="embed-small", input=["a cat", "a dog"])
        floats = await sdk.embeddings.create(
            model="embed-small", input=["a cat", "a dog"], encoding_format="float"
        )
        small = await sdk.embeddings.create(model="embed-small", input="a cat", dimensions=32)
    assert sandbox.requests()[0]["body"]["encoding_format"] == "base64"
    assert [len(d.embedding) for d in packed.data] == [256, 256]
    for a, b in zip(packed.data, floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
    assert len(small.data[0].embedding) == 32
    assert math.isclose(sum(v * v for v in small.data[0].embedding), 1.0, rel_tol=1e-5)
    assert packed.usage.prompt_tokens == 4


async def test_sdk_models_retrieve(sandbox: SandboxServer) -> None:
    async with openai.AsyncOpenAI(base_url=sandbox.base_url, api_key="x", max_retries=0) as sdk:
        await sdk.chat.completions.create(model="m", messages=MESSAGES)
        assert (await sdk.models.retrieve("m")).id == "m"
        with pytest.raises(openai.NotFoundError):
            await sdk.models.retrieve("unknown")


@pytest.fixture
def threaded() -> Iterator[RunningSandbox]:
    """A sandbox on its own thread, so LangChain's synchronous calls do not block it."""
    with start_in_thread() as running:
        yield running


def _chat(sandbox: RunningSandbox) -> ChatOpenAI:
    return ChatOpenAI(model="m", base_url=sandbox.base_url, api_key="x", max_retries=0)  # type: ignore[arg-type]


def test_langchain_structured_output(threaded: RunningSandbox) -> None:
    paper = _chat(threaded).with_structured_output(Paper).invoke("Cite BERT")
    assert isinstance(paper, Paper)
    assert paper.title == "Cite BERT" and paper.peer_reviewed is False

    by_tool = _chat(threaded).with_structured_output(Paper, method="function_calling")
    assert isinstance(by_tool.invoke("Cite GPT-2"), Paper)
    sent = threaded.requests()[-1]["body"]
    assert sent["tool_choice"]["function"]["name"] == "Paper"


@tool
def get_weather(city: str, days: int) -> str:
    """Current weather for a city over the next days."""
    return f"{city}: sunny for {days} days"


@tool
def add_numbers(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


def test_langchain_bind_tools_round_trip(threaded: RunningSandbox) -> None:
    model = _chat(threaded).bind_tools([add_numbers, get_weather])
    asked = "What is the weather in Lisbon?"
    first = model.invoke(asked)
    assert isinstance(first, AIMessage)
    (call,) = first.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": asked, "days": 0}
    result = get_weather.invoke(call)
    final = model.invoke([("user", asked), first, result])
    assert (
        final.content == "[sandbox m] tool result: What is the weather in Lisbon?: sunny for 0 days"
    )
    assert not final.tool_calls

    streamed = None
    for chunk in model.stream(asked):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed is not None
    assert [c["args"] for c in streamed.tool_calls] == [call["args"]]  # type: ignore[attr-defined]


def test_langchain_embeddings(threaded: RunningSandbox) -> None:
    # check_embedding_ctx_length would fetch tiktoken's vocabulary from the internet.
    embedder = OpenAIEmbeddings(
        model="embed-small",
        base_url=threaded.base_url,
        api_key="x",  # type: ignore[arg-type]
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
