"""The LiteLLM path's stream: however it ends early, LiteLLM's stream is closed at once."""

from __future__ import annotations

from typing import Any

import pytest

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.upstream.base import UpstreamCall
from annas_gift.upstream.litellm_client import LiteLLMUpstream
from annas_gift.upstream.sse import SSEFilter

CALL = UpstreamCall(
    model=CatalogModel(name="m", provider="p", litellm_model="openai/m", params={}),
    messages=[{"role": "user", "content": "hi"}],
    params={},
    timeout_s=3,
    request_id="r",
)


class _Chunk:
    def model_dump(self, **_: Any) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": {"content": "x"}}]}


class _Stream:
    """What `litellm.acompletion(stream=True)` returns (a CustomStreamWrapper): chunks without
    end, or (`fail_after`) an error after that many, as LiteLLM raises mid-stream (its
    repeated-chunk check, a provider error event) without closing the provider's response."""

    def __init__(self, fail_after: int | None) -> None:
        self.fail_after = fail_after
        self.given = 0
        self.closed = False

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> _Chunk:
        if self.given == self.fail_after:
            raise RuntimeError("the provider's stream broke")
        self.given += 1
        return _Chunk()

    async def aclose(self) -> None:
        self.closed = True  # LiteLLM's aclose closes the provider's HTTP response


class _FakeLiteLLM:
    def __init__(self, stream: _Stream) -> None:
        self.stream = stream

    async def acompletion(self, **_: Any) -> _Stream:
        return self.stream


def _relay(stream: _Stream) -> Any:
    upstream = LiteLLMUpstream()
    upstream._module = _FakeLiteLLM(stream)
    return upstream.relay(CALL, SSEFilter(include_usage=False))


async def test_closing_the_relay_closes_litellm_s_stream() -> None:
    stream = _Stream(fail_after=None)
    relay = _relay(stream)
    assert (await anext(relay)).startswith(b"data: {")
    await relay.aclose()  # the gateway's close of a stream whose client left
    assert stream.closed


async def test_a_stream_litellm_breaks_is_closed_too() -> None:
    stream = _Stream(fail_after=1)
    relay = _relay(stream)
    assert (await anext(relay)).startswith(b"data: {")
    with pytest.raises(errors.GatewayError):
        await anext(relay)
    assert stream.closed
