"""The classifier's parameters: factor names, documented priors, category evidence weights,
and the learned tier weights and wording lexicon read once from data/classifier_weights.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annas_gift.routing.types import Category

WEIGHTS_PATH = Path(__file__).with_name("data") / "classifier_weights.json"

# The factors, in a fixed order (the weight vectors follow it). What each one measures is in
# docs/routing.md; every value is in [0, 1].
FACTOR_NAMES: tuple[str, ...] = (
    "length",
    "code_block",
    "code_terms",
    "math_notation",
    "quantities",
    "math_terms",
    "word_problem",
    "proof",
    "reasoning",
    "logic",
    "multi_step",
    "constraints",
    "passage",
    "extraction",
    "creative_writing",
    "roleplay",
    "knowledge_terms",
    "multiple_choice",
    "chit_chat",
    "brevity",
    "output_length",
    "conversation_depth",
    "system_prompt",
    "images",
    "tool_use",
    "wording",
)

# Prior tier weights (logit units per unit of factor). The training script starts from these,
# keeps each learned weight on its prior's side of zero, and pulls it back towards the prior;
# factors the public data never exercises (code, writing, dialogue, system prompts, images,
# tools, requested length) keep these values exactly.
PRIOR_TIER_WEIGHTS: dict[str, float] = {
    "length": 1.0,
    "code_block": 1.2,
    "code_terms": 1.0,
    "math_notation": 1.0,
    "quantities": 0.5,
    "math_terms": 0.5,
    "word_problem": 0.5,
    "proof": 2.5,
    "reasoning": 1.0,
    "logic": 1.0,
    "multi_step": 1.0,
    "constraints": 0.8,
    "passage": 0.5,
    "extraction": 0.0,
    "creative_writing": -0.5,
    "roleplay": -0.3,
    "knowledge_terms": 0.0,
    "multiple_choice": 0.0,
    "chit_chat": -2.0,
    "brevity": -1.0,
    "output_length": 1.5,
    "conversation_depth": 0.6,
    "system_prompt": 0.4,
    "images": 1.0,
    "tool_use": 1.0,
    "wording": 1.0,
}
PRIOR_TIER_BIAS = -1.8
# Policy, not fit: a request goes to the powerful tier once the fast model is expected to fail
# on about one in three (or more) of the requests like it that the powerful model gets right.
DEFAULT_THRESHOLD = 0.35

# Category evidence (hand-set, not learned: the labelled data covers only math and knowledge).
CATEGORY_WEIGHTS: dict[Category, dict[str, float]] = {
    "code": {"code_block": 4.0, "code_terms": 3.0, "tool_use": 1.0},
    "math": {
        "math_notation": 2.0,
        "quantities": 1.5,
        "math_terms": 2.5,
        "word_problem": 1.5,
        "proof": 2.0,
        "logic": 2.5,
        # Numbers inside a supplied passage are data to read, not a problem to solve.
        "passage": -1.5,
    },
    "knowledge": {"knowledge_terms": 2.5, "multiple_choice": 1.5, "reasoning": 1.0},
    "reading": {"passage": 4.0, "extraction": 2.0},
    "writing": {"creative_writing": 3.0, "roleplay": 3.0, "output_length": 0.5},
    # Small talk is short: without social cues, a longer message is a question, not chat.
    "chat": {"chit_chat": 3.0, "brevity": 0.3, "length": -2.0},
}
# With no evidence at all a short message is small talk and a longer one a knowledge question.
CATEGORY_BIAS: dict[Category, float] = {"chat": 0.8, "knowledge": 0.3}


@dataclass(frozen=True, slots=True)
class ClassifierModel:
    """Tier weights, the learned wording lexicon and the decision threshold."""

    tier_bias: float
    tier_weights: tuple[float, ...]
    lexicon_bias: float = 0.0
    lexicon: Mapping[str, float] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD

    def weight(self, name: str) -> float:
        """The tier weight of one factor."""
        return self.tier_weights[FACTOR_NAMES.index(name)]


def prior_model() -> ClassifierModel:
    """The model made of the documented priors alone (no learned lexicon)."""
    return ClassifierModel(PRIOR_TIER_BIAS, tuple(PRIOR_TIER_WEIGHTS[n] for n in FACTOR_NAMES))


def model_from_dict(data: Mapping[str, Any]) -> ClassifierModel:
    """Build a model from the weights file's JSON; factors it does not name keep their prior."""
    tier = data.get("tier", {})
    learned = tier.get("weights", {})
    weights = tuple(float(learned.get(n, PRIOR_TIER_WEIGHTS[n])) for n in FACTOR_NAMES)
    lexicon = data.get("lexicon", {})
    return ClassifierModel(
        tier_bias=float(tier.get("bias", PRIOR_TIER_BIAS)),
        tier_weights=weights,
        lexicon_bias=float(lexicon.get("bias", 0.0)),
        lexicon={str(k): float(v) for k, v in lexicon.get("weights", {}).items()},
        threshold=float(data.get("threshold", DEFAULT_THRESHOLD)),
    )


def load_model(path: Path = WEIGHTS_PATH) -> ClassifierModel:
    """Read a weights file; without one (before the first training run) use the priors."""
    if not path.is_file():
        return prior_model()
    return model_from_dict(json.loads(path.read_text(encoding="utf-8")))


DEFAULT_MODEL = load_model()
POWERFUL_THRESHOLD = DEFAULT_MODEL.threshold
