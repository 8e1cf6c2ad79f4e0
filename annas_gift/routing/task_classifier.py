"""The learned task classifier: tier (does a fast model suffice?) and category of a chat request.

Two linear heads over the same features (features.py): the tier head gives a calibrated
probability that a fast model is not enough, the category head a six-way softmax. Inference is
pure Python: the weight vectors of the task's words and word pairs are looked up in one table
and summed, the structural features enter as named weights. `factors` are the model's own
largest contributions to the tier logit; nothing is hand-listed beside the model. Parameters:
data/task_classifier.json, read once at import (scripts/train_classifier.py writes it;
docs/routing.md describes the training).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import compress
from operator import itemgetter, mul, neg
from typing import Any

from annas_gift.routing.classifier_model import (
    ARTIFACT_PATH,
    ClassifierModel,
    load_model,
    model_from_dict,
    unpack,
    unpack_both,
)
from annas_gift.routing.conversation import flatten_request
from annas_gift.routing.features import (
    STRUCTURAL,
    TokenUnit,
    read_task,
    structural_features,
    token_units,
)
from annas_gift.routing.types import CATEGORIES, Category, Tier

__all__ = [
    "ARTIFACT_PATH",
    "DEFAULT_MODEL",
    "MEANING",
    "POWERFUL_THRESHOLD",
    "TOP_FACTORS",
    "WORDING",
    "ClassifierModel",
    "TaskClassification",
    "classify_task",
    "load_model",
    "model_from_dict",
    "scores",
]

WORDING = "wording"  # the factor name of all hashed word/character n-grams together
MEANING = "meaning"  # the factor name of the word-vector (mean embedding) block together
TOP_FACTORS = 6
_WIDTH = 1 + len(CATEGORIES)


@dataclass(frozen=True, slots=True)
class TaskClassification:
    """The classifier's verdict on one request.

    `factors`: the largest contributions to the tier logit (feature name -> logit units);
    `category_factors`: what set the chosen category apart (its logit minus the mean of all).
    """

    tier: Tier
    category: Category
    confidence: float
    score: float
    factors: dict[str, float] = field(hash=False)
    threshold: float = 0.5
    # The category factors are worked out when read: only explanations read them (the native
    # API, /classify, the CLI), not an OpenAI-route request or its stored record, and they cost
    # about a ninth of a short prompt's classification (37k of 324k instructions). Not compared:
    # they follow from the same request.
    category_parts: Callable[[], dict[str, float]] | None = field(
        default=None, compare=False, hash=False, repr=False
    )

    @property
    def category_factors(self) -> dict[str, float]:
        """What set the chosen category apart (its logit minus the mean of all six)."""
        return self.category_parts() if self.category_parts is not None else {}

    @property
    def explanation(self) -> list[str]:
        """The decision in a few plain sentences, naming the top factors."""
        need = "needs" if self.tier == "powerful" else "does not need"
        return [
            f"{self.tier} tier: this request {need} a powerful model "
            f"(estimated chance a fast model is not enough: {self.score:.0%}, "
            f"powerful from {self.threshold:.0%}).",
            "Tier factors: " + _describe(self.factors) + ".",
            f"Category {self.category} ({self.confidence:.0%} likely): "
            + _describe(self.category_factors)
            + ".",
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the shape the CLI and the API report)."""
        return {
            "tier": self.tier,
            "category": self.category,
            "confidence": self.confidence,
            "score": self.score,
            "factors": dict(self.factors),
            "category_factors": dict(self.category_factors),
            "explanation": self.explanation,
        }


def _describe(contributions: dict[str, float]) -> str:
    if not contributions:
        return "none stood out"
    return ", ".join(
        f"{name.replace('_', ' ')} {'raises' if v > 0 else 'lowers'} it ({v:+.2f})"
        for name, v in contributions.items()
    )


def _sigmoid(z: float) -> float:
    # Split by sign so a huge |z| never overflows math.exp.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


_NO_MEANING = (0.0,) * _WIDTH


def _logit_shares(
    units: tuple[TokenUnit, ...], words: int, model: ClassifierModel
) -> tuple[list[float], Sequence[float]]:
    """(the n-grams' share of the seven logits, the word vectors' share) of a request.

    One dict look-up per word and per pair and one C-level sum of packed ints per unit give
    both: the n-gram lanes of every unit at its scale, and the meaning lanes of the task unit
    (the first) over its `words` words, training's mean of the task words' vectors."""
    total = [0.0] * _WIDTH
    meaning: Sequence[float] = _NO_MEANING
    get = model.packed.get
    for i, ((unigrams, bigrams), scale) in enumerate(units):
        packed = sum(filter(None, map(get, unigrams))) + sum(filter(None, map(get, bigrams)))
        if packed:
            # Earlier turns' meaning lanes are not read: their seven n-gram lanes suffice.
            lanes = unpack_both(packed) if i == 0 and model.meaning_scale else unpack(packed)
            factor = scale * model.scale
            for j in range(_WIDTH):
                total[j] += lanes[j] * factor
            if len(lanes) > _WIDTH:
                share = model.meaning_scale / words
                meaning = [q * share for q in lanes[_WIDTH:]]
    return total, meaning


def _parts(
    request: Any, model: ClassifierModel
) -> tuple[list[float], Sequence[float], list[float]]:
    """(the n-grams' share of the seven logits, the word vectors' share, the structural
    feature values) of a request."""
    conv = flatten_request(request)
    view = read_task(conv)
    hashed, meaning = _logit_shares(token_units(conv, view), len(view.words), model)
    return hashed, meaning, structural_features(conv, view)


def scores(request: Any, model: ClassifierModel) -> tuple[list[float], list[float]]:
    """(the seven logits, the structural feature values) of a request."""
    hashed, meaning, values = _parts(request, model)
    biases = (model.tier_bias, *model.category_bias)
    # map(mul) keeps the seven dot products in C.
    logits = [
        h + m + b + sum(map(mul, values, head))
        for h, m, b, head in zip(hashed, meaning, biases, model.heads, strict=True)
    ]
    return logits, values


def _round4(x: float) -> float:
    """round(x, 4), without its decimal conversion where that gives the same float.

    round(x * 1e4) / 1e4 equals round(x, 4) unless x * 1e4 lies within its rounding error
    (below 1e-7 for |x * 1e4| < 1e9) of a half, where the rounded product could fall on the
    other side: those, huge values and NaN take round() itself. Exact ties (x = m / 32)
    multiply exactly and round half to even alike."""
    y = x * 10_000.0
    if -1e9 < y < 1e9:
        k = round(y)
        if abs(abs(y - k) - 0.5) > 1e-6:
            return k / 10_000.0
    return round(x, 4)


def _top(
    names: tuple[str, ...], parts: list[float], rest: float, meaning: float
) -> dict[str, float]:
    """The TOP_FACTORS largest contributions, `wording` (the n-grams' share) and `meaning`
    (the word vectors' share) among them.

    Sorted by size (ties by name); rounded to 4 places, those that round to 0 left out."""
    # (-|v|, name, v) tuples sort in C, largest first, without a key function. A part of 0
    # sorts after every other one and rounds to 0, so it needs no filter of its own.
    ranked = [
        (-abs(rest), WORDING, rest),
        (-abs(meaning), MEANING, meaning),
        *zip(map(neg, map(abs, parts)), names, parts, strict=True),
    ]
    ranked.sort()
    out = {}
    for _, name, value in ranked[:TOP_FACTORS]:
        rounded = _round4(value)
        if rounded:
            out[name] = rounded
    return out


def _live(values: list[float]) -> itemgetter[Any] | None:
    """A getter of the entries of a row at the non-zero structural values (None: all are 0).

    Most features are 0 for any one request; the dot products and the factors read only the
    others. Leaving out 0 * w terms leaves a float sum unchanged bit for bit (x + 0.0 == x)."""
    live = compress(range(len(values)), values)
    return itemgetter(*live, 0) if any(values) else None


def _pick(getter: itemgetter[Any] | None, row: Sequence[Any]) -> tuple[Any, ...]:
    # The getter reads one extra entry (index 0) so that it always returns a tuple.
    return getter(row)[:-1] if getter is not None else ()


def classify_task(request: Any, model: ClassifierModel | None = None) -> TaskClassification:
    """Classify a chat request: tier, category, confidence, score and the factors behind them."""
    model = model or DEFAULT_MODEL
    return _verdict(*_parts(request, model), model)


def _verdict(
    hashed: list[float], meaning: Sequence[float], values: list[float], model: ClassifierModel
) -> TaskClassification:
    """The classification from the n-grams' and word vectors' shares of the logits and the
    structural values."""
    getter = _live(values)
    names = _pick(getter, STRUCTURAL)
    live_values = _pick(getter, values)
    heads = model.heads
    tier_parts = list(map(mul, live_values, _pick(getter, heads[0])))
    tier_logit = hashed[0] + meaning[0] + model.tier_bias + sum(tier_parts)
    score = _sigmoid(model.platt_a * tier_logit + model.platt_b)
    cat_hashed = hashed[1:]
    cat_meaning = meaning[1:]
    cat_logits = [
        h + m + b + sum(map(mul, live_values, _pick(getter, head)))
        for h, m, b, head in zip(
            cat_hashed, cat_meaning, model.category_bias, heads[1:], strict=True
        )
    ]
    top = max(cat_logits)
    best = cat_logits.index(top)
    norm = sum(map(math.exp, [x - top for x in cat_logits]))
    # What set the category apart: its logit less the six categories' mean, split into the
    # structural parts, the n-grams' and the word vectors' shares (the biases' difference is no
    # factor).
    cat_rest = cat_hashed[best] - sum(cat_hashed) / len(CATEGORIES)
    cat_sense = cat_meaning[best] - sum(cat_meaning) / len(CATEGORIES)
    centred = _pick(getter, model.centred[best])
    return TaskClassification(
        tier="powerful" if score >= model.threshold else "fast",
        category=CATEGORIES[best],
        confidence=1.0 / norm,
        score=score,
        factors=_top(names, tier_parts, hashed[0], meaning[0]),
        threshold=model.threshold,
        category_parts=partial(_category_top, names, live_values, centred, cat_rest, cat_sense),
    )


def _category_top(
    names: tuple[str, ...],
    live_values: tuple[float, ...],
    centred: tuple[float, ...],
    rest: float,
    sense: float,
) -> dict[str, float]:
    return _top(names, list(map(mul, live_values, centred)), rest, sense)


DEFAULT_MODEL = load_model()
POWERFUL_THRESHOLD = DEFAULT_MODEL.threshold
