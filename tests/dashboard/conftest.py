"""A real gateway for the dashboard tests: uvicorn on a free port, the sandbox upstream behind a
loopback VPN proxy, and a fixed mix of sandbox traffic (auto, explicit, cached, failed, stream)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from annas_gift.api.app import create_app
from annas_gift.sandbox import RunningSandbox, start_in_thread
from annas_gift.services.key_admin import KeyAdmin
from annas_gift.services.keys import TeamBudgets
from annas_gift.settings import load_settings
from annas_gift.storage import database
from tests.api.conftest import LiveGateway, make_catalog
from tests.vpn.proxies import HTTPProxy, LoopbackProxy

KEY = "sk-dash-admin"
OTHER = "sk-dash-student"
AUTH = {"Authorization": f"Bearer {KEY}"}
# Every prompt carries this marker: no dashboard page may ever show it.
MARKER = "ZEBRA-PROMPT-7Q"
CODE = f"{MARKER} Write a Python function that parses ISO dates and add unit tests for it."
ESSAY = f"{MARKER} Write a short essay on the history of the printing press in Europe."
MATH = f"{MARKER} Prove that the square root of 2 is irrational, step by step."
CHAT = f"{MARKER} hello, how are you today?"


@dataclass
class Traffic:
    """What the fixture sent and what the gateway answered (from its decision headers)."""

    auto: list[dict[str, str]] = field(default_factory=list)  # request_id, model, tier, category
    explicit: list[str] = field(default_factory=list)  # request ids
    cached_request_id: str = ""
    failed_request_id: str = ""
    failed_model: str = ""
    # `auto` requests sent to the native API: request id -> its response (with the explanation).
    native: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Gateway:
    url: str
    app: FastAPI
    traffic: Traffic
    proxy: LoopbackProxy
    virtual_keys: dict[str, str] = field(default_factory=dict)  # name -> key id


def _chat(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/chat/completions", json=body, headers=AUTH)


def _send_traffic(client: httpx.Client, sandbox: RunningSandbox) -> Traffic:
    traffic = Traffic()
    for prompt in (CODE, ESSAY, MATH, CHAT, CODE + " (again)"):
        r = _chat(client, {"model": "auto", "messages": [{"role": "user", "content": prompt}]})
        assert r.status_code == 200, r.text
        traffic.auto.append(
            {
                "request_id": r.headers["x-annas-request-id"],
                "model": r.headers["x-annas-model"],
                "tier": r.headers["x-annas-tier"],
                "category": r.headers["x-annas-category"],
            }
        )
    for prompt in (MATH + " (native)", ESSAY + " (native)"):
        r = client.post(
            "/api/v1/chat", json={"messages": [{"role": "user", "content": prompt}]}, headers=AUTH
        )
        assert r.status_code == 200, r.text
        body = r.json()
        traffic.native[body["request_id"]] = body
        traffic.auto.append({k: body[k] for k in ("request_id", "model", "tier", "category")})
    deterministic = {
        "model": "sandbox/fast-small",
        "temperature": 0,
        "messages": [{"role": "user", "content": CHAT + " (cached)"}],
    }
    for _ in range(2):
        r = _chat(client, deterministic)
        assert r.status_code == 200, r.text
        traffic.explicit.append(r.headers["x-annas-request-id"])
    assert r.headers.get("x-annas-cache") == "hit"
    traffic.cached_request_id = r.headers["x-annas-request-id"]
    stream = {
        "model": "sandbox/fast-coder",
        "stream": True,
        "messages": [{"role": "user", "content": CODE}],
    }
    with client.stream("POST", "/v1/chat/completions", json=stream, headers=AUTH) as r:
        assert r.status_code == 200
        r.read()
        traffic.explicit.append(r.headers["x-annas-request-id"])
    sandbox.script("powerful-large", ["status=503"])
    failing = {"model": "sandbox/powerful-large", "messages": [{"role": "user", "content": ESSAY}]}
    r = _chat(client, failing)
    assert r.status_code == 502, r.text  # the upstream 503, as a gateway error
    traffic.failed_request_id = r.headers["x-request-id"]
    traffic.failed_model = "sandbox/powerful-large"
    return traffic


# Two virtual keys with budgets; each spends through the sandbox (sandbox/powerful-reasoner is
# priced, so the spend is well above zero). The lab team gets a budget of its own.
VIRTUAL_KEYS = {
    "lab-alice": {"team": "lab", "budget_daily_usd": 0.01, "budget_monthly_usd": 0.05, "rpm": 30},
    "lab-bob": {"team": "lab", "budget_total_usd": 0.02, "allowed_models": ["sandbox/*"]},
}
TEAM_MONTHLY_USD = 0.5


def _virtual_key_traffic(client: httpx.Client, database_url: str) -> dict[str, str]:
    ids = {}
    for calls, (name, fields) in enumerate(VIRTUAL_KEYS.items(), start=1):
        made = client.post("/api/v1/keys", json={"name": name, **fields}, headers=AUTH)
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
        bearer = {"Authorization": f"Bearer {made.json()['secret']}"}
        for i in range(calls):
            body = {
                "model": "sandbox/powerful-reasoner",
                "messages": [{"role": "user", "content": f"{ESSAY} ({name} {i})"}],
            }
            r = client.post("/v1/chat/completions", json=body, headers=bearer)
            assert r.status_code == 200, r.text
    # Its own thread: the test session may already run an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _team_budget(database_url)).result()
    return ids


async def _team_budget(database_url: str) -> None:
    # No API route sets team budgets (the CLI does, through the same KeyAdmin).
    engine = database.create_engine(database_url)
    try:
        admin = KeyAdmin(database.session_factory(engine))
        await admin.set_team_budget(TeamBudgets("lab", monthly_usd=TEAM_MONTHLY_USD))
    finally:
        await engine.dispose()


def wait_until_recorded(app: FastAPI, client: httpx.Client, timeout: float = 20) -> None:
    """Until the usage tracker has written everything and /api/v1/usage stops changing."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        totals = client.get("/api/v1/usage", headers=AUTH).json()["totals"]
        if app.state.gateway.tracker.pending == 0 and totals == last and totals["requests"]:
            return
        last = totals
        time.sleep(0.3)
    raise AssertionError("usage was not written in time")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The gateway with traffic already recorded; shared by a module's tests (read-only)."""
    tmp = tmp_path_factory.mktemp("dashboard")
    with start_in_thread() as sandbox:
        proxy = HTTPProxy().start()
        database_url = f"sqlite+aiosqlite:///{tmp / 'gateway.db'}"
        settings = load_settings(
            auth={"admin_keys": [f"admin:{KEY}"], "api_keys": [f"student:{OTHER}"]},
            storage={
                "database_url": database_url,
                "flush_interval_s": 0.05,
                "spool_path": str(tmp / "spool.jsonl"),
            },
            server={"access_log": False},
            litellm={"timeout_s": 5.0},
            vpn={
                "enabled": True,
                "probe_interval_s": 30,
                "probe_url": sandbox.url + "/health",
                "endpoints": [{"name": "loop-1", "url": proxy.url, "country": "NL"}],
            },
        )
        app = create_app(settings, catalog=make_catalog(sandbox.base_url))
        try:
            with LiveGateway(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
                traffic = _send_traffic(client, sandbox)
                keys = _virtual_key_traffic(client, database_url)
                wait_until_recorded(app, client)
                yield Gateway(live.url, app, traffic, proxy, keys)
        finally:
            proxy.close()


@pytest.fixture
def api(gateway: Gateway) -> Iterator[httpx.Client]:
    """A plain HTTP client of the gateway (no cookies kept between tests)."""
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


SCREENSHOTS_ENV = "ANNAS_GIFT_SCREENSHOTS"  # e.g. docs/screenshots to refresh the committed ones


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save pages: a temp dir, or $ANNAS_GIFT_SCREENSHOTS when set."""
    target = os.environ.get(SCREENSHOTS_ENV)
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
