"""The whole `auto` decision in words a student can follow: tier, category, choice, runner-up.

Built from what the two pure pieces already computed: the classifier's own contributions
(`TaskClassification.factors`, logit units) and the selector's explanation of the winner
(`Selection.explanation`). Nothing here re-scores anything, so it cannot drift from the model;
the labels below only translate feature names into words (an unknown name is shown as is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annas_gift.routing.selection_types import Selection
from annas_gift.routing.task_classifier import TaskClassification

# Plain words for the classifier's feature names (routing/features.py STRUCTURAL + wording +
# meaning).
FACTOR_LABELS: dict[str, str] = {
    "wording": "the words used",
    "meaning": "what the words mean",
    "passage_words": "length of the text",
    "avg_word_length": "long words",
    "sentences": "number of sentences",
    "lines": "number of lines",
    "questions": "number of questions",
    "code_block": "a code block",
    "code_lines": "lines of code",
    "identifiers": "code names (like my_var or getValue)",
    "traceback": "an error traceback",
    "latex_density": "LaTeX math notation",
    "math_symbols": "math symbols",
    "numbers": "numbers",
    "number_density": "how many numbers",
    "proof_cue": "words like prove or theorem",
    "multiple_choice": "multiple-choice options",
    "list_items": "a list of items",
    "requested_length": "the length of answer asked for",
    "brevity_cue": "asking for a short answer",
    "max_tokens": "the max_tokens limit",
    "context_words": "earlier conversation",
    "conversation_turns": "number of turns",
    "system_prompt": "a system prompt",
    "tools": "tools",
    "images": "images",
}
TOP = 3  # factors named in the summary sentence


@dataclass(frozen=True, slots=True)
class Factor:
    """One named feature and how much it pushed the decision (logit units; + = more)."""

    name: str
    label: str
    contribution: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "label": self.label, "contribution": self.contribution}


@dataclass(frozen=True, slots=True)
class DecisionExplanation:
    """Why `auto` routed a request where it did (see the module docstring)."""

    summary: str
    tier: str
    tier_reason: str
    category: str
    category_reason: str
    factors: tuple[Factor, ...]  # towards "needs a powerful model" (+) or "fast is enough" (-)
    category_factors: tuple[Factor, ...]  # what set the category apart from the others
    model: str | None
    choice_reason: str
    decided_by: str | None
    benchmark: str | None
    benchmark_label: str | None
    model_value: float | None  # on that benchmark, 0..100 points (an arena Elo mapped)
    model_value_estimated: bool
    runner_up: str | None
    runner_up_value: float | None
    runner_up_value_estimated: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API's `explanation`)."""
        return {
            "summary": self.summary,
            "tier": self.tier,
            "tier_reason": self.tier_reason,
            "category": self.category,
            "category_reason": self.category_reason,
            "factors": [f.to_dict() for f in self.factors],
            "category_factors": [f.to_dict() for f in self.category_factors],
            "model": self.model,
            "choice_reason": self.choice_reason,
            "decided_by": self.decided_by,
            "benchmark": self.benchmark,
            "benchmark_label": self.benchmark_label,
            "model_value": _round(self.model_value),
            "model_value_estimated": self.model_value_estimated,
            "runner_up": self.runner_up,
            "runner_up_value": _round(self.runner_up_value),
            "runner_up_value_estimated": self.runner_up_value_estimated,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _factors(contributions: dict[str, float]) -> tuple[Factor, ...]:
    # The classifier hands them over largest first; keep that order.
    return tuple(
        Factor(name, FACTOR_LABELS.get(name, name.replace("_", " ")), value)
        for name, value in contributions.items()
    )


def _named(factors: tuple[Factor, ...], sign: int) -> str:
    pushing = [f for f in factors if f.contribution * sign > 0][:TOP]
    return ", ".join(f"{f.label} ({f.contribution:+.2f})" for f in pushing)


def _tier_reason(c: TaskClassification, tier: str, factors: tuple[Factor, ...]) -> str:
    chance = f"the chance that a fast model is not enough at {c.score:.0%}"
    if tier != c.tier:  # auto:fast / auto:powerful, or a configured threshold
        return f"The {tier} tier was asked for; the classifier alone put {chance}."
    if tier == "powerful":
        because = _named(factors, 1)
        text = f"This request needs a powerful model: the classifier puts {chance}"
        return text + (f", mostly because of {because}." if because else ".")
    # A fast verdict is the default (a negative bias); name what pulled further that way.
    easy = _named(factors, -1)
    text = f"A fast model is enough for this request: the classifier puts {chance}"
    return text + (f"; signs of an easy request: {easy}." if easy else ".")


def explain_decision(
    classification: TaskClassification, selection: Selection, tier: str
) -> DecisionExplanation:
    """The decision explained: the classifier's top factors, the deciding benchmark, runner-up."""
    factors = _factors(classification.factors)
    category_factors = _factors(classification.category_factors)
    tier_reason = _tier_reason(classification, tier, factors)
    cues = _named(category_factors, 1)
    category_reason = (
        f"It looks like a {classification.category} request "
        f"({classification.confidence:.0%} sure)" + (f", because of {cues}." if cues else ".")
    )
    picked = selection.explanation
    choice = picked.summary if picked is not None else selection.reason
    lead = f"Sent to {selection.model}." if selection.model else "No model could take it."
    return DecisionExplanation(
        summary=" ".join((lead, tier_reason, category_reason, choice)),
        tier=tier,
        tier_reason=tier_reason,
        category=classification.category,
        category_reason=category_reason,
        factors=factors,
        category_factors=category_factors,
        model=selection.model,
        choice_reason=choice,
        decided_by=picked.decided_by if picked else None,
        benchmark=picked.benchmark if picked else None,
        benchmark_label=picked.benchmark_label if picked else None,
        model_value=picked.winner_value if picked else None,
        model_value_estimated=picked.winner_imputed if picked else False,
        runner_up=picked.runner_up if picked else None,
        runner_up_value=picked.runner_up_value if picked else None,
        runner_up_value_estimated=picked.runner_up_imputed if picked else False,
    )
