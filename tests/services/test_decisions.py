"""The stored decision: the selector's ranking kept with it, bounded and in the selector's order."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from annas_gift.catalog.registry import Catalog
from annas_gift.core.events import decode_event, encode_event
from annas_gift.core.types import ChatInput
from annas_gift.services.auto_routing import AutoRouter
from annas_gift.services.decisions import (
    RANKING_LIMIT,
    decision_events,
    ranking_json,
    ranking_record,
)
from annas_gift.services.types import RoutePlan

CONFIG = Path(__file__).resolve().parents[2] / "litellm_config.yaml"


def _plan(text: str, *, keys_for_all: bool = True) -> RoutePlan:
    catalog = Catalog.from_yaml(CONFIG, price=False)
    models = catalog.all()
    # Without keys for some providers, their models are excluded (and the reason recorded).
    keyed = models if keys_for_all else models[: len(models) // 2]
    env = {name: "set" for m in keyed for name in m.required_env}
    router = AutoRouter(env=env, clock=lambda: 1_700_000_000.0)
    return router.plan(
        ChatInput(model="auto", messages=[{"role": "user", "content": text}]), catalog
    )


def test_the_stored_ranking_is_the_top_of_the_selectors_in_order() -> None:
    plan = _plan("Prove that there are infinitely many prime numbers.")
    selection = plan.selection
    assert selection is not None and len(selection.ranking) > RANKING_LIMIT
    record = ranking_record(selection)
    names = [c["name"] for c in record["candidates"]]
    top = [r.name for r in selection.ranking[:RANKING_LIMIT]]
    why = selection.explanation
    assert why is not None
    runner_at = top.index(why.runner_up) if why.runner_up in top else None
    assert names[:RANKING_LIMIT] == top
    assert len(names) == RANKING_LIMIT + (0 if runner_at is not None else 1)
    assert record["ranked"] == len(selection.ranking)
    assert record["runner_up"] == why.runner_up and why.runner_up in names
    assert (record["decided_by"], record["benchmark"]) == (why.decided_by, why.benchmark)
    first, best = record["candidates"][0], selection.ranking[0]
    assert first["rank"] == 1 and first["provider"] == best.provider
    assert abs(first["score"] - best.score) <= 5e-5
    assert record["components"] == list(best.components)
    assert first["parts"] == [round(v, 4) for v in best.parts]
    if why.benchmark is not None:
        value = next(p.value for p in best.benchmark_parts if p.benchmark == why.benchmark)
        assert abs(first["benchmark_value"] - value) <= 5e-3
    assert len(ranking_json(selection)) < 4000  # bounded, whatever the catalog's size


def test_exclusions_are_kept_with_their_reason_and_counted() -> None:
    plan = _plan("hello there", keys_for_all=False)
    selection = plan.selection
    assert selection is not None and selection.excluded
    record = ranking_record(selection)
    assert record["excluded_total"] == len(selection.excluded)
    assert len(record["excluded"]) == min(10, len(selection.excluded))
    model, reason = selection.excluded[0]
    assert record["excluded"][0] == {"model": model, "reason": reason}


def test_a_refreshed_selection_gets_its_own_record() -> None:
    selection = _plan("hello there", keys_for_all=False).selection
    assert selection is not None
    moved = replace(selection, excluded=(("x/y", "cooling down (3s left)"),))
    assert ranking_json(selection) is ranking_json(selection)  # encoded once per decision
    moved_record = json.loads(ranking_json(moved))
    assert moved_record["excluded"] == [{"model": "x/y", "reason": "cooling down (3s left)"}]


def test_the_selection_event_carries_the_ranking_through_the_journal_encoding() -> None:
    plan = _plan("Write a Python function that parses ISO dates.")
    events = decision_events("req-1", plan, [], plan.models[0])
    assert events is not None
    _, selection = events
    assert plan.selection is not None and selection.ranking is not None
    assert json.loads(selection.ranking) == ranking_record(plan.selection)
    decoded = decode_event(encode_event(selection))
    assert decoded == selection
    # A line journaled before rankings were stored still decodes (the field has a default).
    old = json.loads(encode_event(selection))
    del old["ranking"]
    assert decode_event(json.dumps(old)).ranking is None  # type: ignore[union-attr]
