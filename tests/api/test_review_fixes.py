"""Behaviour found in review: each test pins one fixed defect."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from httpx import AsyncClient

from annas_gift.sandbox import RunningSandbox
from annas_gift.settings import ConfigError, load_settings
from tests.api.conftest import AUTH

MSG = [{"role": "user", "content": "Name a prime number."}]
ROOT = Path(__file__).resolve().parents[2]


async def test_native_stream_options_include_usage(client: AsyncClient) -> None:
    r = await client.post(
        "/api/v1/chat",
        json={
            "model": "sandbox/fast-small",
            "messages": MSG,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        headers=AUTH,
    )
    assert r.status_code == 200
    chunks = [orjson.loads(x[6:]) for x in r.text.split("\n\n") if x.startswith("data: {")]
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_unexpected_error_is_a_shaped_500_with_request_id_logged_once(
    client: AsyncClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.gateway.chat, "complete", broken)
    with caplog.at_level(logging.ERROR):
        r = await client.post(
            "/v1/chat/completions",
            json={"model": "sandbox/fast-small", "messages": MSG},
            headers=AUTH,
        )
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "server_error"
    assert "boom" not in r.text and "Traceback" not in r.text
    request_id = r.headers["x-request-id"]
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and request_id in errors[0].getMessage()


async def test_every_candidate_cooling_down_gives_429_with_retry_after(client: AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    state = app.state.gateway.state
    for model in app.state.gateway.catalog.all():
        await state.report(model, ok=False, latency_ms=1, status=429, retry_after=40)
    r = await client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": MSG}, headers=AUTH
    )
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "all_models_cooling_down"
    assert 30 <= int(r.headers["retry-after"]) <= 40
    assert all(isinstance(e, dict) for e in r.json()["error"]["excluded"])


async def test_open_circuit_is_a_retryable_503(
    client: AsyncClient, upstream: RunningSandbox
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    model = app.state.gateway.catalog.get("sandbox/fast-small")
    for _ in range(3):
        await app.state.gateway.state.report(model, ok=False, latency_ms=1, status=503)
    body = {"model": "sandbox/fast-small", "messages": MSG}
    alone = await client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert alone.status_code == 503
    assert alone.json()["error"]["code"] == "model_unavailable"
    helped = await client.post(
        "/v1/chat/completions", json={**body, "fallbacks": ["sandbox/powerful-large"]}, headers=AUTH
    )
    assert helped.status_code == 200
    assert helped.headers["x-annas-model"] == "sandbox/powerful-large"
    assert helped.headers["x-annas-tier"] == "powerful"  # the tier of the model that answered
    assert upstream.requests()[-1]["model"] == "powerful-large"


async def test_classify_sees_live_state(client: AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    body = {"model": "auto:fast", "messages": [{"role": "user", "content": "Write a haiku."}]}
    before = (await client.post("/api/v1/classify", json=body, headers=AUTH)).json()
    first = before["fallback_order"][0]
    await app.state.gateway.state.report(
        app.state.gateway.catalog.get(first), ok=False, latency_ms=1, status=429, retry_after=60
    )
    await asyncio.sleep(0.06)  # past cache.snapshot_max_age_s: ranking may be 50 ms stale
    after = (await client.post("/api/v1/classify", json=body, headers=AUTH)).json()
    assert first not in after["fallback_order"]
    assert first in [e["model"] for e in after["selection"]["excluded"]]


def test_list_setting_as_plain_text_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNAS_GIFT_SERVER__CORS_ORIGINS", "http://a, http://b")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith("invalid setting server.cors_origins:")
    assert "ANNAS_GIFT_SERVER__CORS_ORIGINS must be JSON" in str(info.value)


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNAS_GIFT_STORAGE__SPOOL_PATH", "")
    settings = load_settings(auth={"api_keys": [""]})
    assert settings.storage.spool_path is None
    assert settings.auth.api_keys == []


def test_dotenv_supplies_provider_keys(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GROQ_API_KEY=gsk-from-dotenv\n")
    env = {k: v for k, v in os.environ.items() if k != "GROQ_API_KEY"}
    command = [sys.executable, "-m", "annas_gift", "models"]
    command += ["--config", str(ROOT / "litellm_config.yaml")]
    out = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout
    groq = [line for line in out.splitlines() if line.split()[1:2] == ["groq"]]
    assert groq and all(line.endswith("ok") for line in groq)
