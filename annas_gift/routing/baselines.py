"""The classifiers `eval-classifier` compares, behind one interface: prompt length alone,
LiteLLM's complexity router, the previous (frozen) classifier, and the learned one.

Only evaluation code imports this module (it is the one place the legacy classifier is used).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from annas_gift.routing.types import Category


@dataclass(frozen=True, slots=True)
class Verdict:
    """One system's answer for one prompt: a tier score, its tier decision, maybe a category."""

    score: float
    powerful: bool
    category: Category | None


@dataclass(frozen=True, slots=True)
class System:
    """A named classifier to evaluate."""

    name: str
    classify: Callable[[str], Verdict]
    has_category: bool


def length_system(threshold_words: float) -> System:
    """Prompt length in words as the tier score; powerful from `threshold_words`."""

    def classify(prompt: str) -> Verdict:
        words = float(len(prompt.split()))
        return Verdict(words, words >= threshold_words, None)

    return System(f"length (>= {threshold_words:g} words)", classify, has_category=False)


def litellm_system() -> System:
    """LiteLLM's heuristic `complexity_router`, built offline (no router, no API calls)."""
    from litellm.router_strategy.complexity_router.complexity_router import ComplexityRouter

    router = ComplexityRouter(model_name="eval", litellm_router_instance=None)  # type: ignore[arg-type]  # classify() never touches the router

    def classify(prompt: str) -> Verdict:
        tier, score, _signals = router.classify(prompt)
        return Verdict(float(score), tier.value in ("COMPLEX", "REASONING"), None)

    return System("LiteLLM complexity_router", classify, has_category=False)


def legacy_system() -> System:
    """The hand-tuned classifier this project used before (frozen in routing/legacy/)."""
    from annas_gift.routing.legacy.task_classifier import classify_task as legacy_classify

    def classify(prompt: str) -> Verdict:
        r = legacy_classify([{"role": "user", "content": prompt}])
        return Verdict(r.score, r.tier == "powerful", r.category)

    return System("previous classifier", classify, has_category=True)


def learned_system() -> System:
    """The learned classifier `auto` uses."""
    from annas_gift.routing.task_classifier import classify_task

    def classify(prompt: str) -> Verdict:
        r = classify_task([{"role": "user", "content": prompt}])
        return Verdict(r.score, r.tier == "powerful", r.category)

    return System("learned classifier", classify, has_category=True)
