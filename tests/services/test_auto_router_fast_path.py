"""AutoRouter's fast path: prepared once per catalog, live state and credentials still honoured."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from annas_gift.catalog.registry import Catalog
from annas_gift.core import errors
from annas_gift.core.types import ChatInput
from annas_gift.services.auto_routing import ENV_RECHECK_S, AutoRouter
from annas_gift.state import ModelLiveState

CONFIG = Path(__file__).resolve().parents[2] / "litellm_config.yaml"
NOW = 1_700_000_000.0
PROOF = ChatInput(model="auto", messages=[{"role": "user", "content": "Prove that 17 is prime."}])
IDLE = ModelLiveState(
    healthy=True, breaker="closed", cooled_down_until=None, headroom=1.0, latency_p50_ms=None,
    error_rate=0.0, remaining={}, last_error=None, last_check=None,
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_yaml(CONFIG, price=False)


def _keys(catalog: Catalog) -> dict[str, str]:
    return {name: "set" for m in catalog.all() for name in m.required_env}


def test_an_unhealthy_winner_drops_out_and_comes_back(catalog: Catalog) -> None:
    router = AutoRouter(env=_keys(catalog), clock=Clock())
    live = {m.name: IDLE for m in catalog.all()}
    first = router.plan(PROOF, catalog, live).models[0].name
    live[first] = replace(IDLE, healthy=False)
    sick = router.plan(PROOF, catalog, live)
    assert first not in [m.name for m in sick.models]
    assert "unhealthy" in dict(sick.selection.excluded)[first]  # type: ignore[union-attr]
    live[first] = IDLE
    assert router.plan(PROOF, catalog, live).models[0].name == first


def test_a_key_set_at_run_time_is_seen(catalog: Catalog) -> None:
    env = _keys(catalog)
    clock = Clock()
    router = AutoRouter(env=env, clock=clock)
    winner = router.plan(PROOF, catalog).models[0]
    for name in winner.required_env:
        del env[name]
    clock.now += ENV_RECHECK_S
    without = router.plan(PROOF, catalog)
    assert winner.name not in [m.name for m in without.models]
    env.update({name: "set" for name in winner.required_env})
    router.refresh_credentials()  # no waiting for the recheck
    assert router.plan(PROOF, catalog).models[0].name == winner.name


def test_all_usable_models_cooling_down_gives_429_with_the_earliest_end(catalog: Catalog) -> None:
    env = _keys(catalog)
    one = catalog.all()[0]
    for name in one.required_env:
        env.pop(name)  # no key: unusable, so its (missing) cooldown does not matter
    router = AutoRouter(env=env, clock=Clock())
    live = {
        m.name: replace(IDLE, cooled_down_until=NOW + 30 + i) for i, m in enumerate(catalog.all())
    }
    with pytest.raises(errors.RateLimited) as caught:
        router.plan(PROOF, catalog, live)
    assert caught.value.code == "all_models_cooling_down"
    usable = [i for i, m in enumerate(catalog.all()) if not m.missing_env(env)]
    assert caught.value.retry_after == pytest.approx(30 + usable[0])


def test_cooling_and_unhealthy_models_give_503(catalog: Catalog) -> None:
    router = AutoRouter(env=_keys(catalog), clock=Clock())
    live = {m.name: replace(IDLE, cooled_down_until=NOW + 30) for m in catalog.all()}
    live[catalog.all()[0].name] = replace(IDLE, healthy=False)
    with pytest.raises(errors.AllAttemptsFailed):
        router.plan(PROOF, catalog, live)
