"""The web dashboard: server-rendered pages behind an admin login (session cookie, no key in URLs).

Wire it with `install(app)` on an app built with `FastAPI(docs_url=None, redoc_url=None)`; that
also serves the static files and the offline `/docs` and `/redoc`. Who may log in is decided by
one dependency, `api.deps.dashboard_login`; sessions are signed tokens (`dashboard/sessions.py`)
that every worker and instance with the same keys accepts; failed logins are throttled per
client address.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from annas_gift.api.dashboard import STATIC_DIR, STATIC_URL, TEMPLATES_DIR
from annas_gift.api.dashboard.docs import install_docs
from annas_gift.api.dashboard.filters import FILTERS
from annas_gift.api.dashboard.sessions import COOKIE_NAME, DashboardSession
from annas_gift.api.deps import CatalogDep, DashboardLogin, DbSessions, GatewayDep, Ops, State
from annas_gift.services import dashboard_data as data
from annas_gift.services.budget_policy import GlobalCaps
from annas_gift.services.key_overview import keys_and_budgets

HOME = "/dashboard"
LOGIN = "/dashboard/login"
# The pages' own script and styles only; the chart data rides in a non-executable JSON block.
_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
NAV = [
    ("overview", HOME, "Overview"),
    ("models", "/dashboard/models", "Models & providers"),
    ("routing", "/dashboard/routing", "Routing"),
    ("keys", "/dashboard/keys", "Keys & budgets"),
    ("vpn", "/dashboard/vpn", "VPN"),
    ("alerts", "/dashboard/alerts", "Alerts"),
    ("requests", "/dashboard/requests", "Recent requests"),
]

routes = APIRouter(prefix=HOME, include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters.update(FILTERS)


class LoginRequired(Exception):
    """Raised by page dependencies without a valid session; answered with a redirect."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def install(app: FastAPI) -> None:
    """Add the dashboard, `/` -> `/dashboard`, the static files and the offline docs to app."""
    app.include_router(routes)
    app.add_api_route("/", _root, methods=["GET"], include_in_schema=False)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    install_docs(app)
    app.add_exception_handler(LoginRequired, _to_login)


async def _root() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


async def _to_login(_: Request, exc: Exception) -> Response:
    path = exc.path if isinstance(exc, LoginRequired) else HOME
    return RedirectResponse(f"{LOGIN}?next={path}", status_code=303)


async def _session(request: Request, ops: Ops) -> DashboardSession:
    """The logged-in session from the cookie, or a redirect to the login form."""
    session = ops.sessions.get(request.cookies.get(COOKIE_NAME))
    if session is None:
        raise LoginRequired(request.url.path)
    return session


Admin = Annotated[DashboardSession, Depends(_session)]


Sessions = DbSessions


def _safe_next(target: str | None) -> str:
    # Only a dashboard path: anything else would make the login form an open redirect.
    if target and target.startswith(HOME) and "//" not in target and "\\" not in target:
        return target
    return HOME


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, {"nav": NAV, **context}, status_code=status
    )
    response.headers.update(_SECURITY_HEADERS)
    return response


def _page(request: Request, session: DashboardSession, page: str, **context: Any) -> HTMLResponse:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return _render(
        request, f"{page}.html", page=page, who=session.key_id, now=now, windows=data.WINDOWS,
        **context,
    )  # fmt: skip


@routes.get("/login")
async def login_form(request: Request, ops: Ops, next: str | None = None) -> Response:
    """The login form (or the dashboard, for a browser already logged in)."""
    if ops.sessions.get(request.cookies.get(COOKIE_NAME)) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _render(request, "login.html", next=_safe_next(next), error=None)


@routes.post("/login")
async def login(
    request: Request,
    ops: Ops,
    key_id: DashboardLogin,
    key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
) -> Response:
    """Check the admin key once and set an HttpOnly, SameSite=Strict session cookie.

    After `dashboard.login_failures_per_minute` failures from one address, every attempt from
    it gets 429 with Retry-After until the minute has passed, a right key included (so that
    guessing cannot go on), and the form says so.
    """
    address = request.client.host if request.client else "unknown"
    wait = ops.login_throttle.retry_after(address)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        error = f"Too many failed logins from your address: try again in {seconds} s."
        refused = _render(request, "login.html", status=429, next=_safe_next(next), error=error)
        refused.headers["retry-after"] = str(seconds)
        return refused
    if key_id is None:
        if key:
            ops.login_throttle.failed(address)
        error = "That key is not an admin key of this gateway." if key else "Enter your key."
        return _render(request, "login.html", status=401, next=_safe_next(next), error=error)
    ops.login_throttle.succeeded(address)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        ops.sessions.create(key_id),
        max_age=int(ops.sessions.ttl_s),
        path=HOME,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@routes.post("/logout")
async def logout(request: Request, ops: Ops) -> Response:
    """End the session and clear the cookie."""
    ops.sessions.revoke(request.cookies.get(COOKIE_NAME))
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(COOKIE_NAME, path=HOME, httponly=True, samesite="strict")
    return response


@routes.get("")
async def overview(
    request: Request, session: Admin, sessions: Sessions, window: str | None = None
) -> HTMLResponse:
    """Requests, tokens, cost and errors over time; latency percentiles; cache savings."""
    view = await data.overview(sessions, window, datetime.now(UTC))
    return _page(request, session, "overview", view=view)


@routes.get("/models")
async def models(
    request: Request, session: Admin, sessions: Sessions, catalog: CatalogDep, state: State
) -> HTMLResponse:
    """Availability, breaker, cooldown and headroom per model; recent failed calls."""
    view = await data.models_overview(catalog.all(), state, sessions, datetime.now(UTC))
    return _page(request, session, "models", view=view)


@routes.get("/routing")
async def routing(
    request: Request, session: Admin, sessions: Sessions, window: str | None = None
) -> HTMLResponse:
    """How `auto` split traffic by tier and category, and its latest decisions."""
    view = await data.routing(sessions, window, datetime.now(UTC))
    return _page(request, session, "routing", view=view)


@routes.get("/requests")
async def recent(
    request: Request, session: Admin, sessions: Sessions, gateway: GatewayDep
) -> HTMLResponse:
    """The newest calls: metadata, and a prompt excerpt only under `logging.store_prompts`."""
    rows = await data.recent_requests(sessions)
    store_prompts = gateway.settings.logging.store_prompts
    return _page(request, session, "requests", rows=rows, store_prompts=store_prompts)


@routes.get("/requests/{request_id}")
async def request_detail(
    request_id: str, request: Request, session: Admin, sessions: Sessions
) -> HTMLResponse:
    """One request: its calls, and for `auto` the classification factors and the selection."""
    view = await data.request_detail(sessions, request_id)
    response = _page(request, session, "request", view=view, request_id=request_id)
    if view is None:
        response.status_code = 404
    return response


@routes.get("/keys")
async def keys(
    request: Request, session: Admin, gateway: GatewayDep, sessions: Sessions
) -> HTMLResponse:
    """Keys and budgets: every virtual key, team and the global cap against its budgets."""
    b = gateway.settings.budgets
    caps = GlobalCaps(b.global_daily_usd, b.global_monthly_usd, b.global_total_usd)
    views = partial(keys_and_budgets, sessions, caps, datetime.now(UTC))
    enabled = gateway.key_parts.cache is not None
    view = await data.keys_summary(len(gateway.keys), views if enabled else None)
    return _page(request, session, "keys", view=view)


@routes.get("/vpn")
async def vpn(request: Request, session: Admin, gateway: GatewayDep) -> HTMLResponse:
    """VPN endpoints: health, latency and traffic carried."""
    view = data.vpn_summary(gateway.vpn_admin.status().model_dump())
    return _page(request, session, "vpn", view=view)


@routes.get("/alerts")
async def alerts(request: Request, session: Admin, ops: Ops) -> HTMLResponse:
    """Active and recent alerts."""
    view = data.alerts(ops.alert_rows(), enabled=ops.alerts.settings.enabled)
    return _page(request, session, "alerts", view=view)
