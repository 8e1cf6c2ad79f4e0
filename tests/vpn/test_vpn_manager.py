"""The manager against real proxies and a real database: policy, failover, recovery, restarts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core import errors
from annas_gift.core.errors import VPNUnavailable
from annas_gift.egress.admin import VPNAdmin
from annas_gift.egress.config import VPNConfig
from annas_gift.egress.manager import VPNManager
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import ConfigError, VPNSettings
from annas_gift.upstream.proxy_clients import ProxyClients
from tests.vpn.conftest import (
    PASSWORD,
    call_litellm,
    sandbox_model,
    texts,
    vpn_config,
)
from tests.vpn.proxies import LoopbackProxy

Factory = Callable[..., Any]


async def test_round_robin_each_request_goes_through_the_chosen_proxy(
    manager_factory: Factory,
    upstream: RunningSandbox,
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
    socks_proxy: LoopbackProxy,
    clients: ProxyClients,
) -> None:
    proxies = {"a": http_proxy, "b": http_proxy_b, "c": socks_proxy}
    vpn = await manager_factory(vpn_config(proxies))
    model = sandbox_model(upstream.base_url)
    for i in range(6):
        choice = vpn.get_proxy_config("sandbox")
        assert choice is not None
        await call_litellm(clients, model, choice, f"{choice.name}{i}")
    assert texts(http_proxy) == ["a0", "a3"]
    assert texts(http_proxy_b) == ["b1", "b4"]
    assert texts(socks_proxy) == ["c2", "c5"]
    assert {e.name: e.requests_carried for e in VPNAdmin(vpn).list_endpoints()} == {
        "a": 2,
        "b": 2,
        "c": 2,
    }


async def test_sticky_per_provider_and_429_rotates_away(
    manager_factory: Factory,
    upstream: RunningSandbox,
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
    clients: ProxyClients,
) -> None:
    vpn = await manager_factory(vpn_config({"a": http_proxy, "b": http_proxy_b}, rotation="sticky"))
    model = sandbox_model(upstream.base_url, "m", provider="p1")
    picks = [vpn.get_proxy_config("p1").name for _ in range(3)]
    assert picks == ["a", "a", "a"]
    assert vpn.get_proxy_config("p2").name == "b"  # a second provider gets its own endpoint
    upstream.script("m", ["status=429;retry_after=1"])

    async def call(choice: Any) -> Any:
        return await call_litellm(clients, model, choice, "limited")

    with pytest.raises(errors.RateLimited):
        await vpn.call_with_failover("p1", call)
    assert vpn.get_proxy_config("p1").name == "b"  # moved away from the limited endpoint
    assert VPNAdmin(vpn).status().sticky == {"p1": "b", "p2": "b"}


async def test_provider_country_and_endpoint_restrictions(
    manager_factory: Factory,
    upstream: RunningSandbox,
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
    clients: ProxyClients,
) -> None:
    config = vpn_config({}, providers=["p1", "p2"], countries=["de"])
    vpn = await manager_factory(config)
    await VPNAdmin(vpn).add("de-1", http_proxy.url, country="DE", allowed_providers=["p1"])
    await VPNAdmin(vpn).add("de-2", http_proxy_b.url, country="de")
    await VPNAdmin(vpn).add("us-1", http_proxy_b.url, country="US")
    assert {vpn.get_proxy_config("p1").name for _ in range(4)} == {"de-1", "de-2"}
    assert {vpn.get_proxy_config("p2").name for _ in range(4)} == {"de-2"}
    # A provider that is not routed through the VPN goes direct: no proxy sees it.
    assert vpn.get_proxy_config("direct") is None
    await call_litellm(clients, sandbox_model(upstream.base_url), None, "direct")
    assert texts(http_proxy) == texts(http_proxy_b) == []
    assert len(upstream.requests()) == 1


async def test_no_endpoint_left_refuses_unless_fail_open(
    manager_factory: Factory, http_proxy: LoopbackProxy
) -> None:
    vpn = await manager_factory(vpn_config({"a": http_proxy}))
    await VPNAdmin(vpn).update("a", active=False)
    with pytest.raises(VPNUnavailable):
        vpn.get_proxy_config("sandbox")
    open_vpn = await manager_factory(vpn_config({}, fail_open=True))
    assert open_vpn.get_proxy_config("sandbox") is None
    disabled = await manager_factory(vpn_config({"a": http_proxy}, enabled=False))
    assert disabled.get_proxy_config("sandbox") is None


async def test_timed_rotation_follows_the_clock(
    sessions: async_sessionmaker[AsyncSession], http_proxy: LoopbackProxy, upstream: RunningSandbox
) -> None:
    now = [1000.0]
    config = vpn_config({}, rotation="timed", rotate_every_minutes=5, enabled=True)
    vpn = VPNManager(sessions, config, clock=lambda: now[0])
    await vpn.load()
    for name in ("a", "b", "c"):
        await VPNAdmin(vpn).add(name, http_proxy.url)
    first = [vpn.get_proxy_config("x").name for _ in range(3)]
    now[0] += 299
    assert vpn.get_proxy_config("x").name == first[0] == first[2]
    now[0] += 2
    assert vpn.get_proxy_config("x").name == "b"
    assert (await VPNAdmin(vpn).rotate("a")).name == "a"
    assert vpn.get_proxy_config("y").name == "a"
    assert (await VPNAdmin(vpn).rotate()).name == "b"
    assert VPNAdmin(vpn).status().current == "b"
    await vpn.stop()


async def test_endpoints_and_counters_survive_a_restart(
    sessions: async_sessionmaker[AsyncSession],
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
) -> None:
    first = VPNManager(sessions, vpn_config({"declared": http_proxy}, probe_interval_s=60))
    await first.start()
    await VPNAdmin(first).add("runtime", http_proxy_b.url, country="NL", provider_label="acme")
    for _ in range(5):
        first.get_proxy_config("sandbox")
    await first.stop()
    second = VPNManager(sessions, VPNConfig(enabled=True, probe_interval_s=60))
    await second.start()
    try:
        by_name = {e.name: e for e in VPNAdmin(second).list_endpoints()}
        assert set(by_name) == {"declared", "runtime"}
        assert by_name["runtime"].country == "NL"
        assert by_name["runtime"].provider_label == "acme"
        assert by_name["declared"].requests_carried + by_name["runtime"].requests_carried == 5
        assert PASSWORD not in json.dumps({n: e.model_dump() for n, e in by_name.items()})
    finally:
        await second.stop()


async def test_crud_validation(manager_factory: Factory, http_proxy: LoopbackProxy) -> None:
    vpn = await manager_factory(vpn_config({}, enabled=False))
    await VPNAdmin(vpn).add("one", http_proxy.url)
    with pytest.raises(errors.InvalidRequest, match="already exists"):
        await VPNAdmin(vpn).add("one", http_proxy.url)
    with pytest.raises(errors.InvalidRequest) as bad:
        await VPNAdmin(vpn).add("two", f"socks4://u:{PASSWORD}@127.0.0.1:1080")
    assert bad.value.param == "url"
    assert PASSWORD not in bad.value.message
    with pytest.raises(errors.InvalidRequest, match="port"):
        await VPNAdmin(vpn).add("two", "http://proxy.example")
    with pytest.raises(errors.InvalidRequest) as bad_name:
        await VPNAdmin(vpn).add("no spaces", http_proxy.url)
    assert bad_name.value.param == "name"
    updated = await VPNAdmin(vpn).update("one", country="SE", allowed_providers=["a", "b"])
    assert updated.country == "SE"
    assert updated.allowed_providers == ["a", "b"]
    with pytest.raises(errors.NotFound):
        await VPNAdmin(vpn).update("ghost", active=False)
    await VPNAdmin(vpn).remove("one")
    with pytest.raises(errors.NotFound):
        await VPNAdmin(vpn).remove("one")
    with pytest.raises(errors.NotFound):
        await VPNAdmin(vpn).rotate("one")


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValidationError, match="unknown rotation policy 'fastest'"):
        VPNSettings(rotation="fastest")  # refused at settings load, for every command
    with pytest.raises(ConfigError, match=r"vpn\.endpoints\[1\]\.url") as caught:
        VPNConfig.from_settings(
            VPNSettings(
                endpoints=[{"name": "a", "url": "http://h:1"}, {"name": "b", "url": "ftp://x"}]
            )
        )
    assert "ftp://x" not in str(caught.value)
    with pytest.raises(ConfigError, match="unique"):
        VPNConfig.from_settings(VPNSettings(endpoints=[{"name": "a", "url": "http://h:1"}] * 2))
    config = VPNConfig.from_settings(
        VPNSettings(rotation="Sticky-Per-Provider", countries=["de", " us"], providers=["openai"])
    )
    assert config.rotation == "sticky"
    assert config.countries == frozenset({"DE", "US"})
