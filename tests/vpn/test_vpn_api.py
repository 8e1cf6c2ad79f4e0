"""The VPN admin API, and chat through the gateway over rotating proxies."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from annas_gift.api.app import create_app
from annas_gift.catalog.demo import demo_model_list
from annas_gift.catalog.registry import Catalog
from annas_gift.egress.manager import VPNManager
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import load_settings
from tests.vpn.conftest import PASSWORD, texts
from tests.vpn.proxies import HTTPProxy, LoopbackProxy

KEY = "sk-vpn-admin"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "sandbox/fast-small"


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    vpn: VPNManager


def vpn_section(proxies: dict[str, LoopbackProxy], probe_url: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "rotation": "round_robin",
        "probe_interval_s": 0.1,
        "probe_timeout_s": 2.0,
        "failure_threshold": 2,
        "probe_url": probe_url,
        "endpoints": [{"name": n, "url": p.url, "country": "NL"} for n, p in proxies.items()],
    }


async def open_gateway(
    db: str, tmp: Path, sandbox: RunningSandbox, vpn: dict[str, Any]
) -> AsyncIterator[Gateway]:
    settings = load_settings(
        auth={"api_keys": ["sk-vpn-client"], "admin_keys": [KEY]},  # VPN routes need an admin
        storage={"database_url": db, "flush_interval_s": 0.05, "spool_path": str(tmp / "s")},
        litellm={"timeout_s": 5.0},
        vpn=vpn,
    )
    catalog = Catalog.from_model_list(demo_model_list(sandbox.base_url), price=False)
    app = create_app(settings, catalog=catalog)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield Gateway(app, client, app.state.gateway.vpn)


@pytest.fixture
async def gateway(
    sqlite_url: str,
    tmp_path: Path,
    upstream: RunningSandbox,
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
    socks_proxy: LoopbackProxy,
) -> AsyncIterator[Gateway]:
    proxies = {"a": http_proxy, "b": http_proxy_b, "c": socks_proxy}
    async for gw in open_gateway(
        sqlite_url, tmp_path, upstream, vpn_section(proxies, upstream.url + "/health")
    ):
        yield gw


async def eventually(check: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# -- admin API (runs now) ------------------------------------------------------------------


async def test_admin_routes_need_a_key_before_anything_else(gateway: Gateway) -> None:
    c = gateway.client
    assert (await c.get("/api/v1/vpn/status")).status_code == 401
    bad = await c.post("/api/v1/vpn/endpoints", content=b"{not json")
    assert bad.status_code == 401
    assert bad.json()["error"]["type"] == "authentication_error"


async def test_crud_status_rotate_and_probe(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, http_proxy: LoopbackProxy
) -> None:
    caplog.set_level(logging.DEBUG)
    c, bodies = gateway.client, []

    async def call(method: str, url: str, **kw: Any) -> httpx.Response:
        response = await c.request(method, url, headers=AUTH, **kw)
        bodies.append(response.text)
        return response

    created = await call(
        "POST",
        "/api/v1/vpn/endpoints",
        json={"name": "d", "url": http_proxy.url, "country": "SE", "allowed_providers": ["x"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["url"].startswith("http://vpn-user:***@127.0.0.1:")
    duplicate = await call("POST", "/api/v1/vpn/endpoints", json={"name": "d", "url": "http://h:1"})
    assert duplicate.status_code == 400
    bad = await call(
        "POST", "/api/v1/vpn/endpoints", json={"name": "e", "url": f"socks4://u:{PASSWORD}@h:1"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "url"
    unknown = await call("POST", "/api/v1/vpn/endpoints", json={"name": "e", "url": 1, "x": 2})
    assert unknown.status_code == 400
    listed = await call("GET", "/api/v1/vpn/endpoints")
    assert [e["name"] for e in listed.json()] == ["a", "b", "c", "d"]
    patched = await call(
        "PATCH", "/api/v1/vpn/endpoints/d", json={"active": False, "country": None}
    )
    assert patched.json()["active"] is False
    assert patched.json()["country"] is None
    assert (await call("PATCH", "/api/v1/vpn/endpoints/d", json={"url": None})).status_code == 400
    assert (await call("GET", "/api/v1/vpn/endpoints/zz")).json()["error"]["code"] == "not_found"
    probe = await call("POST", "/api/v1/vpn/endpoints/a/test")
    assert probe.json()["ok"] is True
    assert probe.json()["latency_ms"] > 0
    rotated = await call("POST", "/api/v1/vpn/rotate", json={"to": "b"})
    assert rotated.json()["current"] == "b"
    assert (await call("POST", "/api/v1/vpn/rotate", json={"to": "nope"})).status_code == 404
    assert (await call("POST", "/api/v1/vpn/rotate")).json()["current"] == "c"
    status = (await call("GET", "/api/v1/vpn/status")).json()
    assert status["enabled"] is True
    assert status["rotation"] == "round_robin"
    assert {e["name"]: e["state"] for e in status["endpoints"]}["d"] == "inactive"
    for field in ("latency_ms", "last_check", "last_used", "failure_count", "requests_carried"):
        assert field in status["endpoints"][0]
    assert (await call("DELETE", "/api/v1/vpn/endpoints/d")).status_code == 204
    assert (await call("DELETE", "/api/v1/vpn/endpoints/d")).status_code == 404
    openapi = (await c.get("/openapi.json")).json()
    assert "/api/v1/vpn/endpoints/{name}" in openapi["paths"]
    for text in [*bodies, *(r.getMessage() for r in caplog.records)]:
        assert PASSWORD not in text


async def test_endpoints_added_by_api_survive_a_restart(
    sqlite_url: str, tmp_path: Path, upstream: RunningSandbox, http_proxy: LoopbackProxy
) -> None:
    section = vpn_section({}, upstream.url + "/health")
    async for gw in open_gateway(sqlite_url, tmp_path, upstream, section):
        made = await gw.client.post(
            "/api/v1/vpn/endpoints", headers=AUTH, json={"name": "kept", "url": http_proxy.url}
        )
        assert made.status_code == 201
    async for gw in open_gateway(sqlite_url, tmp_path, upstream, section):
        listed = (await gw.client.get("/api/v1/vpn/endpoints", headers=AUTH)).json()
        assert [e["name"] for e in listed] == ["kept"]


# -- chat through the gateway ---------------------------------------------------------------


async def chat(c: httpx.AsyncClient, text: str, **extra: Any) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}
    return await c.post("/v1/chat/completions", headers=AUTH, json=body)


async def test_each_chat_goes_through_the_endpoint_the_policy_chose(
    gateway: Gateway,
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
    socks_proxy: LoopbackProxy,
) -> None:
    for i in range(6):
        response = await chat(gateway.client, f"t{i}")
        assert response.status_code == 200, response.text
    assert texts(http_proxy) == ["t0", "t3"]
    assert texts(http_proxy_b) == ["t1", "t4"]
    assert texts(socks_proxy) == ["t2", "t5"]


async def test_clients_cannot_choose_a_proxy(
    gateway: Gateway,
    http_proxy: LoopbackProxy,
    http_proxy_b: LoopbackProxy,
    socks_proxy: LoopbackProxy,
) -> None:
    evil = HTTPProxy().start()
    try:
        steering = {"proxy": evil.url, "proxies": evil.url, "http_client": evil.url}
        steering |= {"client": evil.url, "shared_session": evil.url, "proxy_url": evil.url}
        response = await chat(gateway.client, "steer", **steering)
        assert evil.requests() == []
        if response.status_code == 200:  # then it went through an endpoint of the config
            assert "steer" in texts(http_proxy) + texts(http_proxy_b) + texts(socks_proxy)
        else:
            assert response.status_code == 400, response.text
    finally:
        evil.close()


async def test_killing_a_proxy_mid_load_is_invisible_to_clients(
    gateway: Gateway, socks_proxy: LoopbackProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    total, concurrency, statuses = 150, 12, []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            statuses.append((await chat(gateway.client, f"load{i}")).status_code)
            if len(statuses) == total // 3:
                await asyncio.to_thread(socks_proxy.kill)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    status = (await gateway.client.get("/api/v1/vpn/status", headers=AUTH)).json()
    lost = total - statuses.count(200)
    figures = {"requests": total, "failed_over": status["failovers"], "lost": lost}
    with capsys.disabled():
        print("\nVPN failover through the gateway:", json.dumps(figures))
    assert statuses.count(200) == total
    socks_proxy.start()

    async def back_up() -> bool:
        listed = (await gateway.client.get("/api/v1/vpn/endpoints/c", headers=AUTH)).json()
        return bool(listed["state"] == "up")

    await eventually(back_up)
