"""Keys, roles and budgets through the whole gateway app, over the sandbox upstream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from annas_gift.api.app import create_app
from annas_gift.api.gateway import Gateway
from annas_gift.catalog.registry import Catalog
from annas_gift.sandbox import RunningSandbox, start_in_thread
from annas_gift.settings import load_settings
from tests.keys.gateway_fixtures import (
    ADMIN,
    BODY,
    CLIENT,
    COST,
    auth,
    create_key,
    gateway_settings,
    model_list,
    sandbox_defaults,
)

App = tuple[httpx.AsyncClient, Gateway]


@pytest.fixture(scope="module")
def priced_sandbox() -> Iterator[RunningSandbox]:
    with start_in_thread(defaults=sandbox_defaults()) as sb:
        yield sb


async def _open(app: FastAPI) -> AsyncIterator[App]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client, app.state.gateway


@pytest.fixture
async def gw(sqlite_url: str, tmp_path: Path, priced_sandbox: RunningSandbox) -> AsyncIterator[App]:
    settings = load_settings(**gateway_settings(sqlite_url, tmp_path))
    catalog = Catalog.from_model_list(model_list(priced_sandbox.base_url), price=False)
    async for pair in _open(create_app(settings, catalog=catalog)):
        yield pair


def _error(r: httpx.Response) -> tuple[int, str, str]:
    e = r.json()["error"]
    return r.status_code, e["type"], e["code"]


ENDPOINT = {"name": "nl-1", "url": "http://127.0.0.1:9", "country": "NL"}
ADMIN_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/vpn/status", None),
    ("GET", "/api/v1/vpn/endpoints", None),
    ("POST", "/api/v1/vpn/endpoints", {**ENDPOINT, "name": "nl-2"}),
    ("GET", "/api/v1/vpn/endpoints/nl-1", None),
    ("PATCH", "/api/v1/vpn/endpoints/nl-1", {"active": False}),
    ("POST", "/api/v1/vpn/endpoints/nl-1/test", None),
    ("POST", "/api/v1/vpn/rotate", None),
    ("DELETE", "/api/v1/vpn/endpoints/nl-1", None),
    ("POST", "/api/v1/keys", {"name": "sneaky"}),
    ("GET", "/api/v1/keys", None),
    ("GET", "/api/v1/keys/student", None),
    ("PATCH", "/api/v1/keys/student", {"rpm": 1}),
    ("POST", "/api/v1/keys/student/rotate", None),
    ("DELETE", "/api/v1/keys/student", None),
    ("GET", "/api/v1/usage?key=ops", None),
]


async def _snapshot(client: httpx.AsyncClient) -> tuple[Any, ...]:
    endpoints = await client.get("/api/v1/vpn/endpoints", headers=auth(ADMIN))
    keys = await client.get("/api/v1/keys?include_revoked=true", headers=auth(ADMIN))
    return endpoints.json(), keys.json()


async def test_client_keys_get_403_on_every_admin_route_and_nothing_changes(gw: App) -> None:
    client, _ = gw
    added = await client.post("/api/v1/vpn/endpoints", json=ENDPOINT, headers=auth(ADMIN))
    assert added.status_code == 201, added.text
    _, virtual = await create_key(client, name="student", team="cs101")
    before = await _snapshot(client)
    for token in (CLIENT, virtual):
        for method, path, body in ADMIN_CALLS:
            r = await client.request(method, path, json=body, headers=auth(token))
            assert _error(r) == (403, "permission_error", "insufficient_permissions"), (path, r)
            assert r.json()["error"]["message"]
    assert await _snapshot(client) == before
    for method, path, body in ADMIN_CALLS:  # the admin key may do all of it
        r = await client.request(method, path, json=body, headers=auth(ADMIN))
        assert r.status_code < 400, (method, path, r.text)


async def test_a_client_key_reads_only_its_own_usage(gw: App) -> None:
    client, _ = gw
    key_id, virtual = await create_key(client, name="student")
    for token in (CLIENT, CLIENT, virtual):
        r = await client.post("/v1/chat/completions", json=BODY, headers=auth(token))
        assert r.is_success
    mine = (await client.get("/api/v1/usage", headers=auth(virtual))).json()
    alice = (await client.get("/api/v1/usage?key=alice", headers=auth(CLIENT))).json()
    everyone = (await client.get("/api/v1/usage", headers=auth(ADMIN))).json()
    one = (await client.get(f"/api/v1/usage?key={key_id}", headers=auth(ADMIN))).json()
    assert mine["totals"]["requests"] == 1 == one["totals"]["requests"]
    assert alice["totals"]["requests"] == 2
    assert everyone["totals"]["requests"] == 3
    other = await client.get(f"/api/v1/usage?key={key_id}", headers=auth(CLIENT))
    assert _error(other) == (403, "permission_error", "insufficient_permissions")


async def test_allowed_models_and_per_key_rpm(gw: App) -> None:
    client, _ = gw
    _, virtual = await create_key(client, name="groq-only", allowed_models=["shared/b*"], rpm=2)
    ok = await client.post("/v1/chat/completions", json=BODY, headers=auth(virtual))
    assert ok.status_code == 200, ok.text
    other = {**BODY, "model": "shared/other"}
    denied = await client.post("/v1/chat/completions", json=other, headers=auth(virtual))
    assert _error(denied) == (403, "permission_error", "model_not_allowed")
    assert "shared/b*" in denied.json()["error"]["message"]
    fallback = {**BODY, "fallbacks": ["shared/other"]}
    denied = await client.post("/v1/chat/completions", json=fallback, headers=auth(virtual))
    assert _error(denied)[2] == "model_not_allowed"
    assert (await client.post("/v1/chat/completions", json=BODY, headers=auth(virtual))).is_success
    limited = await client.post("/v1/chat/completions", json=BODY, headers=auth(virtual))
    assert _error(limited) == (429, "rate_limit_error", "client_rate_limit_exceeded")


async def test_a_daily_budget_admits_exactly_what_it_pays_for(gw: App) -> None:
    client, _ = gw
    budget, sent = 0.03, 60
    _, virtual = await create_key(client, name="class-a", budget_daily_usd=budget)

    async def one() -> httpx.Response:
        return await client.post("/v1/chat/completions", json=BODY, headers=auth(virtual))

    responses = await asyncio.gather(*(one() for _ in range(sent)))
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(admitted) == round(budget / COST) == 30
    for r in refused:
        assert _error(r) == (429, "insufficient_quota", "budget_exceeded")
        assert "resets at" in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) >= 1
    # Reconciled at the real cost: exactly the budget, so the next request is refused too.
    assert (await one()).status_code == 429


async def test_a_total_budget_is_a_403_and_streams_pay_their_real_cost(gw: App) -> None:
    client, gateway = gw
    key_id, virtual = await create_key(client, name="once", budget_total_usd=0.004)
    stream = {**BODY, "model": "shared/overrun", "stream": True}
    async with client.stream(
        "POST", "/v1/chat/completions", json=stream, headers=auth(virtual)
    ) as r:
        assert r.status_code == 200
        body = "".join([chunk async for chunk in r.aiter_text()])
    assert "[DONE]" in body
    budgets = gateway.key_parts.budgets
    spent = await budgets.ledger.spent(budgets.lines(key_id))
    assert spent[:3] == pytest.approx([0.0025, 0.0025, 0.0025])  # 25 tokens, not the 10 reserved
    assert (await client.post("/v1/chat/completions", json=BODY, headers=auth(virtual))).is_success
    over = await client.post("/v1/chat/completions", json=BODY, headers=auth(virtual))
    assert _error(over) == (403, "insufficient_quota", "budget_exceeded")
    assert "does not reset" in over.json()["error"]["message"]
    assert "retry-after" not in over.headers


async def test_spend_before_a_budget_was_set_counts_against_it(gw: App) -> None:
    # A key without a budget is not reserved against per attempt (its cost is batched):
    # a budget set later still starts from everything the key spent.
    client, _ = gw
    _, virtual = await create_key(client, name="late-budget")
    chat = auth(virtual)
    for _ in range(2):
        assert (await client.post("/v1/chat/completions", json=BODY, headers=chat)).is_success
    patched = await client.patch(
        "/api/v1/keys/late-budget", json={"budget_daily_usd": 3 * COST}, headers=auth(ADMIN)
    )
    assert patched.status_code == 200
    codes = [
        (await client.post("/v1/chat/completions", json=BODY, headers=chat)).status_code
        for _ in range(3)
    ]
    assert codes == [200, 429, 429]


async def test_spend_of_a_key_without_budget_reaches_the_counters_within_a_second(
    gw: App,
) -> None:
    # Other instances sharing the counters see it then, without waiting for this instance's
    # next limited reservation.
    client, gateway = gw
    key_id, virtual = await create_key(client, name="unlimited")
    chat = auth(virtual)
    for _ in range(3):
        assert (await client.post("/v1/chat/completions", json=BODY, headers=chat)).is_success
    budgets = gateway.key_parts.budgets
    await asyncio.sleep(1.3)
    spent = await budgets.ledger.spent(budgets.lines(key_id))
    assert spent[:3] == pytest.approx([3 * COST] * 3)  # the key's day, month and total


async def test_a_budget_is_seeded_from_the_usage_records_after_a_restart(
    sqlite_url: str, tmp_path: Path, priced_sandbox: RunningSandbox
) -> None:
    settings = load_settings(**gateway_settings(sqlite_url, tmp_path))
    catalog = Catalog.from_model_list(model_list(priced_sandbox.base_url), price=False)
    async for client, _ in _open(create_app(settings, catalog=catalog)):
        _, virtual = await create_key(client, name="seeded", budget_daily_usd=0.003)
        for _ in range(2):
            ok = await client.post("/v1/chat/completions", json=BODY, headers=auth(virtual))
            assert ok.is_success
    # A new process: counters start from the two recorded calls, so one more fits, not three.
    async for client, _ in _open(create_app(settings, catalog=catalog)):
        chat = auth(virtual)
        codes = [
            (await client.post("/v1/chat/completions", json=BODY, headers=chat)).status_code
            for _ in range(3)
        ]
        assert codes == [200, 429, 429]


async def test_secrets_stay_out_of_logs_responses_and_the_database(
    gw: App, caplog: pytest.LogCaptureFixture
) -> None:
    client, gateway = gw
    caplog.set_level(logging.DEBUG)
    key_id, secret = await create_key(client, name="secretive", budget_daily_usd=1)
    chat = await client.post("/v1/chat/completions", json=BODY, headers=auth(secret))
    assert chat.is_success
    rotated = await client.post(f"/api/v1/keys/{key_id}/rotate", headers=auth(ADMIN))
    new_secret = rotated.json()["secret"]
    stale = await client.post("/v1/chat/completions", json=BODY, headers=auth(secret))
    assert _error(stale) == (401, "authentication_error", "invalid_api_key")
    seen = [
        await client.get("/api/v1/keys", headers=auth(ADMIN)),
        await client.get(f"/api/v1/keys/{key_id}", headers=auth(ADMIN)),
        await client.get("/api/v1/usage?group_by=model", headers=auth(ADMIN)),
        chat,
        stale,
    ]
    await gateway.tracker.flush()
    async with gateway.engine.connect() as conn:
        dump = repr((await conn.execute(text("SELECT * FROM virtual_keys"))).all())
        dump += repr((await conn.execute(text("SELECT * FROM usage_records"))).all())
    for s in (secret, new_secret):
        assert s not in dump and s not in caplog.text
        assert all(s not in r.text for r in seen)


def test_admin_keys_come_from_the_environment_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANNAS_GIFT_ADMIN_KEY", "ops:sk-one, sk-two,")
    keys = load_settings().auth.admin_keys
    assert [k.get_secret_value() for k in keys] == ["ops:sk-one", "sk-two"]


async def test_auto_prefers_the_cheapest_model_near_a_budget_and_says_so(gw: App) -> None:
    client, _ = gw
    _, secret = await create_key(client, name="frugal", budget_daily_usd=0.01)
    ask = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    fresh = await client.post("/api/v1/chat", json=ask, headers=auth(secret))
    assert fresh.status_code == 200, fresh.text
    assert "cheapest first" not in fresh.text
    assert fresh.json()["model"] != "shared/cheap"  # the selector's own pick is another model
    for _ in range(8):  # 0.008 of 0.01 spent: at the 80% of budgets.prefer_cheaper_at
        r = await client.post("/v1/chat/completions", json=BODY, headers=auth(secret))
        assert r.is_success
    near = await client.post("/api/v1/chat", json=ask, headers=auth(secret))
    assert near.status_code == 200, near.text
    assert near.json()["model"] == "shared/cheap"
    assert "cheapest first" in near.text
