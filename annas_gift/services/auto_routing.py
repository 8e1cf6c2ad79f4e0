"""The auto router: classify the request, rank the catalog, hand the service a fallback plan.

The glue of the routing layer's pure pieces with the catalog and live state, so it lives in
services (routing itself imports nothing above it).

It joins the pure pieces (classifier, selector) with the catalog and the live model state; the
only inputs that change between calls are the request, the environment (which keys are set)
and the live state, all passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.core import errors
from annas_gift.core.types import ChatInput
from annas_gift.routing.benchmark_selector import (
    BenchmarkSelector,
    Candidate,
    Selection,
    SelectionWeights,
)
from annas_gift.routing.benchmarks import get_model_benchmarks
from annas_gift.routing.task_classifier import TaskClassification, classify_task
from annas_gift.routing.types import Category, ModelProfile, Tier
from annas_gift.services.limits import estimate_prompt_tokens
from annas_gift.services.types import RoutePlan
from annas_gift.state import ModelLiveState

FORCED_TIERS: dict[str, Tier] = {"auto:fast": "fast", "auto:powerful": "powerful"}


def profile_of(model: CatalogModel) -> ModelProfile:
    """The routing view of a catalog model."""
    categories: tuple[Category, ...] = tuple(model.categories)  # type: ignore[arg-type]
    return ModelProfile(
        name=model.name,
        provider=model.provider,
        tier=model.tier,
        categories=categories,
        context_window=model.context_window or 0,
        benchmarks=get_model_benchmarks(model.benchmark_id or model.name),
        input_cost_per_token=model.input_cost_per_token,
        output_cost_per_token=model.output_cost_per_token,
    )


class AutoRouter:
    """Plans `auto`, `auto:fast` and `auto:powerful` requests."""

    def __init__(
        self,
        selector: BenchmarkSelector | None = None,
        *,
        threshold: float | None = None,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.selector = selector or BenchmarkSelector()
        self.threshold = threshold
        self._env = env
        self._clock = clock
        self._profiled: Catalog | None = None
        self._profiles: list[tuple[CatalogModel, ModelProfile]] = []

    @classmethod
    def from_settings(cls, weights: Mapping[str, float], threshold: float | None) -> AutoRouter:
        """A router with the `academic` settings' weights and threshold."""
        try:
            selection_weights = SelectionWeights(**weights)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid setting academic.weights: {exc}") from None
        return cls(BenchmarkSelector(selection_weights), threshold=threshold)

    def _catalog_profiles(self, catalog: Catalog) -> list[tuple[CatalogModel, ModelProfile]]:
        # The catalog is immutable, so its profiles are built once.
        if self._profiled is not catalog:
            self._profiles = [(m, profile_of(m)) for m in catalog.all()]
            self._profiled = catalog
        return self._profiles

    def classify(self, inp: ChatInput) -> tuple[TaskClassification, Tier]:
        """The classification and the tier to route to (forced by `auto:<tier>`)."""
        max_tokens = inp.params.get("max_tokens") or inp.params.get("max_completion_tokens")
        classification = classify_task({"messages": inp.messages, "max_tokens": max_tokens})
        forced = FORCED_TIERS.get(inp.model)
        if forced is not None:
            return classification, forced
        if self.threshold is not None:
            return classification, "powerful" if classification.score >= self.threshold else "fast"
        return classification, classification.tier

    def _nothing_qualifies(
        self, tier: str, category: str, selection: Selection, candidates: list[Candidate]
    ) -> errors.GatewayError:
        """429 when every usable model cools down, 400 when none has the context, else 503."""
        details = {"excluded": selection.to_dict()["excluded"]}
        message = f"no model can serve this {tier} {category} request: {selection.reason}"
        usable = [c for c in candidates if c.available]
        now = self._clock()
        waits = [
            c.cooled_down_until - now
            for c in usable
            if c.cooled_down_until is not None and c.cooled_down_until > now
        ]
        if usable and len(waits) == len(usable):
            return errors.RateLimited(
                message, code="all_models_cooling_down", retry_after=min(waits), details=details
            )
        # The request itself is too big for every model that could take it: the client's
        # fault (400, as a provider says it), not the gateway's (503).
        why = dict(selection.excluded)
        if usable and all(why.get(c.name, "").startswith("context window") for c in usable):
            return errors.ContextWindowExceeded(message, details=details)
        return errors.AllAttemptsFailed(message, details=details)

    def plan(
        self, inp: ChatInput, catalog: Catalog, live: Mapping[str, ModelLiveState] | None = None
    ) -> RoutePlan:
        """Rank every catalog model for this request; the ranking is the fallback order.

        `live` is the shared state's snapshot (health, cooldowns, headroom) by model name; a
        model missing from it counts as healthy with its whole budget.
        """
        classification, tier = self.classify(inp)
        live = live or {}
        candidates = []
        for model, profile in self._catalog_profiles(catalog):
            available = not model.missing_env(self._env)
            state = live.get(model.name)
            if state is None:
                candidates.append(Candidate(profile=profile, available=available))
                continue
            candidates.append(
                Candidate(
                    profile=profile,
                    available=available,
                    healthy=state.healthy,
                    cooled_down_until=state.cooled_down_until,
                    headroom=state.headroom,
                    latency_p50_ms=state.latency_p50_ms,
                    error_rate=state.error_rate,
                )
            )
        max_tokens = inp.params.get("max_tokens") or 0
        selection = self.selector.select_model(
            candidates,
            tier=tier,
            category=classification.category,
            required_context=estimate_prompt_tokens(inp.messages) + int(max_tokens),
            now=self._clock(),
        )
        if selection.model is None:
            raise self._nothing_qualifies(tier, classification.category, selection, candidates)
        models = [m for name in selection.fallback_order if (m := catalog.get(name)) is not None]
        return RoutePlan(
            models=models,
            explicit=False,
            tier=tier,
            category=classification.category,
            classification=classification,
            selection=selection,
        )
