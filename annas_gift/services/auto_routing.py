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
from typing import NamedTuple

from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.core import errors
from annas_gift.core.types import ChatInput
from annas_gift.routing.benchmark_selector import (
    BenchmarkSelector,
    PreparedCatalog,
    Selection,
    SelectionWeights,
)
from annas_gift.routing.benchmarks import get_model_benchmarks
from annas_gift.routing.explanation import DecisionExplanation, explain_decision
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


def explain_plan(plan: RoutePlan) -> DecisionExplanation | None:
    """The plain-words explanation of an auto plan (None for an explicit model)."""
    if plan.classification is None or plan.selection is None:
        return None
    return explain_decision(plan.classification, plan.selection, plan.tier or "fast")


class _Prepared(NamedTuple):
    """The per-(catalog, environment) half of `plan`: ranking tables and who lacks keys."""

    catalog: Catalog
    table: PreparedCatalog
    unavailable: frozenset[str]  # the same object on every call: its hash is cached
    checked_at: float  # clock time the credentials were last looked up


# Provider keys can be set while the gateway runs; they are looked up again at most this often
# (a lookup is one environment read per model, too slow to repeat on every request).
ENV_RECHECK_S = 1.0


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
        self._prepared: _Prepared | None = None
        # Fallback model lists by ranking: a repeated decision reuses the list it built.
        self._models: dict[int, tuple[tuple[object, ...], list[CatalogModel]]] = {}

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
            # Embedding models cannot answer a chat: they are never chat candidates.
            self._profiles = [(m, profile_of(m)) for m in catalog.all() if m.mode == "chat"]
            self._profiled = catalog
        return self._profiles

    def _prepare(self, catalog: Catalog, now: float) -> _Prepared:
        """The ranking tables for this catalog, re-reading credentials when they may have moved."""
        ready = self._prepared
        fresh = ready is not None and now - ready.checked_at < ENV_RECHECK_S
        if ready is not None and fresh and ready.catalog is catalog:
            return ready
        pairs = self._catalog_profiles(catalog)
        table = self.selector.prepare([p for _, p in pairs])
        unavailable = frozenset(m.name for m, _ in pairs if m.missing_env(self._env))
        if ready is not None and ready.table is table and ready.unavailable == unavailable:
            unavailable = ready.unavailable  # keep the object whose hash the cache keys hold
        else:
            self._models.clear()
        self._prepared = _Prepared(catalog, table, unavailable, now)
        return self._prepared

    def refresh_credentials(self) -> None:
        """Look provider keys up again on the next plan (call after keys change at run time)."""
        self._prepared = None

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
        self,
        selection: Selection,
        unavailable: frozenset[str],
        live: Mapping[str, ModelLiveState] | None,
        now: float,
    ) -> errors.GatewayError:
        """429 when every usable model cools down, 400 when none has the context, else 503."""
        details = {"excluded": selection.to_dict()["excluded"]}
        message = (
            f"no model can serve this {selection.tier} {selection.category} request: "
            f"{selection.reason}"
        )
        usable = [name for name, _ in selection.excluded if name not in unavailable]
        waits = []
        for name in usable:
            state = live.get(name) if live else None
            until = state.cooled_down_until if state is not None else None
            if until is not None and until > now:
                waits.append(until - now)
        if usable and len(waits) == len(usable):
            return errors.RateLimited(
                message, code="all_models_cooling_down", retry_after=min(waits), details=details
            )
        # The request itself is too big for every model that could take it: the client's
        # fault (400, as a provider says it), not the gateway's (503).
        why = dict(selection.excluded)
        if usable and all(why.get(name, "").startswith("context window") for name in usable):
            return errors.ContextWindowExceeded(message, details=details)
        return errors.AllAttemptsFailed(message, details=details)

    def _fallback_models(self, selection: Selection, catalog: Catalog) -> list[CatalogModel]:
        # Keyed by the ranking tuple, which a cached decision shares (a cooldown refresh
        # copies the Selection, not its ranking); the stored ranking keeps the id from reuse.
        ranking = selection.ranking
        hit = self._models.get(id(ranking))
        if hit is not None and hit[0] is ranking:
            return list(hit[1])
        models = [m for name in selection.fallback_order if (m := catalog.get(name)) is not None]
        if len(self._models) >= 4096:
            self._models.clear()
        self._models[id(ranking)] = (ranking, models)
        return list(models)

    def plan(
        self, inp: ChatInput, catalog: Catalog, live: Mapping[str, ModelLiveState] | None = None
    ) -> RoutePlan:
        """Rank every catalog model for this request; the ranking is the fallback order.

        `live` is the shared state's snapshot (health, cooldowns, headroom) by model name; a
        model missing from it counts as healthy with its whole budget. Everything that depends
        only on the catalog is prepared once; an unchanged live state reuses the last ranking.
        """
        classification, tier = self.classify(inp)
        now = self._clock()
        ready = self._prepare(catalog, now)
        max_tokens = inp.params.get("max_tokens") or 0
        selection = ready.table.select(
            tier,
            classification.category,
            live=live,
            unavailable=ready.unavailable,
            required_context=estimate_prompt_tokens(inp.messages) + int(max_tokens),
            now=now,
        )
        if selection.model is None:
            raise self._nothing_qualifies(selection, ready.unavailable, live, now)
        return RoutePlan(
            models=self._fallback_models(selection, catalog),
            explicit=False,
            tier=tier,
            category=classification.category,
            classification=classification,
            selection=selection,
        )
