"""The LiteLLM path's stream: a consumer that stops early closes LiteLLM's stream at once."""

from __future__ import annotations

from typing import Any

from annas_gift.catalog.registry import CatalogModel
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


class _EndlessStream:
    """What `litellm.acompletion(stream=True)` returns (a CustomStreamWrapper), endless."""

    def __init__(self) -> None:
        self.closed = False

    def __aiter__(self) -> _EndlessStream:
        return self

    async def __anext__(self) -> _Chunk:
        return _Chunk()

    async def aclose(self) -> None:
        self.closed = True  # LiteLLM's aclose closes the provider's HTTP response


class _FakeLiteLLM:
    def __init__(self) -> None:
        self.stream = _EndlessStream()

    async def acompletion(self, **_: Any) -> _EndlessStream:
        return self.stream


async def test_closing_the_relay_closes_litellm_s_stream() -> None:
    upstream, fake = LiteLLMUpstream(), _FakeLiteLLM()
    upstream._module = fake
    relay = upstream.relay(CALL, SSEFilter(include_usage=False))
    assert (await anext(relay)).startswith(b"data: {")
    await relay.aclose()  # type: ignore[attr-defined]  # the gateway's close of a cut stream
    assert fake.stream.closed
