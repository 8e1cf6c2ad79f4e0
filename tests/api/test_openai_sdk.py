"""The official `openai` SDK against a running gateway: plain, streaming, errors."""

from __future__ import annotations

import openai
import pytest

from annas_gift.sandbox import RunningSandbox
from tests.api.conftest import KEY, LiveGateway

MSG = [{"role": "user", "content": "Explain entropy to a first-year student."}]


@pytest.fixture
def sdk(live_gateway: LiveGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_gateway.url}/v1", api_key=KEY, max_retries=0)


def test_sdk_completion(sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(model="sandbox/fast-small", messages=MSG)  # type: ignore[arg-type]
    completion = raw.parse()
    assert "entropy" in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-annas-model"] == "sandbox/fast-small"


def test_sdk_stream_with_usage(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="sandbox/powerful-large",
        messages=MSG,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert "entropy" in text
    assert usage is not None and usage.completion_tokens > 0


def test_sdk_async_stream(live_gateway: LiveGateway) -> None:
    import asyncio

    async def run() -> str:
        client = openai.AsyncOpenAI(base_url=f"{live_gateway.url}/v1", api_key=KEY, max_retries=0)
        stream = await client.chat.completions.create(
            model="sandbox/fast-coder",
            messages=MSG,
            stream=True,  # type: ignore[arg-type]
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        await client.close()
        return "".join(parts)

    assert "entropy" in asyncio.run(run())


def test_sdk_lists_models(sdk: openai.OpenAI) -> None:
    ids = [m.id for m in sdk.models.list()]
    assert "sandbox/fast-small" in ids and "auto" in ids


def test_sdk_errors_are_typed(sdk: openai.OpenAI, upstream: RunningSandbox) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        sdk.chat.completions.create(model="no-such-model", messages=MSG)  # type: ignore[arg-type]
    assert nf.value.code == "model_not_found"

    bad = openai.OpenAI(base_url=sdk.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="sandbox/fast-small", messages=MSG)  # type: ignore[arg-type]

    upstream.script("fast-small", ["status=429;retry_after=4"])
    with pytest.raises(openai.RateLimitError) as rl:
        sdk.chat.completions.create(model="sandbox/fast-small", messages=MSG)  # type: ignore[arg-type]
    assert rl.value.response.headers["retry-after"] == "4"


def test_sdk_stream_cut_raises(sdk: openai.OpenAI, upstream: RunningSandbox) -> None:
    upstream.script("fast-small", ["cut=1"])
    stream = sdk.chat.completions.create(model="sandbox/fast-small", messages=MSG, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
