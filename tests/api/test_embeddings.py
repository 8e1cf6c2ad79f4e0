"""POST /v1/embeddings, GET /v1/models/{id} and unknown /v1 paths, through the sandbox upstream."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from annas_gift.api.app import create_app
from annas_gift.catalog.demo import EMBEDDING_MODEL, demo_embedding_entry
from annas_gift.catalog.registry import Catalog
from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import Settings, load_settings
from annas_gift.storage.models import UsageRecord
from tests.api.conftest import ALICE, AUTH, KEY, MISSING_ENV, make_catalog

ALT = "sandbox/embed-alt"
ALICE_AUTH = {"Authorization": f"Bearer {ALICE}"}


@pytest.fixture(params=["direct", "litellm"])
def upstream_path(request: pytest.FixtureRequest) -> str:
    """Every test here runs on the direct OpenAI-wire path and on the LiteLLM path."""
    return str(request.param)


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path, upstream_path: str) -> Settings:
    return load_settings(
        auth={"api_keys": [KEY, f"alice:{ALICE}"], "key_limits": {"alice": {"rpm": 2}}},
        storage={
            "database_url": sqlite_url,
            "flush_interval_s": 0.05,
            "spool_path": str(tmp_path / "spool.jsonl"),
        },
        litellm={"timeout_s": 5.0, "direct_openai_wire": upstream_path == "direct"},
    )


def embedding_catalog(base_url: str) -> Catalog:
    """The chat demo models, two sandbox embedding models and one whose key is never set."""
    entries: list[dict[str, Any]] = [demo_embedding_entry(base_url)]
    alt = demo_embedding_entry(base_url)
    alt["model_name"], alt["litellm_params"]["model"] = ALT, "openai/embed-alt"
    unset = demo_embedding_entry(base_url)
    unset["model_name"] = "needs-key/embed"
    unset["litellm_params"]["api_key"] = f"os.environ/{MISSING_ENV}"
    chat = make_catalog(base_url).all()
    return Catalog([*chat, *Catalog.from_model_list([*entries, alt, unset], price=False).all()])


@pytest.fixture
def app(settings: Settings, upstream: RunningSandbox) -> FastAPI:
    return create_app(settings, catalog=embedding_catalog(upstream.base_url))


async def _usage_rows(client: AsyncClient) -> list[Any]:
    app = client._transport.app  # type: ignore[attr-defined]
    await app.state.gateway.tracker.flush()
    async with app.state.gateway.tracker._sessions() as session:
        query = select(
            UsageRecord.route, UsageRecord.model, UsageRecord.status, UsageRecord.prompt_tokens,
            UsageRecord.cost_usd,
        )  # fmt: skip
        return list((await session.execute(query)).all())


async def test_embeddings_float_vectors_with_usage_and_cost(client: AsyncClient) -> None:
    body = {"model": EMBEDDING_MODEL, "input": ["cell biology", "medieval history"]}
    r = await client.post("/v1/embeddings", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["object"] == "list"
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 256 for d in data["data"])
    assert data["data"][0]["embedding"] != data["data"][1]["embedding"]
    assert data["usage"]["prompt_tokens"] > 0
    assert r.headers["x-annas-model"] == EMBEDDING_MODEL
    assert "x-annas-tier" not in r.headers
    assert float(r.headers["x-annas-cost-usd"]) == pytest.approx(
        data["usage"]["prompt_tokens"] * 2e-8
    )
    rows = await _usage_rows(client)
    assert [(row[0], row[1], row[2]) for row in rows] == [("embeddings", EMBEDDING_MODEL, 200)]
    assert rows[0][3] == data["usage"]["prompt_tokens"] and rows[0][4] > 0


async def test_embeddings_dimensions_and_base64(client: AsyncClient) -> None:
    plain = await client.post(
        "/v1/embeddings",
        json={"model": EMBEDDING_MODEL, "input": "x", "dimensions": 8},
        headers=AUTH,
    )
    vector = plain.json()["data"][0]["embedding"]
    assert len(vector) == 8
    body = {"model": EMBEDDING_MODEL, "input": "x", "dimensions": 8, "encoding_format": "base64"}
    r = await client.post("/v1/embeddings", json=body, headers=AUTH)
    encoded = r.json()["data"][0]["embedding"]
    assert struct.unpack("<8f", base64.b64decode(encoded)) == pytest.approx(vector, rel=1e-6)


async def test_embeddings_fall_back_to_the_named_fallback(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    upstream.script("embed-small", ["status=503"])
    body = {"model": EMBEDDING_MODEL, "input": "x", "fallbacks": [ALT]}
    r = await client.post("/v1/embeddings", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["x-annas-model"] == ALT
    assert r.headers["x-annas-attempts"] == "2"
    rows = sorted((row[1], row[2]) for row in await _usage_rows(client))
    assert rows == [(ALT, 200), (EMBEDDING_MODEL, 502)]


async def test_embeddings_client_rate_limit(client: AsyncClient) -> None:
    body = {"model": EMBEDDING_MODEL, "input": "x"}
    for _ in range(2):
        assert (
            await client.post("/v1/embeddings", json=body, headers=ALICE_AUTH)
        ).status_code == 200
    r = await client.post("/v1/embeddings", json=body, headers=ALICE_AUTH)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "client_rate_limit_exceeded"
    assert "retry-after" in r.headers


@pytest.mark.parametrize(
    ("path", "model", "param", "route"),
    [
        ("/v1/chat/completions", EMBEDDING_MODEL, "model", "/v1/embeddings"),
        ("/v1/embeddings", "sandbox/fast-small", "model", "/v1/chat/completions"),
    ],
)
async def test_a_model_of_the_other_mode_is_refused(
    client: AsyncClient, upstream: RunningSandbox, path: str, model: str, param: str, route: str
) -> None:
    body: dict[str, Any] = {"model": model, "input": "x"}
    if path.endswith("completions"):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    r = await client.post(path, json=body, headers=AUTH)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "model_not_supported" and error["param"] == param
    assert route in error["message"]
    assert upstream.requests() == []


async def test_a_chat_fallback_to_an_embedding_model_is_refused(client: AsyncClient) -> None:
    body = {
        "model": "sandbox/fast-small",
        "messages": [{"role": "user", "content": "hi"}],
        "fallbacks": [EMBEDDING_MODEL],
    }
    r = await client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "fallbacks[0]"


@pytest.mark.parametrize("alias", ["auto", "auto:fast", "auto:powerful"])
async def test_embeddings_do_not_take_the_routing_aliases(client: AsyncClient, alias: str) -> None:
    r = await client.post("/v1/embeddings", json={"model": alias, "input": "x"}, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "model_not_supported"


@pytest.mark.parametrize("alias", ["auto", "auto:fast", "auto:powerful"])
async def test_auto_chat_never_ranks_an_embedding_model(client: AsyncClient, alias: str) -> None:
    body = {"model": alias, "messages": [{"role": "user", "content": "Explain osmosis briefly."}]}
    r = await client.post("/api/v1/chat", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    selection = r.json()["selection"]
    ranked = [c["name"] for c in selection["ranking"]]
    excluded = [e["model"] for e in selection["excluded"]]
    assert ranked and all(name.startswith("sandbox/") for name in ranked)
    assert not {EMBEDDING_MODEL, ALT} & {*ranked, *excluded}


async def test_embedding_model_without_its_key_is_a_503(client: AsyncClient) -> None:
    r = await client.post(
        "/v1/embeddings", json={"model": "needs-key/embed", "input": "x"}, headers=AUTH
    )
    assert r.status_code == 503
    assert MISSING_ENV in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": EMBEDDING_MODEL}, "input"),
        ({"model": EMBEDDING_MODEL, "input": []}, "input"),
        ({"model": EMBEDDING_MODEL, "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": EMBEDDING_MODEL, "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": EMBEDDING_MODEL, "input": "x", "api_base": "http://evil"}, "api_base"),
    ],
)
async def test_bad_embedding_requests_are_400s(
    client: AsyncClient, upstream: RunningSandbox, body: dict[str, Any], param: str
) -> None:
    r = await client.post("/v1/embeddings", json=body, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param
    assert upstream.requests() == []


async def test_embeddings_need_a_key(client: AsyncClient) -> None:
    r = await client.post("/v1/embeddings", json={"model": EMBEDDING_MODEL, "input": "x"})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("model_id", "owned_by"),
    [
        ("auto", "annas-gift"),
        ("auto:fast", "annas-gift"),
        ("auto:powerful", "annas-gift"),
        ("sandbox/fast-small", "sandbox"),
        (EMBEDDING_MODEL, "sandbox"),
    ],
)
async def test_retrieve_model(client: AsyncClient, model_id: str, owned_by: str) -> None:
    r = await client.get(f"/v1/models/{model_id}", headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {"id": model_id, "object": "model", "created": 0, "owned_by": owned_by}


@pytest.mark.parametrize("model_id", ["nope", "sandbox/nope", "needs-key/model"])
async def test_retrieve_unknown_or_unavailable_model_is_an_openai_404(
    client: AsyncClient, model_id: str
) -> None:
    r = await client.get(f"/v1/models/{model_id}", headers=AUTH)
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
    assert model_id in error["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/completions"),
        ("POST", "/v1/images/generations"),
        ("GET", "/v1/assistants"),
        ("DELETE", "/v1/files/file-1"),
        ("POST", "/v1/"),
    ],
)
async def test_unknown_v1_paths_answer_unsupported_endpoint(
    client: AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path, headers=AUTH, json={})
    assert r.status_code == 404
    body = r.json()
    assert "detail" not in body
    assert body["error"]["code"] == "unsupported_endpoint"
    for served in ("POST /v1/chat/completions", "POST /v1/embeddings", "GET /v1/models"):
        assert served in body["error"]["message"]
    if path == "/v1/completions":
        assert "chat/completions" in body["error"]["message"].split("It serves")[0]


async def test_wrong_method_on_a_v1_route_is_an_openai_405(client: AsyncClient) -> None:
    r = await client.get("/v1/embeddings", headers=AUTH)
    assert r.status_code == 405
    assert "detail" not in r.json() and r.json()["error"]["code"] == "method_not_allowed"
