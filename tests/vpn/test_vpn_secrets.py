"""Proxy credentials never appear in a log line, a status, an error or a repr."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from annas_gift.core import errors
from annas_gift.egress.admin import VPNAdmin
from annas_gift.sandbox import RunningSandbox
from annas_gift.upstream.litellm_client import _configure_litellm
from annas_gift.upstream.proxy_clients import ProxyClients
from tests.vpn.conftest import PASSWORD, USER, call_litellm, sandbox_model, vpn_config
from tests.vpn.proxies import LoopbackProxy


async def test_credentials_never_logged_or_shown(
    caplog: pytest.LogCaptureFixture,
    manager_factory: Callable[..., Any],
    upstream: RunningSandbox,
    http_proxy: LoopbackProxy,
    socks_proxy: LoopbackProxy,
    clients: ProxyClients,
) -> None:
    _configure_litellm()  # as the gateway runs it
    caplog.set_level(logging.DEBUG)  # everything, httpx and httpcore included
    vpn = await manager_factory(vpn_config({"http": http_proxy, "socks": socks_proxy}))
    await VPNAdmin(vpn).add("extra", socks_proxy.url.replace("socks5", "socks5h"), country="DE")
    model = sandbox_model(upstream.base_url)
    seen: list[str] = []
    for i in range(3):
        _, _ = await vpn.call_with_failover(
            "sandbox", lambda c, i=i: call_litellm(clients, model, c, f"r{i}")
        )
    socks_proxy.kill()
    http_proxy.kill()
    with pytest.raises(errors.GatewayError) as caught:
        await vpn.call_with_failover("sandbox", lambda c: call_litellm(clients, model, c, "x"))
    seen.append(caught.value.message)
    seen.append(json.dumps(caught.value.body()))
    for name in ("http", "socks", "extra"):
        seen.append(json.dumps((await vpn.test_endpoint(name)).to_dict()))
    with pytest.raises(errors.InvalidRequest) as bad:
        await VPNAdmin(vpn).update("http", url=f"ftp://{USER}:{PASSWORD}@h:1")
    seen.append(bad.value.message)
    await VPNAdmin(vpn).update("http", url=http_proxy.url.replace(PASSWORD, PASSWORD + "2"))
    choice = vpn.get_proxy_config("sandbox")
    admin = VPNAdmin(vpn)
    listed = json.dumps([e.model_dump() for e in admin.list_endpoints()])
    seen += [repr(choice), admin.status().model_dump_json(), listed]
    seen += [repr(state) for state in vpn.states.values()]
    await vpn.stop()
    seen += [r.getMessage() for r in caplog.records]
    assert len(caplog.records) > 20  # the run did log: the check below means something
    status = admin.status().model_dump_json()
    assert "masked" in status or "***" in status
    for text in seen:
        assert PASSWORD not in text, text
    assert any("failed" in r.getMessage() for r in caplog.records)
