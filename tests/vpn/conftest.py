"""VPN fixtures: real loopback proxies (HTTP and SOCKS5, with credentials), the sandbox behind
them, a migrated database, and helpers that call LiteLLM through a chosen proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.egress.config import VPNConfig
from annas_gift.egress.manager import VPNManager
from annas_gift.egress.policies import ProxyChoice
from annas_gift.sandbox import RunningSandbox, start_in_thread
from annas_gift.settings import VPNSettings
from annas_gift.storage import database, migrate
from annas_gift.upstream.base import UpstreamCall
from annas_gift.upstream.litellm_client import map_exception
from annas_gift.upstream.proxy_clients import ProxyClients
from tests.vpn.proxies import HTTPProxy, LoopbackProxy, SOCKS5Proxy

USER = "vpn-user"
PASSWORD = "s3cr3t-Pa55word"  # a test credential that must never leak


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """The fake provider every proxy forwards to."""
    with start_in_thread(defaults={"slow": "latency=40"}) as sb:
        yield sb


@pytest.fixture
def upstream(sandbox: RunningSandbox) -> RunningSandbox:
    sandbox.clear()
    return sandbox


def _proxy(factory: Callable[[], LoopbackProxy]) -> Iterator[LoopbackProxy]:
    proxy = factory().start()
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def http_proxy() -> Iterator[LoopbackProxy]:
    """An HTTP forward proxy that wants Basic credentials."""
    yield from _proxy(lambda: HTTPProxy(USER, PASSWORD))


@pytest.fixture
def http_proxy_b() -> Iterator[LoopbackProxy]:
    """A second HTTP proxy, without credentials."""
    yield from _proxy(HTTPProxy)


@pytest.fixture
def socks_proxy() -> Iterator[LoopbackProxy]:
    """A SOCKS5 proxy that wants username/password."""
    yield from _proxy(lambda: SOCKS5Proxy(USER, PASSWORD))


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a freshly migrated database (SQLite, and PostgreSQL when configured)."""
    await asyncio.to_thread(migrate.upgrade, database_url)
    engine = database.create_engine(database_url)
    try:
        yield database.session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def clients() -> AsyncIterator[ProxyClients]:
    pool = ProxyClients()
    try:
        yield pool
    finally:
        await pool.aclose()


def vpn_config(proxies: dict[str, LoopbackProxy], **overrides: Any) -> VPNConfig:
    """An enabled config declaring `proxies` by name, with fast probes against the sandbox."""
    values: dict[str, Any] = {
        "enabled": True,
        "probe_interval_s": 0.1,
        "probe_timeout_s": 2.0,
        "failure_threshold": 2,
        "endpoints": [{"name": name, "url": p.url} for name, p in proxies.items()],
    }
    values.update(overrides)
    return VPNConfig.from_settings(VPNSettings.model_validate(values))


@pytest.fixture
async def manager_factory(
    sessions: async_sessionmaker[AsyncSession], upstream: RunningSandbox
) -> AsyncIterator[Callable[..., Any]]:
    """Builds started managers (probing the sandbox's /health) and stops them afterwards."""
    made: list[VPNManager] = []

    async def make(config: VPNConfig, **kwargs: Any) -> VPNManager:
        if config.probe_url.startswith("https://cloudflare"):
            config = dataclasses.replace(config, probe_url=upstream.url + "/health")
        manager = VPNManager(sessions, config, **kwargs)
        await manager.start()
        made.append(manager)
        return manager

    yield make
    for manager in made:
        await manager.stop()


def sandbox_model(base_url: str, name: str = "m", provider: str = "sandbox") -> CatalogModel:
    """A catalog model served by the sandbox through LiteLLM's openai route."""
    return CatalogModel(
        name=f"{provider}/{name}",
        provider=provider,
        litellm_model=f"openai/{name}",
        params={"api_base": base_url, "api_key": "sandbox"},
    )


async def call_litellm(
    pool: ProxyClients,
    model: CatalogModel,
    choice: ProxyChoice | None,
    text: str = "hello",
    limit_s: float = 5.0,
    **params: Any,
) -> Any:
    """One real `litellm.acompletion` through `choice` (or direct), errors mapped as the gateway
    maps them: the path LiteLLMUpstream takes once it applies `call.proxy_url`."""
    import litellm

    kwargs: dict[str, Any] = {
        **params,
        **model.resolved_params(),
        "model": model.litellm_model,
        "messages": [{"role": "user", "content": text}],
        "timeout": limit_s,
        "num_retries": 0,
        "_skip_mcp_handler": True,
    }
    proxy_url = choice.url if choice else None
    call = UpstreamCall(model, kwargs["messages"], {}, limit_s, "r", proxy_url=proxy_url)
    direct: Any = None
    try:
        if choice is not None:
            kwargs.update(pool.kwargs_for(choice.url, kwargs))
        elif not kwargs.get("stream"):
            # A direct call gets a client of its own, closed below. LiteLLM's cached client
            # would outlive this test's event loop, and the GC would report its connection as
            # an unclosed transport in whichever later test it happened to run.
            direct = kwargs["client"] = _direct_client(model)
        return await litellm.acompletion(**kwargs)
    except errors.GatewayError:
        raise
    except Exception as exc:
        raise map_exception(exc, call) from None
    finally:
        if direct is not None:
            await direct.close()


def _direct_client(model: CatalogModel) -> Any:
    """An SDK client straight to the sandbox (no proxy), for LiteLLM's openai route."""
    import httpx
    import openai

    params = model.resolved_params()
    return openai.AsyncOpenAI(
        api_key=str(params["api_key"]),
        base_url=str(params["api_base"]),
        http_client=httpx.AsyncClient(trust_env=False),
        max_retries=0,
    )


def texts(proxy: LoopbackProxy) -> list[str]:
    """The user messages of the chat requests a proxy carried, in order."""
    import json

    out = []
    for seen in proxy.requests():
        if seen.target.endswith("/chat/completions") and seen.body:
            out.append(json.loads(seen.body)["messages"][-1]["content"])
    return out


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
