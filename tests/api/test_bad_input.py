"""Bad input: each gets its stated OpenAI-shaped error and changes nothing; none gives a 500."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annas_gift.sandbox import RunningSandbox
from tests.api.conftest import AUTH, MISSING_ENV

GOOD = {"model": "sandbox/fast-small", "messages": [{"role": "user", "content": "hi"}]}


async def _nothing_recorded(client: AsyncClient, upstream: RunningSandbox) -> None:
    assert upstream.requests() == []
    totals = (await client.get("/api/v1/usage", headers=AUTH)).json()["totals"]
    assert totals["requests"] == 0


def _assert_error(r, status: int, code: str | None = None, param: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
        if param != "model":
            assert param in error["message"]


async def test_malformed_json(client: AsyncClient, upstream: RunningSandbox) -> None:
    r = await client.post(
        "/v1/chat/completions",
        content=b'{"model": "x", "messages": [',
        headers={**AUTH, "content-type": "application/json"},
    )
    _assert_error(r, 400, "invalid_json")
    assert r.json()["error"]["type"] == "invalid_request_error"
    await _nothing_recorded(client, upstream)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"messages": None}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"temperature": 3.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 2}, "top_p"),
        ({"stream": "yes"}, "stream"),
        ({"model": ""}, "model"),
        ({"model": 42}, "model"),
    ],
)
async def test_invalid_fields_name_the_field(
    client: AsyncClient, upstream: RunningSandbox, patch: dict[str, object], param: str
) -> None:
    body = {**GOOD, **patch}
    body = {k: v for k, v in body.items() if v is not None}
    r = await client.post("/v1/chat/completions", json=body, headers=AUTH)
    _assert_error(r, 400, param=param)
    assert r.json()["error"]["type"] == "invalid_request_error"
    await _nothing_recorded(client, upstream)


async def test_same_validation_on_native_route(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    r = await client.post("/api/v1/chat", json={**GOOD, "max_tokens": -1}, headers=AUTH)
    _assert_error(r, 400, param="max_tokens")
    await _nothing_recorded(client, upstream)


async def test_unknown_model_is_404(client: AsyncClient, upstream: RunningSandbox) -> None:
    r = await client.post("/v1/chat/completions", json={**GOOD, "model": "gpt-17"}, headers=AUTH)
    _assert_error(r, 404, "model_not_found", param="model")
    await _nothing_recorded(client, upstream)


async def test_unknown_fallback_is_404(client: AsyncClient, upstream: RunningSandbox) -> None:
    r = await client.post(
        "/v1/chat/completions", json={**GOOD, "fallbacks": ["nope"]}, headers=AUTH
    )
    _assert_error(r, 404, "model_not_found", param="fallbacks[0]")
    await _nothing_recorded(client, upstream)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "sk-test-key"},
        {"Authorization": "Bearer "},
    ],
)
async def test_missing_or_wrong_key_is_401(
    client: AsyncClient, upstream: RunningSandbox, headers: dict[str, str]
) -> None:
    r = await client.post("/v1/chat/completions", json=GOOD, headers=headers)
    _assert_error(r, 401, "invalid_api_key")
    await _nothing_recorded(client, upstream)


async def test_auth_is_checked_before_the_body(client: AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions", content=b"not json", headers={"content-type": "application/json"}
    )
    _assert_error(r, 401)


@pytest.mark.parametrize("path", ["/v1/models", "/api/v1/models", "/api/v1/usage"])
async def test_every_route_but_health_needs_a_key(client: AsyncClient, path: str) -> None:
    _assert_error(await client.get(path), 401)


async def test_body_over_limit_is_413(client: AsyncClient, upstream: RunningSandbox) -> None:
    big = {**GOOD, "messages": [{"role": "user", "content": "x" * 70_000}]}
    r = await client.post("/v1/chat/completions", json=big, headers=AUTH)
    _assert_error(r, 413, "payload_too_large")
    await _nothing_recorded(client, upstream)


async def test_chunked_body_over_limit_is_413(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model": "sandbox/fast-small", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 5000
        yield b'"}]}'

    r = await client.post(
        "/v1/chat/completions",
        content=chunks(),
        headers={**AUTH, "content-type": "application/json"},
    )
    _assert_error(r, 413, "payload_too_large")
    await _nothing_recorded(client, upstream)


async def test_missing_provider_key_is_503_naming_the_variable(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    r = await client.post(
        "/v1/chat/completions", json={**GOOD, "model": "needs-key/model"}, headers=AUTH
    )
    _assert_error(r, 503, "provider_not_configured")
    assert MISSING_ENV in r.json()["error"]["message"]
    await _nothing_recorded(client, upstream)


async def test_unknown_route_is_openai_shaped_404(client: AsyncClient) -> None:
    _assert_error(await client.get("/v1/nothing-here", headers=AUTH), 404)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.dictionaries(
    st.sampled_from(
        ["model", "messages", "max_tokens", "temperature", "stream", "n", "fallbacks", "x"]
    ),
    json_values,
    max_size=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
async def test_no_body_produces_a_500(client: AsyncClient, body: dict[str, object]) -> None:
    body.setdefault("model", "sandbox/does-not-exist")  # never reach a real provider call
    r = await client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code < 500, r.text
    assert "error" in r.json()


@pytest.mark.parametrize(
    "field",
    [
        "api_base",
        "base_url",
        "api_key",
        "client",
        "extra_headers",
        "mock_response",
        "litellm_logging_obj",
        "custom_llm_provider",
    ],
)
async def test_clients_cannot_set_provider_call_options(
    client: AsyncClient, upstream: RunningSandbox, field: str
) -> None:
    """A client-chosen api_base would send the gateway's provider key to the client's server."""
    r = await client.post(
        "/v1/chat/completions", json={**GOOD, field: "http://attacker.example/v1"}, headers=AUTH
    )
    _assert_error(r, 400, "invalid_request", param=field)
    await _nothing_recorded(client, upstream)
