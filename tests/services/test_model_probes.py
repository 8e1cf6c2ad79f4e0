"""Active health checks: which models are probed, and probes steering the shared health state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from annas_gift.catalog.demo import demo_model_list
from annas_gift.catalog.registry import Catalog
from annas_gift.sandbox import SandboxServer
from annas_gift.services.model_probes import ModelProbes, probe_targets
from annas_gift.state import GatewayState
from annas_gift.state.breaker import HealthPolicy
from annas_gift.upstream.openai_wire import OpenAIWireUpstream


def _entry(name: str, provider: str, cost: float, env: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"model": f"openai/{name}", "api_base": "http://x/v1"}
    if env:
        params["api_key"] = f"os.environ/{env}"
    return {
        "model_name": f"{provider}/{name}",
        "litellm_params": params,
        "model_info": {
            "provider": provider,
            "input_cost_per_token": cost,
            "output_cost_per_token": cost,
        },
    }


def test_probe_targets_default_to_free_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_KEY_FOR_TEST", raising=False)
    catalog = Catalog.from_model_list(
        [
            _entry("a", "freebie", 0.0),
            _entry("b", "freebie", 0.0),
            _entry("c", "paid", 1e-6),
            _entry("d", "mixed", 0.0),
            _entry("e", "mixed", 1e-6),
            _entry("f", "nokey", 0.0, env="UNSET_KEY_FOR_TEST"),
        ],
        price=False,
    )
    assert [m.name for m in probe_targets(catalog, None)] == ["freebie/a", "freebie/b"]
    assert [m.name for m in probe_targets(catalog, ["paid", "nokey"])] == ["paid/c"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as sb:
        yield sb


async def test_failing_probes_open_the_breaker_and_a_good_probe_closes_it(
    sandbox: SandboxServer,
) -> None:
    clock = Clock()
    state = await GatewayState.create(
        None, clock=clock, health_policy=HealthPolicy(failure_threshold=3, open_base_s=10)
    )
    upstream = OpenAIWireUpstream()
    catalog = Catalog.from_model_list(demo_model_list(sandbox.base_url), price=False)
    model = catalog.get("sandbox/fast-small")
    assert model is not None
    checker = ModelProbes([model], upstream, state, interval_s=60, timeout_s=2)
    try:
        sandbox.script("fast-small", ["status=500"] * 3)
        assert [await checker.probe(model) for _ in range(3)] == [False, False, False]
        live = (await state.snapshot([model]))[model.name]
        assert (live.healthy, live.breaker) == (False, "open")
        assert live.last_error is not None and "probe" in live.last_error

        clock.now += 11  # past the cool-off: half-open, the next probe decides
        assert await checker.probe(model) is True
        live = (await state.snapshot([model]))[model.name]
        assert (live.healthy, live.breaker) == (True, "closed")
        assert live.latency_p50_ms is not None
        assert checker.probes == 4
        assert len(sandbox.requests()) == 4
        assert all(r["body"]["max_tokens"] == 1 for r in sandbox.requests())
    finally:
        await upstream.aclose()
        await state.aclose()


async def test_checker_runs_in_the_background(sandbox: SandboxServer) -> None:
    state = await GatewayState.create(None)
    upstream = OpenAIWireUpstream()
    models = Catalog.from_model_list(demo_model_list(sandbox.base_url), price=False).all()
    checker = ModelProbes(models, upstream, state, interval_s=0.05, timeout_s=2)
    try:
        checker.start()
        for _ in range(100):
            if checker.probes >= 2 * len(models):
                break
            await asyncio.sleep(0.02)
        assert checker.probes >= 2 * len(models)
        snapshot = await state.snapshot(models)
        assert all(s.last_check is not None for s in snapshot.values())
    finally:
        await checker.stop()
        await upstream.aclose()
        await state.aclose()
