"""Per-call proxies on real LiteLLM calls: the proxy sees every request, none goes direct."""

from __future__ import annotations

import asyncio
import contextlib
import gc

import pytest

from annas_gift.core import errors
from annas_gift.egress.policies import ProxyChoice
from annas_gift.sandbox import RunningSandbox
from annas_gift.upstream.proxy_clients import (
    HTTP_HANDLER_PROVIDERS,
    OPENAI_SDK_PROVIDERS,
    ProxyClients,
    supports_proxy,
)
from tests.vpn.conftest import PASSWORD, call_litellm, sandbox_model, texts
from tests.vpn.proxies import LoopbackProxy


def choice(proxy: LoopbackProxy, name: str = "p") -> ProxyChoice:
    return ProxyChoice(name, proxy.url, "masked")


async def test_openai_route_goes_through_http_proxy_with_credentials(
    upstream: RunningSandbox, http_proxy: LoopbackProxy, clients: ProxyClients
) -> None:
    response = await call_litellm(clients, sandbox_model(upstream.base_url), choice(http_proxy))
    assert response.choices[0].message.content
    assert texts(http_proxy) == ["hello"]
    assert len(upstream.requests()) == 1
    # The proxy stripped its own credentials: the provider never sees them.
    assert not any("proxy-authorization" in r["headers"] for r in upstream.requests())


async def test_socks5_with_credentials(
    upstream: RunningSandbox, socks_proxy: LoopbackProxy, clients: ProxyClients
) -> None:
    model = sandbox_model(upstream.base_url)
    await call_litellm(clients, model, choice(socks_proxy), "via socks")
    stream = await call_litellm(clients, model, choice(socks_proxy), "socks stream", stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks
    assert texts(socks_proxy) == ["via socks", "socks stream"]
    assert len(upstream.requests()) == 2


async def test_wrong_proxy_password_fails_and_nothing_reaches_the_provider(
    upstream: RunningSandbox, socks_proxy: LoopbackProxy, clients: ProxyClients
) -> None:
    bad = ProxyChoice("p", socks_proxy.url.replace(PASSWORD, "wrong-password"), "masked")
    with pytest.raises(errors.UpstreamConnectionError) as caught:
        await call_litellm(clients, sandbox_model(upstream.base_url), bad)
    assert PASSWORD not in caught.value.message
    assert upstream.requests() == []
    del caught  # its traceback would hold a socket httpcore leaves open (proxy_transport closes it)
    gc.collect()  # a leak would show here as an unraisable ResourceWarning: filterwarnings=error


# LiteLLM's ollama types trip pydantic's plural ReadOnly warning, which pyproject misses.
@pytest.mark.filterwarnings("ignore:Items .* are using the `ReadOnly` qualifier:UserWarning")
@pytest.mark.parametrize("provider", sorted(OPENAI_SDK_PROVIDERS | HTTP_HANDLER_PROVIDERS))
async def test_every_supported_provider_really_uses_the_proxy(
    provider: str, upstream: RunningSandbox, http_proxy_b: LoopbackProxy, clients: ProxyClients
) -> None:
    """Guards the provider tables against LiteLLM changes: a silent bypass fails here."""
    model = sandbox_model(upstream.base_url, provider=provider)
    model = type(model)(**{**_fields(model), "litellm_model": f"{provider}/m"})
    assert supports_proxy(model.litellm_model)
    # The sandbox speaks OpenAI only: an error is fine, what matters is the route taken.
    with contextlib.suppress(errors.GatewayError):
        await call_litellm(clients, model, choice(http_proxy_b), f"via {provider}")
    carried = [s for s in http_proxy_b.requests() if s.host.endswith(f":{upstream.port}")]
    assert carried, f"{provider}: the request did not go through the proxy"
    # Everything the sandbox received came through the proxy (no direct second try).
    assert len(upstream.requests()) <= len(carried)


@pytest.mark.parametrize(
    "model", ["cohere_chat/m", "cloudflare/m", "aiohttp_openai/m", "azure/m", "replicate/m"]
)
async def test_unsupported_providers_are_refused_not_sent_direct(
    model: str, upstream: RunningSandbox, http_proxy_b: LoopbackProxy, clients: ProxyClients
) -> None:
    catalog_model = sandbox_model(upstream.base_url)
    catalog_model = type(catalog_model)(**{**_fields(catalog_model), "litellm_model": model})
    assert not supports_proxy(model)
    with pytest.raises(errors.ProxyNotSupported) as caught:
        await call_litellm(clients, catalog_model, choice(http_proxy_b))
    assert caught.value.retryable
    assert upstream.requests() == []


async def test_concurrent_calls_use_their_own_proxies(
    upstream: RunningSandbox,
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
    socks_proxy: LoopbackProxy,
    clients: ProxyClients,
) -> None:
    proxies = [http_proxy, http_proxy_b, socks_proxy]
    model = sandbox_model(upstream.base_url, "slow")  # 40 ms each: the calls overlap
    await asyncio.gather(
        *(call_litellm(clients, model, choice(proxies[i % 3]), f"r{i}") for i in range(30))
    )
    for k, proxy in enumerate(proxies):
        assert sorted(texts(proxy)) == sorted(f"r{i}" for i in range(30) if i % 3 == k)


async def test_environment_proxies_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
    upstream: RunningSandbox,
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
    clients: ProxyClients,
) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(var, http_proxy_b.url)
    monkeypatch.setenv("NO_PROXY", "")
    await call_litellm(clients, sandbox_model(upstream.base_url), choice(http_proxy), "chosen")
    assert texts(http_proxy) == ["chosen"]
    assert texts(http_proxy_b) == []


async def test_clients_are_cached_per_proxy_and_closed(
    upstream: RunningSandbox, http_proxy: LoopbackProxy, http_proxy_b: LoopbackProxy
) -> None:
    pool = ProxyClients()
    kwargs = {"model": "openai/m", "api_base": upstream.base_url, "api_key": "k"}
    a1 = pool.kwargs_for(http_proxy.url, kwargs)["client"]
    a2 = pool.kwargs_for(http_proxy.url, kwargs)["client"]
    b = pool.kwargs_for(http_proxy_b.url, kwargs)["client"]
    other_key = pool.kwargs_for(http_proxy.url, {**kwargs, "api_key": "k2"})["client"]
    assert a1 is a2
    assert b is not a1
    assert other_key is not a1  # the SDK client carries the key: one per key
    handler = pool.kwargs_for(http_proxy.url, {**kwargs, "model": "anthropic/claude"})["client"]
    assert handler is pool.kwargs_for(http_proxy.url, {**kwargs, "model": "groq/x"})["client"]
    await pool.aclose()
    await pool.aclose()  # idempotent


def _fields(model: object) -> dict[str, object]:
    return {name: getattr(model, name) for name in model.__dataclass_fields__}  # type: ignore[attr-defined]
