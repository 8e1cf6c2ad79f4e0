"""Rate-limit specs: catalog fields to windows, client limits, window grouping."""

from __future__ import annotations

from typing import Any

from annas_gift.catalog.rate_limits import (
    ClientLimits,
    LimitSpec,
    client_limit_specs,
    limits_for,
)
from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.state.base import build_plan


def _model(**limits: Any) -> CatalogModel:
    return CatalogModel(name="m", provider="p", litellm_model="p/m", params={}, **limits)


def test_each_field_maps_to_its_unit_and_window() -> None:
    specs = limits_for(_model(rpm=60, tpm=1000, rpd=500, tpd=90_000))
    assert specs == (
        LimitSpec(unit="requests", window_s=60, limit=60, name="rpm"),
        LimitSpec(unit="tokens", window_s=60, limit=1000, name="tpm"),
        LimitSpec(unit="requests", window_s=86_400, limit=500, name="rpd"),
        LimitSpec(unit="tokens", window_s=86_400, limit=90_000, name="tpd"),
    )


def test_none_is_unlimited_and_zero_is_a_limit() -> None:
    assert limits_for(_model()) == ()
    assert limits_for(_model(tpd=0)) == (
        LimitSpec(unit="tokens", window_s=86_400, limit=0, name="tpd"),
    )


def test_limits_come_from_model_info() -> None:
    catalog = Catalog.from_model_list(
        [
            {
                "model_name": "g",
                "litellm_params": {"model": "groq/x"},
                "model_info": {"rpm": 30, "tpd": 500_000},
            }
        ],
        price=False,
    )
    model = catalog.get("g")
    assert model is not None
    assert [(s.name, s.limit) for s in limits_for(model)] == [("rpm", 30), ("tpd", 500_000)]


def test_client_limits() -> None:
    assert client_limit_specs(ClientLimits()) == ()
    assert client_limit_specs(ClientLimits(rpm=5, tpm=100)) == (
        LimitSpec(unit="requests", window_s=60, limit=5, name="rpm"),
        LimitSpec(unit="tokens", window_s=60, limit=100, name="tpm"),
    )


def test_plan_groups_limits_by_window_and_keeps_the_tighter_duplicate() -> None:
    plan = build_plan("m:x", limits_for(_model(rpm=60, tpm=1000, rpd=500)), gated=True)
    assert [(w.window_s, w.requests, w.tokens) for w in plan.windows] == [
        (60, LimitSpec("requests", 60, 60, "rpm"), LimitSpec("tokens", 60, 1000, "tpm")),
        (86_400, LimitSpec("requests", 86_400, 500, "rpd"), None),
    ]
    assert plan.specs == (("rpm", 60, 0, 0), ("tpm", 1000, 1, 1), ("rpd", 500, 2, 0))
    twice = build_plan(
        "k:x",
        [LimitSpec("requests", 60, 9, "a"), LimitSpec("requests", 60, 4, "b")],
        gated=False,
    )
    assert twice.windows[0].requests == LimitSpec("requests", 60, 4, "b")
