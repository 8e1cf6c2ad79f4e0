"""The learned task classifier's parameters, read once from data/task_classifier.json.

The artifact is written by scripts/train_classifier.py: per structural feature a tier weight
and six category weights (floats), and per n-gram key (crc32 of a word or word pair) the same
seven weights, quantised to int16 and stored base64 (stdlib `array`, no numpy at run time).
Both heads share one table, key -> (tier weight, six category weights): one look-up per n-gram.

The `meaning` block (optional in the artifact) holds, per word of the distilled word-vector
vocabulary (data/routing/word_vectors.json), that word's vector already projected on the seven
heads (int16, one scale): a request's meaning logits are the sum of its task words' rows / the
number of task words, the same mean-of-vectors dot product training fitted, with no vectors,
numpy or matrix product at run time. Those seven weights ride in seven more lanes of the same
packed int as the word's n-gram weights (`MEANING_SHIFT`), so one look-up per word serves both.

On the request path the seven int16 weights of a key are packed into one Python int, one
LANE_BITS-bit lane per weight (`packed`), so summing the n-grams of a request is one C-level
sum() of ints instead of seven column sums; `unpack` reads the seven sums back exactly.
"""

from __future__ import annotations

import base64
import json
import sys
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annas_gift.routing.features import HASH_BITS, STRUCTURAL
from annas_gift.routing.types import CATEGORIES

ARTIFACT_PATH = Path(__file__).with_name("data") / "task_classifier.json"

# Documented tier priors for features the labelled data never exercises. A proof request has no
# labelled example in the corpus (MATH train has one), yet "prove ..." is the clearest case of
# a task a fast model fails; +3 logits moves an otherwise average prompt to about p = 0.9.
PRIOR_TIER_WEIGHTS: dict[str, float] = {"proof_cue": 3.0}
# The same gap on the category side: "prove" in the corpus is mostly a reading passage's word
# ("it proves to be ..."), so a learned weight would point proofs at reading or knowledge. The
# prior gives a proof request +3 logits towards math and 0 elsewhere.
PRIOR_CATEGORY_WEIGHTS: dict[str, dict[str, float]] = {"proof_cue": {"math": 3.0}}

# Seven weights per feature: the tier logit, then one logit per category in CATEGORIES order.
Weights = tuple[float, ...]
WIDTH = 1 + len(CATEGORIES)
# A lane holds the sum of up to 65,536 int16 weights (a request's window has a few hundred).
LANE_BITS = 32
_HALF = 1 << (LANE_BITS - 1)
_MASK = (1 << LANE_BITS) - 1
# Adding HALF to every lane makes each lane's sum non-negative, so lanes never borrow.
_OFFSET = sum(_HALF << (LANE_BITS * j) for j in range(WIDTH))
_SHIFTS = tuple(LANE_BITS * j for j in range(WIDTH))
# The meaning weights of a word sit in lanes WIDTH .. 2 * WIDTH - 1 of its packed int. Carries
# and borrows only run upwards, so the lower seven lanes read back the same with or without them.
MEANING_SHIFT = LANE_BITS * WIDTH
_OFFSET_BOTH = _OFFSET + (_OFFSET << MEANING_SHIFT)
_SHIFTS_BOTH = tuple(LANE_BITS * j for j in range(2 * WIDTH))


def pack(quantised: Sequence[int]) -> int:
    """One int holding the seven int16 weights of an n-gram, one signed lane each."""
    return sum(q << shift for q, shift in zip(quantised, _SHIFTS, strict=True))


def unpack(total: int) -> list[int]:
    """The seven lane sums of a sum of packed ints (exact while each lane fits its bits)."""
    total += _OFFSET
    return [((total >> shift) & _MASK) - _HALF for shift in _SHIFTS]


def unpack_both(total: int) -> list[int]:
    """The fourteen lane sums (n-gram weights, then meaning weights) of a sum of packed ints."""
    total += _OFFSET_BOTH
    return [((total >> shift) & _MASK) - _HALF for shift in _SHIFTS_BOTH]


class ArtifactError(ValueError):
    """The classifier artifact does not match this code."""


@dataclass(frozen=True, slots=True)
class ClassifierModel:
    """Both heads of the classifier: weights per structural feature and per hashed bucket."""

    tier_bias: float
    platt_a: float
    platt_b: float
    threshold: float
    category_bias: tuple[float, ...]
    structural: tuple[Weights, ...]  # per STRUCTURAL feature
    training: Mapping[str, Any]
    # n-gram key -> its quantised weights, packed (see `pack`); a vocabulary word's meaning
    # weights in the lanes from MEANING_SHIFT on (0 for other keys).
    packed: Mapping[int, int]
    scale: float  # a packed lane sum times scale is the sum of the table's weights
    # Derived at load, for the request path: per head, the weights of all structural features;
    # per category, its weights less the six categories' mean (what sets it apart).
    heads: tuple[tuple[float, ...], ...] = ()
    centred: tuple[tuple[float, ...], ...] = ()
    # A meaning lane sum times meaning_scale / (task words) is the word vectors' logit share
    # (0.0: the artifact has no meaning block).
    meaning_scale: float = 0.0

    @property
    def table(self) -> dict[int, Weights]:
        """n-gram key -> its seven weights (floats), rebuilt from `packed` on each access.

        Not kept: the request path reads `packed` only, and a float table beside it would
        hold ~14 MB of tuples in every serving process for the tests and tools that read it.
        """
        scale = self.scale
        mask = (1 << MEANING_SHIFT) - 1
        return {
            key: tuple(q * scale for q in unpack(p)) for key, p in self.packed.items() if p & mask
        }

    @property
    def meaning_table(self) -> dict[int, tuple[int, ...]]:
        """word key -> its seven quantised meaning weights (times meaning_scale: logits per
        word before the division by the task's word count), rebuilt on each access."""
        rows = ((key, tuple(unpack_both(p)[WIDTH:])) for key, p in self.packed.items())
        return {key: row for key, row in rows if any(row)}

    def tier_weight(self, feature: str) -> float:
        """The tier-logit weight of one structural feature."""
        return self.structural[STRUCTURAL.index(feature)][0]


def _decode(text: str, typecode: str) -> array[int]:
    values = array(typecode, base64.b64decode(text))
    if sys.byteorder != "little":
        values.byteswap()
    return values


def model_from_dict(data: Mapping[str, Any]) -> ClassifierModel:
    """Build the model from the artifact's JSON; refuses an artifact made for other features."""
    if data.get("hash_bits") != HASH_BITS or tuple(data.get("structural", ())) != STRUCTURAL:
        raise ArtifactError("classifier artifact does not match features.py: re-train it")
    if tuple(data.get("categories", ())) != CATEGORIES:
        raise ArtifactError("classifier artifact has other categories: re-train it")
    tier, cat, hashed = data["tier"], data["category"], data["hashed"]
    columns = [tier["structural"], *cat["structural"]]
    structural = tuple(tuple(float(col[j]) for col in columns) for j in range(len(STRUCTURAL)))
    scale = float(hashed["scale"])
    buckets = _decode(hashed["buckets"], "I")
    weights = _decode(hashed["weights"], "h")
    width = WIDTH
    if len(weights) != width * len(buckets):
        raise ArtifactError("classifier artifact is truncated")
    rows = dict(
        zip(
            buckets,
            (weights[i * width : (i + 1) * width] for i in range(len(buckets))),
            strict=True,
        )
    )
    packed = {bucket: pack(row) for bucket, row in rows.items()}
    meaning_scale = 0.0
    if "meaning" in data:
        block = data["meaning"]
        words = _decode(block["keys"], "I")
        projected = _decode(block["weights"], "h")
        if len(projected) != width * len(words):
            raise ArtifactError("classifier artifact is truncated")
        for i, key in enumerate(words):
            lanes = pack(projected[i * width : (i + 1) * width]) << MEANING_SHIFT
            packed[key] = packed.get(key, 0) + lanes
        meaning_scale = float(block["scale"])
    a, b = tier["platt"]
    heads = tuple(tuple(w[j] for w in structural) for j in range(width))
    means = [sum(w[1:]) / len(CATEGORIES) for w in structural]
    centred = tuple(tuple(w - m for w, m in zip(head, means, strict=True)) for head in heads[1:])
    return ClassifierModel(
        tier_bias=float(tier["bias"]),
        platt_a=float(a),
        platt_b=float(b),
        threshold=float(tier["threshold"]),
        category_bias=tuple(float(v) for v in cat["bias"]),
        structural=structural,
        training=dict(data.get("training", {})),
        packed=packed,
        scale=scale,
        heads=heads,
        centred=centred,
        meaning_scale=meaning_scale,
    )


def load_model(path: Path = ARTIFACT_PATH) -> ClassifierModel:
    """Read the artifact shipped in the package (or another one)."""
    return model_from_dict(json.loads(path.read_text(encoding="utf-8")))
