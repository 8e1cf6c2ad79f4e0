"""Where behaviours come from (header, script, defaults), the API key, and the request log."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from annas_gift.sandbox import BehaviorError, SandboxServer
from annas_gift.sandbox.state import SandboxState

Chat = Callable[..., Awaitable[httpx.Response]]


async def test_script_is_consumed_in_order_then_default(
    client: httpx.AsyncClient, chat: Chat
) -> None:
    queued = await client.post(
        "/sandbox/script",
        json={"model": "m", "behaviors": ["status=429;retry_after=2", "status=500", "reply=third"]},
    )
    assert queued.json() == {"model": "m", "queued": 3}
    assert (await chat(model="other")).status_code == 200  # other models are unaffected
    first = await chat(model="m")
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert (await chat(model="m")).status_code == 500
    assert (await chat(model="m")).json()["choices"][0]["message"]["content"] == "third"
    default = await chat("again", model="m")
    assert default.json()["choices"][0]["message"]["content"] == "[sandbox m] again"


async def test_in_process_script_helper(sandbox: SandboxServer, chat: Chat) -> None:
    sandbox.script("m", ["status=503"])
    sandbox.script("m", ["status=502"])  # appends behind the first
    assert [(await chat(model="m")).status_code for _ in range(3)] == [503, 502, 200]


async def test_header_beats_script_and_leaves_it_queued(sandbox: SandboxServer, chat: Chat) -> None:
    sandbox.script("m", ["status=500"])
    overridden = await chat(model="m", behavior="reply=from the header")
    assert overridden.json()["choices"][0]["message"]["content"] == "from the header"
    assert (await chat(model="m")).status_code == 500


async def test_defaults_apply_after_script_and_under_header() -> None:
    async with (
        SandboxServer(defaults={"sandbox/flaky": "status=503"}) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url) as http,
    ):
        body = {"model": "sandbox/flaky", "messages": []}
        url = "/v1/chat/completions"
        assert (await http.post(url, json=body)).status_code == 503
        sandbox.script("sandbox/flaky", ["ok"])
        assert (await http.post(url, json=body)).status_code == 200
        assert (await http.post(url, json=body)).status_code == 503
        ok = await http.post(url, json=body, headers={"x-sandbox-behavior": "ok"})
        assert ok.status_code == 200
        assert (await http.post(url, json={**body, "model": "steady"})).status_code == 200
        models = (await http.get("/v1/models")).json()["data"]
        assert [m["id"] for m in models] == ["sandbox/flaky", "steady"]


def test_bad_default_fails_at_construction() -> None:
    with pytest.raises(BehaviorError, match="unknown directive 'sometimes'"):
        SandboxServer(defaults={"m": "sometimes"})


async def test_bad_script_is_rejected_whole(client: httpx.AsyncClient, chat: Chat) -> None:
    response = await client.post(
        "/sandbox/script", json={"model": "m", "behaviors": ["status=500", "bogus"]}
    )
    assert response.status_code == 400
    assert "'bogus'" in response.json()["error"]["message"]
    assert (await chat(model="m")).status_code == 200


@pytest.mark.parametrize(
    "content",
    [b"nope", b'{"model": "m"}', b'{"model": "m", "behaviors": "ok"}', b'{"behaviors": ["ok"]}'],
)
async def test_malformed_script_request_is_400(client: httpx.AsyncClient, content: bytes) -> None:
    assert (await client.post("/sandbox/script", content=content)).status_code == 400


async def test_delete_script_clears_every_queue(client: httpx.AsyncClient, chat: Chat) -> None:
    for model in ("a", "b"):
        await client.post("/sandbox/script", json={"model": model, "behaviors": ["status=500"]})
    assert (await client.delete("/sandbox/script")).status_code == 200
    assert (await chat(model="a")).status_code == 200
    assert (await chat(model="b")).status_code == 200


@pytest.fixture
async def keyed() -> AsyncIterator[tuple[SandboxServer, httpx.AsyncClient]]:
    async with (
        SandboxServer(api_key="sekret") as sandbox,
        httpx.AsyncClient(base_url=sandbox.url) as http,
    ):
        yield sandbox, http


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "sekret", "Bearer sekret2"])
async def test_api_key_rejects_bad_credentials(
    keyed: tuple[SandboxServer, httpx.AsyncClient], authorization: str | None
) -> None:
    _, http = keyed
    headers = {"Authorization": authorization} if authorization else {}
    body = {"model": "m", "messages": []}
    response = await http.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert (await http.get("/v1/models", headers=headers)).status_code == 401


async def test_api_key_accepts_the_right_one_and_keeps_scripts_for_it(
    keyed: tuple[SandboxServer, httpx.AsyncClient],
) -> None:
    sandbox, http = keyed
    sandbox.script("m", ["status=500"])
    body = {"model": "m", "messages": []}
    assert (await http.post("/v1/chat/completions", json=body)).status_code == 401
    good = {"Authorization": "Bearer sekret"}
    assert (await http.post("/v1/chat/completions", json=body, headers=good)).status_code == 500
    assert (await http.post("/v1/chat/completions", json=body, headers=good)).status_code == 200
    assert (await http.get("/v1/models", headers=good)).status_code == 200
    assert (await http.get("/health")).status_code == 200  # liveness needs no key


async def test_request_log(sandbox: SandboxServer, client: httpx.AsyncClient, chat: Chat) -> None:
    started = time.time()
    await chat("first", model="a", headers={"X-Trace-Id": "T-1", "Authorization": "Bearer k"})
    await chat("second", model="b", behavior="status=500", stream=True)
    finished = time.time()
    logged = (await client.get("/sandbox/requests")).json()["requests"]
    assert logged == sandbox.requests()
    assert [(r["model"], r["stream"]) for r in logged] == [("a", False), ("b", True)]
    assert logged[0]["headers"]["x-trace-id"] == "T-1"
    assert logged[0]["headers"]["authorization"] == "Bearer k"
    assert logged[1]["headers"]["x-sandbox-behavior"] == "status=500"
    assert all(name == name.lower() for r in logged for name in r["headers"])
    assert logged[0]["body"] == {"model": "a", "messages": [{"role": "user", "content": "first"}]}
    assert logged[1]["body"]["stream"] is True
    assert started <= logged[0]["time"] <= logged[1]["time"] <= finished
    assert (await client.delete("/sandbox/requests")).status_code == 200
    assert sandbox.requests() == []


async def test_unparseable_request_is_logged_too(
    sandbox: SandboxServer, client: httpx.AsyncClient
) -> None:
    await client.post("/v1/chat/completions", content=b"{oops")
    assert [(r["model"], r["body"]) for r in sandbox.requests()] == [(None, None)]


async def test_clear_forgets_scripts_and_log(sandbox: SandboxServer, chat: Chat) -> None:
    sandbox.script("m", ["status=500", "status=500"])
    assert (await chat(model="m")).status_code == 500
    sandbox.clear()
    assert sandbox.requests() == []
    assert (await chat(model="m")).status_code == 200


def test_request_log_is_bounded() -> None:
    state = SandboxState(log_limit=3)
    for i in range(5):
        state.record({"model": f"m{i}", "stream": False, "headers": {}, "body": None, "time": 0.0})
    assert [r["model"] for r in state.requests()] == ["m2", "m3", "m4"]
