"""Dashboard sessions across processes (signed tokens, no shared state) and the login throttle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI

from annas_gift.api.app import create_app
from annas_gift.api.dashboard.sessions import (
    COOKIE_NAME,
    LoginThrottle,
    SessionStore,
    signing_keys,
)
from annas_gift.catalog.demo import demo_model_list
from annas_gift.sandbox import RunningSandbox, start_in_thread
from annas_gift.settings import load_settings
from tests.api.conftest import make_catalog
from tests.integration.gateways import GatewayProcess

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "sk-session-admin"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with start_in_thread() as sb:
        yield sb


def _app(
    tmp_path: Path, sandbox: RunningSandbox, admin: str = ADMIN, **dashboard: object
) -> FastAPI:
    settings = load_settings(
        auth={"admin_keys": [f"ops:{admin}"], "api_keys": ["sk-session-student"]},
        storage={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"},
        server={"access_log": False},
        dashboard=dashboard,
    )
    return create_app(settings, catalog=make_catalog(sandbox.base_url))


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


async def _login(client: httpx.AsyncClient, key: str = ADMIN) -> httpx.Response:
    return await client.post("/dashboard/login", data={"key": key}, follow_redirects=False)


def _serve(tmp_path: Path, sandbox: RunningSandbox, admin: str) -> GatewayProcess:
    """A second gateway process (`annas-gift serve`) with the same admin key."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"model_list": demo_model_list(sandbox.base_url)}))
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ANNAS_GIFT_ADMIN_KEY": f"ops:{admin}",
        "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(catalog),
    }
    return GatewayProcess(tmp_path, env).start()


async def _logged_in_token(app: FastAPI) -> str:
    async with _client(app) as first:
        login = await _login(first)
        assert login.status_code == 303
        return login.cookies[COOKIE_NAME]


@pytest.mark.slow
def test_a_session_from_one_process_is_accepted_by_another(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    token = asyncio.run(_logged_in_token(_app(tmp_path / "a", sandbox)))
    assert ADMIN not in token
    other_process = _serve(tmp_path / "b", sandbox, ADMIN)
    url = other_process.url
    try:
        with httpx.Client(base_url=url, cookies={COOKIE_NAME: token}) as other:
            page = other.get("/dashboard/routing", follow_redirects=False)
            assert page.status_code == 200, page.text
            assert "How <code>auto</code> routed" in page.text and ">ops<" in page.text
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        with httpx.Client(base_url=url, cookies={COOKIE_NAME: forged}) as other:
            assert other.get("/dashboard", follow_redirects=False).status_code == 303
    finally:
        other_process.stop()


async def test_changing_the_admin_key_or_the_session_secret_revokes_sessions(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    async with _client(_app(tmp_path, sandbox)) as first:
        token = (await _login(first)).cookies[COOKIE_NAME]
    cookie = {COOKIE_NAME: token}
    cases = [
        (_app(tmp_path, sandbox), 200),  # the same keys: accepted (a restart keeps the login)
        (_app(tmp_path, sandbox, admin="sk-session-admin-rotated"), 303),
        (_app(tmp_path, sandbox, session_secret="rotate-all-sessions"), 303),
    ]
    for app, status in cases:
        async with _client(app) as client:
            client.cookies.update(cookie)
            assert (await client.get("/dashboard", follow_redirects=False)).status_code == status


async def test_failed_logins_are_throttled_per_address_with_retry_after(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    app = _app(tmp_path, sandbox, login_failures_per_minute=3)
    async with _client(app) as client:
        for _ in range(3):
            assert (await _login(client, "sk-guess")).status_code == 401
        refused = await _login(client, "sk-guess")
        assert refused.status_code == 429
        assert 55 <= int(refused.headers["retry-after"]) <= 60
        assert "Too many failed logins from your address" in refused.text
        assert "try again in" in refused.text
        # The right key is refused too while the address is blocked: guessing cannot go on.
        right = await _login(client)
        assert right.status_code == 429 and COOKIE_NAME not in right.cookies
        # Another address is not affected.
        transport = httpx.ASGITransport(app=app, client=("10.0.0.8", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as other:
            assert (await _login(other)).status_code == 303


def test_throttle_window_slides_and_a_good_login_clears_it() -> None:
    now = [1000.0]
    throttle = LoginThrottle(2, window_s=60, clock=lambda: now[0])
    throttle.failed("a")
    now[0] += 30
    throttle.failed("a")
    assert throttle.retry_after("a") == pytest.approx(30)
    now[0] += 31  # the first failure left the window
    assert throttle.retry_after("a") is None
    throttle.failed("a")
    assert throttle.retry_after("a") is not None
    throttle.succeeded("a")
    assert throttle.retry_after("a") is None


def test_tokens_expire_and_logout_refuses_them_in_this_process() -> None:
    now = [1_000_000.0]
    keys = signing_keys({"ops": ADMIN})
    store = SessionStore(keys, ttl_s=60, clock=lambda: now[0])
    token = store.create("ops")
    other = SessionStore(keys, ttl_s=60, clock=lambda: now[0])
    session = other.get(token)
    assert session is not None and session.key_id == "ops"
    store.revoke(token)
    assert store.get(token) is None
    now[0] += 61
    assert other.get(token) is None  # expired everywhere
    for bad in ("", "x", "x.y", token.replace(".", ""), "e30.AAAA"):
        assert other.get(bad) is None
