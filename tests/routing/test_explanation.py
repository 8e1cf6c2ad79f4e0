"""The plain-words decision explanation: built from the classifier's and selector's own numbers."""

from __future__ import annotations

from pathlib import Path

from annas_gift.catalog.registry import Catalog
from annas_gift.core.types import ChatInput
from annas_gift.routing.explanation import FACTOR_LABELS, explain_decision
from annas_gift.routing.features import STRUCTURAL
from annas_gift.routing.selection_types import Selection
from annas_gift.routing.task_classifier import MEANING, WORDING, classify_task
from annas_gift.services.auto_routing import AutoRouter

CONFIG = Path(__file__).resolve().parents[2] / "litellm_config.yaml"


def _plan(model: str, text: str):  # type: ignore[no-untyped-def]
    catalog = Catalog.from_yaml(CONFIG, price=False)
    env = {name: "set" for m in catalog.all() for name in m.required_env}
    router = AutoRouter(env=env, clock=lambda: 1_700_000_000.0)
    return router.plan(
        ChatInput(model=model, messages=[{"role": "user", "content": text}]), catalog
    )


def test_every_feature_the_classifier_can_name_has_words() -> None:
    assert set(FACTOR_LABELS) == {*STRUCTURAL, WORDING, MEANING}


def test_a_proof_is_explained_by_its_top_factors_benchmark_and_runner_up() -> None:
    plan = _plan("auto", "Prove that there are infinitely many prime numbers.")
    explained = explain_decision(plan.classification, plan.selection, plan.tier)
    assert [f.name for f in explained.factors] == list(plan.classification.factors)
    assert explained.tier == "powerful"
    assert explained.tier_reason.startswith("This request needs a powerful model")
    assert explained.runner_up is not None and explained.runner_up != explained.model
    assert explained.runner_up in explained.summary
    if explained.decided_by == "benchmark":
        assert explained.benchmark_label and explained.benchmark_label in explained.summary
        assert explained.model_value is not None


def test_a_forced_tier_says_it_was_asked_for() -> None:
    plan = _plan("auto:powerful", "hi")
    explained = explain_decision(plan.classification, plan.selection, plan.tier)
    assert explained.tier == "powerful"
    assert explained.tier_reason.startswith("The powerful tier was asked for")


def test_without_a_ranking_the_reason_is_the_selection_reason() -> None:
    classification = classify_task("hi")
    empty = Selection(model=None, reason="no model qualifies: all 2 excluded", tier="fast",
                      category="chat")  # fmt: skip
    explained = explain_decision(classification, empty, "fast")
    assert explained.model is None and explained.runner_up is None
    assert explained.choice_reason == empty.reason
    assert explained.summary.startswith("No model could take it.")
