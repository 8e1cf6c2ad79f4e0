"""The direct OpenAI-wire path and the LiteLLM path give the same results for the same upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from annas_gift.catalog.demo import demo_catalog
from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.core import errors
from annas_gift.sandbox import SandboxServer
from annas_gift.upstream.base import UpstreamCall
from annas_gift.upstream.litellm_client import LiteLLMUpstream
from annas_gift.upstream.openai_wire import OpenAIWireUpstream, wire_target
from annas_gift.upstream.sse import SSEFilter

MSG = [{"role": "user", "content": "Name three prime numbers."}]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as sb:
        yield sb


@pytest.fixture
async def paths() -> AsyncIterator[dict[str, Any]]:
    direct, via_litellm = OpenAIWireUpstream(), LiteLLMUpstream()
    yield {"direct": direct, "litellm": via_litellm}
    await direct.aclose()
    await via_litellm.aclose()


def _call(model: CatalogModel, behavior: str, timeout: float = 5.0, **params: Any) -> UpstreamCall:
    return UpstreamCall(
        model=model,
        messages=MSG,
        params={"extra_headers": {"x-sandbox-behavior": behavior}, **params},
        timeout_s=timeout,
        request_id="r1",
    )


def _model(sb: SandboxServer) -> CatalogModel:
    model = demo_catalog(sb.base_url).get("sandbox/fast-small")
    assert model is not None
    return model


async def test_whole_completion_matches(sandbox: SandboxServer, paths: dict[str, Any]) -> None:
    model = _model(sandbox)
    results = {name: await up.complete(_call(model, "tokens=11,7")) for name, up in paths.items()}
    direct, lite = results["direct"], results["litellm"]
    assert direct.usage == lite.usage
    assert (direct.usage.prompt_tokens, direct.usage.completion_tokens) == (11, 7)
    for key in ("content", "role"):
        assert direct.body["choices"][0]["message"][key] == lite.body["choices"][0]["message"][key]
    assert direct.body["choices"][0]["finish_reason"] == lite.body["choices"][0]["finish_reason"]
    assert direct.body["object"] == lite.body["object"] == "chat.completion"


async def _events(up: Any, call: UpstreamCall, view: SSEFilter) -> list[Any]:
    """The events a client reads from the relayed bytes ([DONE] as the string)."""
    text = b"".join([piece async for piece in up.relay(call, view)])
    data = [line[6:] for line in text.split(b"\n") if line.startswith(b"data: ")]
    return ["[DONE]" if d == b"[DONE]" else orjson.loads(d) for d in data]


def _text(events: list[Any]) -> str:
    return "".join(
        (choice.get("delta") or {}).get("content") or ""
        for event in events[:-1]
        for choice in event.get("choices") or []
    )


@pytest.mark.parametrize("include_usage", [True, False])
async def test_streams_match(
    sandbox: SandboxServer, paths: dict[str, Any], include_usage: bool
) -> None:
    model = _model(sandbox)
    seen: dict[str, list[Any]] = {}
    for name, up in paths.items():
        view = SSEFilter(include_usage)
        seen[name] = events = await _events(up, _call(model, "tokens=5,9"), view)
        assert events[-1] == "[DONE]", name
        assert (view.usage.prompt_tokens, view.usage.completion_tokens) == (5, 9), name
        shown = [e["usage"]["total_tokens"] for e in events[:-1] if e.get("usage")]
        assert shown == ([14] if include_usage else []), name
        assert include_usage or all("usage" not in e for e in events[:-1]), name
    assert _text(seen["direct"]) == _text(seen["litellm"]) and "prime" in _text(seen["direct"])


async def test_streams_end_alike_after_the_finish_reason(
    sandbox: SandboxServer, paths: dict[str, Any]
) -> None:
    # OpenAI's closing usage chunk has no choices; nothing may follow the finish_reason.
    model = _model(sandbox)
    for name, up in paths.items():
        chunks = (await _events(up, _call(model, "ok"), SSEFilter(True)))[:-1]
        finished = [i for i, c in enumerate(chunks) if any(
            ch.get("finish_reason") for ch in c.get("choices") or []
        )]  # fmt: skip
        assert finished, name
        after = chunks[finished[-1] + 1 :]
        assert all(c.get("choices") == [] and c.get("usage") for c in after), (name, after)


@pytest.mark.parametrize(
    ("behavior", "kind", "retry_after"),
    [
        ("status=429;retry_after=5", errors.RateLimited, 5.0),
        ("status=500", errors.UpstreamServerError, None),
        ("status=503", errors.UpstreamServerError, None),
        ("status=401", errors.ProviderAuthFailed, None),
        ("status=400", errors.InvalidRequest, None),
        ("malformed", errors.UpstreamServerError, None),
    ],
)
async def test_errors_match(
    sandbox: SandboxServer,
    paths: dict[str, Any],
    behavior: str,
    kind: type[errors.GatewayError],
    retry_after: float | None,
) -> None:
    model = _model(sandbox)
    for name, up in paths.items():
        with pytest.raises(errors.GatewayError) as info:
            await up.complete(_call(model, behavior))
        assert type(info.value) is kind, f"{name}: {info.value!r}"
        assert info.value.retry_after == retry_after, name
        assert info.value.model == "sandbox/fast-small"


async def test_timeouts_match(sandbox: SandboxServer, paths: dict[str, Any]) -> None:
    model = _model(sandbox)
    for up in paths.values():
        with pytest.raises(errors.UpstreamTimeout):
            await up.complete(_call(model, "timeout", timeout=0.3))


async def test_cut_stream_is_an_error_on_both(
    sandbox: SandboxServer, paths: dict[str, Any]
) -> None:
    model = _model(sandbox)

    async def drain(up: Any) -> int:
        seen = 0
        async for _ in up.relay(_call(model, "cut=2"), SSEFilter(False)):
            seen += 1
        return seen

    for up in paths.values():
        with pytest.raises(errors.GatewayError):
            await drain(up)


async def test_connection_refused_on_both(paths: dict[str, Any]) -> None:
    model = demo_catalog("http://127.0.0.1:9/v1").get("sandbox/fast-small")
    assert model is not None
    for up in paths.values():
        with pytest.raises(errors.UpstreamConnectionError):
            await up.complete(_call(model, "ok"))


@pytest.mark.parametrize(
    ("litellm_model", "params", "url"),
    [
        ("groq/llama", {"api_key": "k"}, "https://api.groq.com/openai/v1/chat/completions"),
        ("openrouter/openai/gpt-oss:free", {}, "https://openrouter.ai/api/v1/chat/completions"),
        ("openai/m", {"api_base": "http://h:1/v1/"}, "http://h:1/v1/chat/completions"),
        ("gemini/gemini-pro", {}, None),
        ("ollama_chat/llama3", {}, None),
        ("groq/llama", {"custom_llm_provider": "x"}, None),
    ],
)
def test_which_models_go_direct(
    litellm_model: str, params: dict[str, Any], url: str | None
) -> None:
    entry = {"model_name": "m", "litellm_params": {"model": litellm_model, **params}}
    model = Catalog.from_model_list([entry], price=False).all()[0]
    target = wire_target(model, {})
    assert (target.url if target else None) == url
    if target and "api_key" in params:
        assert target.headers["authorization"] == "Bearer k"
    if target and litellm_model.startswith("openrouter/"):
        assert target.model_id == "openai/gpt-oss:free"
