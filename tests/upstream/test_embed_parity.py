"""Embeddings: the direct OpenAI-wire path and LiteLLM's `aembedding` give the same results."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from annas_gift.catalog.demo import EMBEDDING_MODEL, demo_catalog
from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.sandbox import SandboxServer
from annas_gift.upstream.base import UpstreamCall
from annas_gift.upstream.litellm_client import LiteLLMUpstream
from annas_gift.upstream.openai_wire import DispatchUpstream, OpenAIWireUpstream, wire_target

TEXTS = ["photosynthesis in plants", "the French revolution"]


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


def _model(sb: SandboxServer) -> CatalogModel:
    model = demo_catalog(sb.base_url, embeddings=True).get(EMBEDDING_MODEL)
    assert model is not None and model.mode == "embedding"
    return model


def _call(model: CatalogModel, behavior: str = "ok", **params: Any) -> UpstreamCall:
    return UpstreamCall(
        model=model,
        messages=[],
        params={"extra_headers": {"x-sandbox-behavior": behavior}, **params},
        timeout_s=5.0,
        request_id="r1",
    )


async def test_float_vectors_match(sandbox: SandboxServer, paths: dict[str, Any]) -> None:
    model = _model(sandbox)
    results = {n: await up.embed(_call(model, input=TEXTS)) for n, up in paths.items()}
    direct, lite = results["direct"], results["litellm"]
    assert direct.body["object"] == lite.body["object"] == "list"
    vectors = {n: [d["embedding"] for d in r.body["data"]] for n, r in results.items()}
    assert vectors["direct"] == vectors["litellm"]
    assert [len(v) for v in vectors["direct"]] == [256, 256]
    assert vectors["direct"][0] != vectors["direct"][1]
    assert direct.usage == lite.usage and direct.usage.prompt_tokens > 0
    assert direct.usage.completion_tokens == 0


async def test_dimensions_and_base64_match(sandbox: SandboxServer, paths: dict[str, Any]) -> None:
    model = _model(sandbox)
    floats = await paths["direct"].embed(_call(model, input="entropy", dimensions=32))
    expected = floats.body["data"][0]["embedding"]
    assert len(expected) == 32
    for name, up in paths.items():
        result = await up.embed(
            _call(model, input="entropy", dimensions=32, encoding_format="base64")
        )
        encoded = result.body["data"][0]["embedding"]
        assert isinstance(encoded, str), name
        decoded = struct.unpack("<32f", base64.b64decode(encoded))
        assert decoded == pytest.approx(expected, rel=1e-6), name


@pytest.mark.parametrize(
    ("behavior", "kind"),
    [
        ("status=429;retry_after=5", errors.RateLimited),
        ("status=500", errors.UpstreamServerError),
        ("status=401", errors.ProviderAuthFailed),
        ("status=400", errors.InvalidRequest),
    ],
)
async def test_errors_match(
    sandbox: SandboxServer, paths: dict[str, Any], behavior: str, kind: type[errors.GatewayError]
) -> None:
    model = _model(sandbox)
    for name, up in paths.items():
        sandbox.clear()
        with pytest.raises(errors.GatewayError) as info:
            await up.embed(_call(model, behavior, input="x"))
        assert type(info.value) is kind, f"{name}: {info.value!r}"
        assert info.value.model == EMBEDDING_MODEL
        assert len(sandbox.requests()) == 1, f"{name} retried: fallbacks are the gateway's"


async def test_dispatch_sends_wire_models_direct(sandbox: SandboxServer) -> None:
    model = _model(sandbox)
    target = wire_target(model, {})
    assert target is not None and target.embeddings_url == f"{sandbox.base_url}/embeddings"
    dispatch = DispatchUpstream(OpenAIWireUpstream(), LiteLLMUpstream())
    try:
        result = await dispatch.embed(_call(model, input="x"))
    finally:
        await dispatch.aclose()
    assert len(result.body["data"]) == 1
    assert sandbox.state.requests()[-1]["path"] == "/v1/embeddings"
