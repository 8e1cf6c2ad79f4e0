"""The dashboard over plain HTTP against a real gateway: login, cookie, redirects, logout, docs."""

from __future__ import annotations

import re

import httpx
import pytest

from annas_gift.api.dashboard.sessions import COOKIE_NAME
from tests.dashboard.conftest import AUTH, KEY, MARKER, OTHER, Gateway

PAGES = ["", "/models", "/routing", "/keys", "/vpn", "/alerts", "/requests"]


def login(api: httpx.Client, key: str = KEY, next: str = "/dashboard") -> httpx.Response:
    return api.post("/dashboard/login", data={"key": key, "next": next}, follow_redirects=False)


def test_root_redirects_to_the_dashboard(api: httpx.Client) -> None:
    r = api.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/dashboard")


@pytest.mark.parametrize("page", [*PAGES, "/requests/anything"])
def test_every_page_without_a_session_redirects_to_login(api: httpx.Client, page: str) -> None:
    r = api.get(f"/dashboard{page}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/dashboard/login?next=/dashboard{page}"


def test_a_bearer_key_is_not_a_dashboard_session(api: httpx.Client) -> None:
    r = api.get("/dashboard", headers=AUTH, follow_redirects=False)
    assert r.status_code == 303


def test_wrong_or_empty_key_is_refused_without_a_cookie(api: httpx.Client) -> None:
    for key, message in (("sk-nope", "not an admin key"), ("", "Enter your key")):
        r = login(api, key)
        assert r.status_code == 401
        assert message in r.text
        assert COOKIE_NAME not in r.headers.get("set-cookie", "")


def test_login_sets_an_httponly_samesite_strict_cookie_and_no_key_anywhere(
    api: httpx.Client,
) -> None:
    r = login(api)
    assert (r.status_code, r.headers["location"]) == (303, "/dashboard")
    cookie = r.headers["set-cookie"]
    attrs = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attrs
    assert "samesite=strict" in attrs
    assert "path=/dashboard" in attrs
    token = cookie.split(";")[0].split("=", 1)[1]
    assert KEY not in cookie and len(token) >= 40
    page = api.get("/dashboard")
    assert page.status_code == 200
    assert KEY not in page.text and KEY not in str(page.url)
    assert "content-security-policy" in page.headers
    assert page.headers["cache-control"] == "no-store"


def test_a_client_key_may_not_log_in(api: httpx.Client) -> None:
    response = login(api, OTHER)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_login_next_goes_back_to_the_page_but_never_off_the_dashboard(api: httpx.Client) -> None:
    assert login(api, next="/dashboard/vpn").headers["location"] == "/dashboard/vpn"
    for evil in ("https://evil.example/", "//evil.example", "/dashboard//evil.example", "/v1"):
        assert login(api, next=evil).headers["location"] == "/dashboard"


def test_logout_revokes_the_session_server_side(api: httpx.Client, gateway: Gateway) -> None:
    r = login(api)
    token = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert api.get("/dashboard", follow_redirects=False).status_code == 200
    out = api.post("/dashboard/logout", follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/dashboard/login")
    assert (
        'annas_dashboard=""' in out.headers["set-cookie"]
        or "Max-Age=0" in out.headers["set-cookie"]
    )
    # The old token, replayed by hand, is dead: logout is not just a deleted cookie.
    with httpx.Client(base_url=gateway.url, cookies={COOKIE_NAME: token}) as replay:
        assert replay.get("/dashboard", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_and_never_show_a_prompt(api: httpx.Client, page: str) -> None:
    login(api)
    r = api.get(f"/dashboard{page}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert MARKER not in r.text
    assert "<h1>" in r.text


def test_request_detail_of_an_unknown_id_is_a_404_page(api: httpx.Client) -> None:
    login(api)
    r = api.get("/dashboard/requests/req_does_not_exist")
    assert r.status_code == 404
    assert "No calls or routing decision recorded" in r.text


def test_docs_and_redoc_load_their_assets_from_the_gateway(api: httpx.Client) -> None:
    for path in ("/docs", "/redoc"):
        html = api.get(path).text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
        assert urls, html
        assert all(u.startswith("/") for u in urls), urls
        for url in urls:
            assert api.get(url).status_code == 200, url
    assert "swagger-ui-bundle.js" in api.get("/docs").text
    assert api.get("/docs/oauth2-redirect").status_code == 200


def test_static_files_are_served_but_nothing_outside_them(api: httpx.Client) -> None:
    js = api.get("/static/vendor/chartjs/chart.umd.min.js")
    assert js.status_code == 200 and "Chart.js v4.5.0" in js.text[:200]
    assert api.get("/static/../settings.py").status_code == 404
    assert api.get("/static/vendor/../../routes/dashboard.py").status_code == 404


def test_decisions_api_gives_each_auto_request_its_ranking(
    api: httpx.Client, gateway: Gateway
) -> None:
    listed = api.get("/api/v1/decisions", params={"limit": 50}, headers=AUTH)
    assert listed.status_code == 200, listed.text
    by_id = {d["request_id"]: d for d in listed.json()["decisions"]}
    assert {a["request_id"] for a in gateway.traffic.auto} == set(by_id)  # explicit: no decision
    for a in gateway.traffic.auto:
        ranking = by_id[a["request_id"]]["ranking"]
        chosen = [c for c in ranking["candidates"] if c["chosen"]]
        assert [c["name"] for c in chosen] == [a["model"]]
        assert [c["rank"] for c in ranking["candidates"]] == list(
            range(1, len(ranking["candidates"]) + 1)
        )
        assert set(ranking["candidates"][0]["components"]) >= {"benchmark_rank", "cost"}
    one = api.get(f"/api/v1/decisions/{gateway.traffic.auto[0]['request_id']}", headers=AUTH)
    assert one.json() == by_id[gateway.traffic.auto[0]["request_id"]]


def test_decisions_api_refuses_client_keys_and_says_when_nothing_is_stored(
    api: httpx.Client, gateway: Gateway
) -> None:
    student = {"Authorization": f"Bearer {OTHER}"}
    refused = api.get("/api/v1/decisions", headers=student)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_permissions"
    assert api.get("/api/v1/decisions").status_code == 401
    missing = api.get(f"/api/v1/decisions/{gateway.traffic.explicit[0]}", headers=AUTH)
    assert missing.status_code == 404 and "explicit models have none" in missing.text
    assert api.get("/api/v1/decisions", params={"limit": 0}, headers=AUTH).status_code == 400
    spec = api.get("/openapi.json").json()
    assert "/api/v1/decisions/{request_id}" in spec["paths"]
    assert "RankingOut" in spec["components"]["schemas"]
