"""The real clients the gateway relies on accept the sandbox: the openai SDK and LiteLLM.

tests/conftest.py sets LITELLM_LOCAL_MODEL_COST_MAP before this imports litellm.
"""

from __future__ import annotations

import litellm
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from annas_gift.sandbox import SandboxServer

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Summarise the paper in one line"}
]
EXPECTED = "[sandbox sandbox-x] Summarise the paper in one line"


async def test_openai_sdk(sandbox: SandboxServer) -> None:
    async with openai.AsyncOpenAI(base_url=sandbox.base_url, api_key="x", max_retries=0) as sdk:
        reply = await sdk.chat.completions.create(model="sandbox-x", messages=MESSAGES)
        assert reply.choices[0].message.content == EXPECTED
        assert reply.choices[0].finish_reason == "stop"
        assert reply.usage is not None
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (8, 11)

        stream = await sdk.chat.completions.create(
            model="sandbox-x",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == EXPECTED
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.total_tokens == 19

        sandbox.script("sandbox-x", ["status=429;retry_after=0"])
        with pytest.raises(openai.RateLimitError):
            await sdk.chat.completions.create(model="sandbox-x", messages=MESSAGES)
    assert sandbox.requests()[0]["headers"]["authorization"] == "Bearer x"


async def test_litellm(sandbox: SandboxServer) -> None:
    # One test for every LiteLLM call: it caches HTTP clients across calls, and each test
    # gets its own event loop.
    common = {"api_base": sandbox.base_url, "api_key": "x", "max_retries": 0}
    reply = await litellm.acompletion(model="openai/sandbox-x", messages=MESSAGES, **common)
    assert reply.choices[0].message.content == EXPECTED
    assert reply.usage.total_tokens == 19

    stream = await litellm.acompletion(
        model="openai/sandbox-x", messages=MESSAGES, stream=True, **common
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    assert text == EXPECTED

    sandbox.script("sandbox-x", ["status=429;retry_after=0"])
    with pytest.raises(litellm.RateLimitError):
        await litellm.acompletion(model="openai/sandbox-x", messages=MESSAGES, **common)
    assert [r["model"] for r in sandbox.requests()] == ["sandbox-x"] * 3
