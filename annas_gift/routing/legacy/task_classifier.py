"""Academic task classifier: fast or powerful tier, task category, and the factors behind both.

Pipeline (all pure, deterministic, no I/O after import):

1. `analyze_complexity` flattens the request and counts evidence (features.py).
2. `calculate_factors` turns the counts into named factors in [0, 1].
3. `calculate_scores` combines them: the tier score is a logistic model over the factors
   (weights learned on public data where observable, documented priors elsewhere); the
   category is the argmax of hand-set evidence weights, its confidence a softmax probability.

Weights live in data/classifier_weights.json (written by scripts/train_classifier.py) and
are read once at import. See docs/routing.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import repeat
from operator import mul
from typing import Any, NamedTuple

from annas_gift.routing.legacy.classifier_model import (
    CATEGORY_BIAS,
    CATEGORY_WEIGHTS,
    DEFAULT_MODEL,
    DEFAULT_THRESHOLD,
    FACTOR_NAMES,
    PRIOR_TIER_BIAS,
    PRIOR_TIER_WEIGHTS,
    WEIGHTS_PATH,
    ClassifierModel,
    load_model,
    model_from_dict,
    prior_model,
)
from annas_gift.routing.legacy.cue_words import CUE_GROUPS
from annas_gift.routing.legacy.features import (
    TextCounts,
    flatten_request,
    scan_supporting,
    scan_text,
)
from annas_gift.routing.types import CATEGORIES, Category, Tier

# Re-exported: the classifier's public surface is this module.
__all__ = [
    "CATEGORY_BIAS",
    "CATEGORY_WEIGHTS",
    "DEFAULT_MODEL",
    "DEFAULT_THRESHOLD",
    "FACTOR_NAMES",
    "POWERFUL_THRESHOLD",
    "PRIOR_TIER_BIAS",
    "PRIOR_TIER_WEIGHTS",
    "WEIGHTS_PATH",
    "ClassifierModel",
    "Complexity",
    "Scores",
    "TaskClassification",
    "analyze_complexity",
    "calculate_factors",
    "calculate_scores",
    "classify_task",
    "factor_contributions",
    "load_model",
    "model_from_dict",
    "prior_model",
    "wording_value",
]

POWERFUL_THRESHOLD = DEFAULT_MODEL.threshold


@dataclass(frozen=True, slots=True)
class TaskClassification:
    """The classifier's verdict on one request."""

    tier: Tier
    category: Category
    confidence: float
    score: float
    factors: dict[str, float] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the shape the CLI and the API report)."""
        return {
            "tier": self.tier,
            "category": self.category,
            "confidence": self.confidence,
            "score": self.score,
            "factors": dict(self.factors),
        }


class Complexity(NamedTuple):
    """Counted evidence of one request: the task (last user turn) plus weighted context (earlier
    user turns and the last reply at half weight; the system prompt likewise, minus personas)."""

    task: TextCounts
    cues: tuple[float, ...]
    context_words: int
    context_fences: int
    system_words: int
    user_turns: int
    assistant_turns: int
    tool_messages: int
    images: int
    max_tokens: int


class Scores(NamedTuple):
    """Tier score, chosen category, its confidence and every category's probability."""

    score: float
    category: Category
    confidence: float
    category_probabilities: dict[Category, float]


# Earlier turns and the system prompt count at half weight: they set the topic, the last user
# turn sets the task. A persona or greeting in a system prompt is framing, not a request.
_CONTEXT_WEIGHT = 0.5
_SYSTEM_IGNORED = frozenset({CUE_GROUPS.index("roleplay"), CUE_GROUPS.index("chit_chat")})


def analyze_complexity(request: Any) -> Complexity:
    """Flatten a request (message list, or object/dict with messages) and count its evidence."""
    conv = flatten_request(request)
    task = scan_text(conv.task)
    cues: tuple[float, ...] = task.cues
    context_words = context_fences = system_words = 0
    for text in (conv.context, conv.reply):
        if text:
            ctx = scan_supporting(text)
            if text is conv.context:
                context_words = ctx.words
            context_fences += ctx.fences
            cues = tuple(a + _CONTEXT_WEIGHT * b for a, b in zip(cues, ctx.cues, strict=True))
    if conv.system:
        sys_counts = scan_supporting(conv.system)
        system_words = sys_counts.words
        cues = tuple(
            a if i in _SYSTEM_IGNORED else a + _CONTEXT_WEIGHT * b
            for i, (a, b) in enumerate(zip(cues, sys_counts.cues, strict=True))
        )
    return Complexity(
        task,
        cues,
        context_words,
        context_fences,
        system_words,
        conv.user_turns,
        conv.assistant_turns,
        conv.tool_messages,
        conv.images,
        conv.max_tokens,
    )


def _cap(x: float) -> float:
    return x if x < 1.0 else 1.0


def _clamp(x: float) -> float:
    return 0.0 if x <= 0.0 else (1.0 if x >= 1.0 else x)


def _sigmoid(z: float) -> float:
    # Split by sign so huge |z| never overflows math.exp.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


_LOG_LEN = math.log1p(1500)
_LOG_SYS = math.log1p(1000)
_LOG_OUT_LO = math.log(300)
_LOG_OUT_SPAN = math.log(5000) - _LOG_OUT_LO
(
    _CODE,
    _MATH,
    _PROOF,
    _REASON,
    _LOGIC,
    _STEPS,
    _CONSTR,
    _PASSAGE,
    _EXTRACT,
    _CREATIVE,
    _ROLE,
    _KNOW,
    _CHAT,
    _BRIEF,
    _LONG,
    _NUMW,
) = range(len(CUE_GROUPS))


def _output_size(words: float) -> float:
    """Requested answer size on a log scale: 300 words or less is 0, 5000 or more is 1."""
    return _clamp((math.log(words) - _LOG_OUT_LO) / _LOG_OUT_SPAN) if words > 0 else 0.0


def wording_value(tokens: frozenset[str], model: ClassifierModel) -> float:
    """The learned lexicon's probability that a prompt with these words needs the strong model."""
    if not tokens:
        return _sigmoid(model.lexicon_bias)
    total = sum(map(model.lexicon.get, tokens, repeat(0.0)))  # C-level loop: hot path
    return _sigmoid(model.lexicon_bias + total / math.sqrt(len(tokens)))


def _factor_values(c: Complexity, model: ClassifierModel) -> tuple[float, ...]:
    # Every count is non-negative, so _cap (an upper clamp) is enough.
    t, q = c.task, c.cues
    words = t.words + _CONTEXT_WEIGHT * c.context_words
    requested = t.requested_words
    short_cap = 0 < requested <= 80 or 0 < c.max_tokens <= 150
    quantities = t.numbers + q[_NUMW]
    # A multiple-choice question asks for one of its options: what its stem talks about
    # (a story, an argument, a proof) is its topic, not the shape of the requested answer.
    ask = 0.0 if t.choices >= 3 else 1.0
    # Beyond three sentences and one question, each extra one is a further step or demand.
    steps = q[_STEPS] + t.list_items + t.commas / 3
    if t.sentences > 3:
        steps += (t.sentences - 3) / 2
    if t.questions > 1:
        steps += t.questions - 1
    material = _cap(t.body_chars / 900)  # about 150 words of supplied text
    out_size = 0.0
    if requested or c.max_tokens:
        out_size = max(_output_size(requested), _output_size(0.75 * c.max_tokens))
    notation_unit = t.words / 5
    notation_unit = 2.0 if notation_unit < 2.0 else (6.0 if notation_unit > 6.0 else notation_unit)
    turns = c.user_turns + c.assistant_turns - 1
    return (
        _cap(math.log1p(words) / _LOG_LEN),
        # Code pasted earlier in the conversation still makes this a code conversation.
        _cap(
            0.6 * (t.fences >= 2)
            + 0.3 * (c.context_fences >= 2)
            + (t.code_lines + t.identifiers) / 6
        ),
        ask * _cap(q[_CODE] / 3),
        # Density-aware: one "%" in a five-word question is as telling as six in a paragraph.
        _cap(t.math_marks / notation_unit),
        _cap(quantities / 10),
        _cap(q[_MATH] / 4),
        # An open question stating several quantities in prose: its length tracks its steps.
        # Scaled to the range such problems span (15 to 150 words), so its weight can be learned.
        _clamp((t.words - 15) / 135) * _clamp((quantities - 1) / 3) * (t.choices < 2),
        ask * _cap(q[_PROOF] / 2),
        ask * _cap(q[_REASON] / 3),
        ask * _cap(q[_LOGIC] / 2),
        _cap(steps / 6),
        ask * _cap(q[_CONSTR] / 4),
        material * (0.4 + 0.6 * _cap((q[_PASSAGE] + q[_EXTRACT]) / 2)),
        ask * _cap(q[_EXTRACT] / 2),
        ask * _cap(q[_CREATIVE] / 2),
        ask * _cap(q[_ROLE]),
        _cap(q[_KNOW] / 4),
        _cap(t.choices / 4),
        ask * _cap(q[_CHAT] / 2) * (1.0 if t.words <= 30 else 30 / t.words),
        ask * _cap(q[_BRIEF] / 2 + short_cap),
        ask * _cap(out_size + q[_LONG] / 3),
        _cap(turns / 8) if turns > 0 else 0.0,
        _cap(math.log1p(c.system_words) / _LOG_SYS),
        _cap(c.images / 2),
        _cap(c.tool_messages / 3),
        wording_value(t.tokens, model),
    )


def calculate_factors(
    analysis: Complexity, model: ClassifierModel = DEFAULT_MODEL
) -> dict[str, float]:
    """Named factors in [0, 1] from the counted evidence."""
    return dict(zip(FACTOR_NAMES, _factor_values(analysis, model), strict=True))


# Sparse rows in CATEGORIES order: (bias, ((factor index, weight), ...)). A plain loop over
# these beats map/itemgetter tricks for rows of two to eight entries.
_CATEGORY_ROWS: tuple[tuple[float, tuple[tuple[int, float], ...]], ...] = tuple(
    (
        CATEGORY_BIAS.get(cat, 0.0),
        tuple((FACTOR_NAMES.index(n), w) for n, w in CATEGORY_WEIGHTS[cat].items()),
    )
    for cat in CATEGORIES
)


def _evidence(values: tuple[float, ...]) -> list[float]:
    """Category evidence (logits), in CATEGORIES order."""
    out = []
    for bias, row in _CATEGORY_ROWS:
        e = bias
        for i, w in row:
            e += values[i] * w
        out.append(e)
    return out


def _tier_score(values: tuple[float, ...], model: ClassifierModel) -> float:
    # map(mul) keeps the dot product in C: this runs on every request.
    return _sigmoid(model.tier_bias + sum(map(mul, values, model.tier_weights)))


def _best_category(evidence: list[float]) -> tuple[Category, float]:
    """Argmax category and its softmax probability; the first in CATEGORIES order wins a tie."""
    top = max(evidence)
    norm = 0.0
    for e in evidence:
        norm += math.exp(e - top)
    return CATEGORIES[evidence.index(top)], 1.0 / norm


def _scores(values: tuple[float, ...], model: ClassifierModel) -> Scores:
    evidence = _evidence(values)
    best, confidence = _best_category(evidence)
    top = max(evidence)
    exps = [math.exp(e - top) for e in evidence]
    norm = sum(exps)
    probs = {cat: x / norm for cat, x in zip(CATEGORIES, exps, strict=True)}
    return Scores(_tier_score(values, model), best, confidence, probs)


def calculate_scores(
    factors: Mapping[str, float], model: ClassifierModel = DEFAULT_MODEL
) -> Scores:
    """Tier score and category from named factors (missing factors count as 0)."""
    return _scores(tuple(float(factors.get(n, 0.0)) for n in FACTOR_NAMES), model)


def factor_contributions(
    factors: Mapping[str, float], model: ClassifierModel = DEFAULT_MODEL
) -> list[tuple[str, float, float]]:
    """(name, value, contribution to the score's logit), largest absolute contribution first."""
    rows = [
        (name, float(factors.get(name, 0.0)), float(factors.get(name, 0.0)) * w)
        for name, w in zip(FACTOR_NAMES, model.tier_weights, strict=True)
    ]
    return sorted(rows, key=lambda r: (-abs(r[2]), r[0]))


def classify_task(request: Any, model: ClassifierModel = DEFAULT_MODEL) -> TaskClassification:
    """Classify a chat request: tier, category, confidence, score and the factors behind them."""
    values = _factor_values(analyze_complexity(request), model)
    score = _tier_score(values, model)
    category, confidence = _best_category(_evidence(values))
    tier: Tier = "powerful" if score >= model.threshold else "fast"
    return TaskClassification(
        tier, category, confidence, score, dict(zip(FACTOR_NAMES, values, strict=True))
    )
