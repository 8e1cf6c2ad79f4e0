"""The dashboard in headless Chromium (Debian's package, driven by Playwright; nothing downloaded).

Every page is loaded after a real login, its charts must have drawn, its numbers must match the
gateway's own API, and the browser may not reach anything but the gateway. Screenshots of each
page go to a temp dir, or to $ANNAS_GIFT_SCREENSHOTS (docs/screenshots: the committed ones).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from annas_gift.api.dashboard.sessions import COOKIE_NAME
from tests.dashboard.conftest import AUTH, KEY, MARKER, TEAM_MONTHLY_USD, VIRTUAL_KEYS, Gateway

CHROMIUM = Path("/usr/bin/chromium")
SECRET_SHAPE = re.compile(r"ag-[A-Za-z0-9_-]{20,}")
_WORD = {"day": "daily", "month": "monthly", "total": "total"}
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Debian's chromium at {CHROMIUM}: apt-get install -y chromium",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Offline:
    """Aborts and remembers every request that is not to the gateway on loopback."""

    def __init__(self, gateway_url: str) -> None:
        self.netloc = urlsplit(gateway_url).netloc
        self.blocked: list[str] = []

    def __call__(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == self.netloc or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@pytest.fixture
def context(browser: Browser, gateway: Gateway) -> Iterator[tuple[BrowserContext, Offline]]:
    ctx = browser.new_context(base_url=gateway.url, viewport={"width": 1400, "height": 900})
    offline = Offline(gateway.url)
    ctx.route("**/*", offline)
    try:
        yield ctx, offline
    finally:
        ctx.close()
    assert offline.blocked == [], f"the page tried to reach the internet: {offline.blocked}"


@pytest.fixture
def page(context: tuple[BrowserContext, Offline]) -> Page:
    """A page already logged in through the form."""
    ctx, _ = context
    p = ctx.new_page()
    p.goto("/dashboard")
    assert "/dashboard/login" in p.url
    p.fill("#key", KEY)
    p.click("button[type=submit]")
    p.wait_for_url("**/dashboard")
    return p


def usage(gateway: Gateway, **params: str) -> dict[str, Any]:
    r = httpx.get(f"{gateway.url}/api/v1/usage", params=params, headers=AUTH)
    assert r.status_code == 200
    return r.json()


def charts(page: Page) -> dict[str, Any]:
    """Every drawn chart on the page: its labels and datasets as Chart.js holds them."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('canvas[data-chart]')].map(c => {
              const chart = Chart.getChart(c);
              return [c.dataset.chart, chart && c.dataset.drawn === 'true' && c.width > 0 ? {
                labels: chart.data.labels, data: chart.data.datasets.map(d => d.data)} : null];
           }))"""
    )


_shots: list[Path] = []  # the session's screenshot directory, set by the fixture below


@pytest.fixture(autouse=True)
def _screenshot_dir(screenshots: Path) -> None:
    _shots[:] = [screenshots]


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(_shots[0] / f"{name}.png"), full_page=True)


def metric(page: Page, name: str) -> str:
    return page.locator(f'[data-metric="{name}"]').inner_text().strip()


def test_login_cookie_is_invisible_to_scripts_and_no_key_is_kept(
    context: tuple[BrowserContext, Offline], page: Page
) -> None:
    ctx, _ = context
    (cookie,) = [c for c in ctx.cookies() if c["name"] == COOKIE_NAME]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)") == "{}{}"
    assert KEY not in page.url and KEY not in page.content()


def test_a_browser_without_the_cookie_lands_on_the_login_form(
    context: tuple[BrowserContext, Offline],
) -> None:
    ctx, _ = context
    p = ctx.new_page()
    p.goto("/dashboard/routing")
    assert p.url.endswith("/dashboard/login?next=/dashboard/routing")
    assert p.locator("#key").get_attribute("type") == "password"
    p.fill("#key", "sk-wrong")
    p.click("button[type=submit]")
    assert "not an admin key" in p.locator(".error").inner_text()
    shot(p, "login")
    p.fill("#key", KEY)
    p.click("button[type=submit]")
    p.wait_for_url("**/dashboard/routing")  # back where the visitor wanted to go


def test_overview_numbers_and_charts_match_the_usage_api(page: Page, gateway: Gateway) -> None:
    page.goto("/dashboard?window=24h")
    totals = usage(gateway)["totals"]
    assert totals["requests"] >= 9
    assert metric(page, "requests") == f"{totals['requests']:,}"
    tokens = totals["prompt_tokens"] + totals["completion_tokens"]
    assert metric(page, "total_tokens") == f"{tokens:,}"
    assert metric(page, "errors") == f"{totals['errors']:,}" and totals["errors"] >= 1
    assert metric(page, "cost_usd") == f"${totals['cost_usd']:.6f}"
    assert totals["saved_cost_usd"] > 0  # the repeated deterministic request was a cache hit
    assert metric(page, "saved_cost_usd") == f"${totals['saved_cost_usd']:.6f}"
    assert metric(page, "p50_ms").endswith(" ms")
    drawn = charts(page)
    assert set(drawn) == {"requests", "tokens", "cost", "latency"}
    assert all(drawn.values()), drawn
    requests, errors = drawn["requests"]["data"]
    assert len(drawn["requests"]["labels"]) == 25  # every hour of the window, zero-filled
    # All traffic is minutes old, so the hourly buckets add up to the window's totals.
    assert sum(requests) == totals["requests"] and sum(errors) == totals["errors"]
    assert sum(drawn["tokens"]["data"][0]) == tokens
    assert sum(drawn["cost"]["data"][0]) == pytest.approx(totals["cost_usd"])
    rows = page.locator("#by-model tbody tr")
    by_model = usage(gateway, group_by="model")["groups"]
    assert rows.count() == len(by_model)
    shot(page, "overview")


def test_models_page_shows_live_state_and_the_failed_call(page: Page, gateway: Gateway) -> None:
    page.goto("/dashboard/models")
    failed = gateway.traffic.failed_model
    row = page.locator(f'tr[data-model="{failed}"]')
    assert row.count() == 1
    assert "upstream_server_error" in row.inner_text()  # its last error, from live state
    assert "no key" in page.locator('tr[data-model="needs-key/model"]').inner_text()
    errors = page.locator("#recent-errors tbody tr")
    assert errors.count() == usage(gateway)["totals"]["errors"]
    assert failed in errors.first.inner_text()
    drawn = charts(page)
    assert drawn["headroom"] and drawn["error_rate"]
    assert failed in drawn["error_rate"]["labels"]
    failed_rate = drawn["error_rate"]["data"][0][drawn["error_rate"]["labels"].index(failed)]
    assert failed_rate > 0
    shot(page, "models")


def test_routing_page_shows_how_auto_split_and_why(page: Page, gateway: Gateway) -> None:
    auto = gateway.traffic.auto
    page.goto("/dashboard/routing")
    assert metric(page, "auto_requests") == str(len(auto))
    drawn = charts(page)
    tiers = dict(zip(drawn["tiers"]["labels"], drawn["tiers"]["data"][0], strict=True))
    expected: dict[str, int] = {}
    for a in auto:
        expected[a["tier"]] = expected.get(a["tier"], 0) + 1
    assert tiers == expected
    categories = dict(
        zip(drawn["categories"]["labels"], drawn["categories"]["data"][0], strict=True)
    )
    assert sum(categories.values()) == len(auto)
    assert {a["category"] for a in auto} == set(categories)
    chosen = page.locator("#models-chosen tbody").inner_text()
    assert all(a["model"] in chosen for a in auto)
    shot(page, "routing")

    # The newest decision, opened from the list: its factors and the model that was chosen.
    page.locator("#decisions tbody tr a").first.click()
    newest = auto[-1]
    page.wait_for_url(f"**/dashboard/requests/{newest['request_id']}")
    assert page.locator('#classification [data-field="tier"]').inner_text() == newest["tier"]
    assert (
        page.locator('#classification [data-field="category"]').inner_text() == newest["category"]
    )
    shown = page.locator("#factors tbody tr").all_inner_texts()
    assert 1 <= len(shown) <= 6  # the classifier's top contributions, as stored
    assert all(row.split()[0] for row in shown)
    assert page.locator('#selection [data-field="model"]').inner_text() == newest["model"]
    assert newest["model"] in page.locator("#attempts tbody tr").first.inner_text()
    assert charts(page)["breakdown"]
    assert MARKER not in page.content()
    shot(page, "request")


def _deciding_value(entry: dict[str, Any], benchmark: str | None) -> float | None:
    part = next((p for p in entry["benchmark_parts"] if p["benchmark"] == benchmark), None)
    return None if part is None else part["value"]


def test_routing_page_shows_the_ranking_each_native_answer_explained(
    page: Page, gateway: Gateway
) -> None:
    """The stored ranking of a past request is the one its own response explained."""
    page.goto("/dashboard/routing")
    assert gateway.traffic.native
    for request_id, answer in gateway.traffic.native.items():
        ranking = answer["selection"]["ranking"]
        why = answer["explanation"]
        assert len(ranking) >= 2  # a real choice between models
        box = page.locator(f'details.decision[data-request="{request_id}"]')
        if box.get_attribute("open") is None:  # only the newest is open at first
            box.locator("summary").click()
        rows = box.locator("table.ranking tbody tr")
        shown = rows.count()
        assert shown == min(len(ranking), 10)
        for i in range(shown):
            row, expected = rows.nth(i), ranking[i]
            cells = row.locator("td").all_inner_texts()
            assert cells[0] == str(i + 1)
            assert cells[1].split()[0] == expected["name"]
            assert cells[2:4] == [expected["provider"], expected["tier"]]
            assert cells[4] == f"{expected['score']:.3f}"  # as the native ranking shows it
            assert float(row.get_attribute("data-score")) == pytest.approx(
                expected["score"], abs=1e-12
            )
            value = _deciding_value(expected, why["benchmark"])
            if value is None:
                assert row.get_attribute("data-benchmark-value") == ""
            else:
                assert float(row.get_attribute("data-benchmark-value")) == pytest.approx(
                    value, abs=5e-3
                )
            mark = row.get_attribute("data-mark")
            if expected["name"] == answer["model"]:
                assert mark == "chosen"
            elif expected["name"] == why["runner_up"]:
                assert mark == "runner-up"
            else:
                assert mark == ""
            assert cells[1].split()[1:] == ([mark] if mark else [])  # shown beside the name
        marked = box.locator('tr[data-mark="runner-up"]')
        assert marked.count() == (1 if why["runner_up"] else 0)
        if why["benchmark_label"]:
            assert box.locator('[data-field="benchmark"]').inner_text() == why["benchmark_label"]
        # The same ranking, as the decisions API (documented in OpenAPI) gives it.
        api = httpx.get(f"{gateway.url}/api/v1/decisions/{request_id}", headers=AUTH).json()
        stored = api["ranking"]["candidates"]
        assert [c["name"] for c in stored] == [r["name"] for r in ranking[:10]]
        assert api["ranking"]["runner_up"] == why["runner_up"]
    page.locator("#rankings").screenshot(path=str(_shots[0] / "routing-ranking.png"))


def test_recent_requests_are_metadata_only(page: Page, gateway: Gateway) -> None:
    page.goto("/dashboard/requests")
    text = page.locator("#recent").inner_text()
    for a in gateway.traffic.auto:
        assert page.locator(f'tr[data-request="{a["request_id"]}"]').count() == 1
    assert (
        "hit"
        in page.locator(f'tr[data-request="{gateway.traffic.cached_request_id}"]').inner_text()
    )
    assert page.locator("#recent tbody tr").count() == usage(gateway)["totals"]["requests"]
    assert "prompts and answers are not shown" in page.content()
    assert MARKER not in page.content() and MARKER not in text
    shot(page, "requests")


def test_vpn_page_shows_the_endpoint_and_the_traffic_it_carried(
    page: Page, gateway: Gateway
) -> None:
    status = httpx.get(f"{gateway.url}/api/v1/vpn/status", headers=AUTH).json()
    (endpoint,) = status["endpoints"]
    assert endpoint["requests_carried"] > 0  # the sandbox traffic went through the proxy
    page.goto("/dashboard/vpn")
    assert metric(page, "vpn_endpoints") == "1"
    row = page.locator("#endpoints tbody tr").inner_text()
    assert "loop-1" in row and endpoint["state"] in row
    drawn = charts(page)
    assert drawn["carried"]["data"][0] == [endpoint["requests_carried"]]
    shot(page, "vpn")


def _spent(cell: Any) -> float:
    return float(cell.get_attribute("data-spent"))


def test_keys_page_shows_every_virtual_key_with_the_spend_the_api_reports(
    page: Page, gateway: Gateway
) -> None:
    page.goto("/dashboard/keys")
    assert metric(page, "settings_keys") == "1"  # the student; the admin key is not a client key
    assert metric(page, "virtual_keys") == str(len(VIRTUAL_KEYS))
    team_spend = [0.0, 0.0, 0.0]
    for name, key_id in gateway.virtual_keys.items():
        shown = httpx.get(f"{gateway.url}/api/v1/keys/{key_id}", headers=AUTH).json()
        spend = shown["spend"]
        assert spend["total_usd"] > 0  # the fixture spent through the sandbox with this key
        row = page.locator(f'#virtual-keys tr[data-key="{key_id}"]')
        text = row.inner_text()
        assert name in text and "lab" in text and shown["prefix"] in text and "active" in text
        cells = row.locator("td.budget")
        periods = [cells.nth(i).get_attribute("data-period") for i in range(3)]
        assert periods == ["day", "month", "total"]
        for i, period in enumerate(("day", "month", "total")):
            assert _spent(cells.nth(i)) == pytest.approx(spend[f"{period}_usd"], abs=1e-12)
            team_spend[i] += spend[f"{period}_usd"]
            limit = VIRTUAL_KEYS[name].get(f"budget_{_WORD[period]}_usd")
            cell_text = cells.nth(i).inner_text()
            if limit is None:
                assert "no limit" in cell_text
                continue
            assert cells.nth(i).locator("meter").count() == 1
            assert f"{spend[f'{period}_usd'] / limit * 100:.1f}%" in cell_text
    alice = page.locator('#virtual-keys tr[data-name="lab-alice"]').inner_text()
    assert "30 /" in alice  # its rpm
    bob = page.locator('#virtual-keys tr[data-name="lab-bob"]').inner_text()
    assert "sandbox/*" in bob
    team = page.locator('#teams tr[data-team="lab"]')
    assert team.locator("td").nth(1).inner_text() == "2"
    cells = team.locator("td.budget")
    for i in range(3):
        assert _spent(cells.nth(i)) == pytest.approx(team_spend[i], abs=1e-12)
    assert cells.nth(1).get_attribute("data-limit") == str(TEAM_MONTHLY_USD)
    total = page.locator("#global-cap td.budget").nth(2)
    assert _spent(total) == pytest.approx(usage(gateway)["totals"]["cost_usd"], abs=1e-9)
    assert "no limit" in total.inner_text()  # no global cap configured
    assert SECRET_SHAPE.search(page.content()) is None  # prefixes only, never a secret
    shot(page, "keys")


def test_alerts_page_says_alerting_is_not_configured(page: Page) -> None:
    page.goto("/dashboard/alerts")
    assert "not configured" in page.locator("#no-alerts").inner_text()
    shot(page, "alerts")


def test_swagger_and_redoc_render_offline(context: tuple[BrowserContext, Offline]) -> None:
    ctx, offline = context
    p = ctx.new_page()
    p.goto("/docs")
    p.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert p.locator(".swagger-ui .opblock").count() >= 10
    assert "/v1/chat/completions" in p.locator(".swagger-ui").inner_text()
    shot(p, "docs")
    p.goto("/redoc")
    p.wait_for_selector("redoc .menu-content, .redoc-wrap", timeout=20_000)
    assert "chat" in p.locator(".redoc-wrap").inner_text().lower()
    assert offline.blocked == []
