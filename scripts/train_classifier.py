#!/usr/bin/env python
"""Train the task classifier's learned parts on the public RouteLLM data (pure Python).

    .venv/bin/python scripts/train_classifier.py [--data-dir DIR] [--out PATH]

Label: among GSM8K/MMLU prompts the strong model (GPT-4) answered correctly, 1 when the weak
model (Mixtral) failed ("only strong right"), 0 when it also succeeded ("both right").
Prompts both models failed, or only the weak one solved, say nothing about which tier to use
and are left out.

Split: `is_held_out` (crc32 of the prompt % 4 == 0) keeps 25% of prompts out of training
entirely; every choice below is made on the other 75% (cross-validation inside it), and the
held-out AUC is printed only as a report.

Stage 1, the wording lexicon: L2-regularised logistic regression on which words a prompt
contains (words seen in at least MIN_DOC_FREQ training prompts), sum scaled by
1/sqrt(#distinct words). Its out-of-fold predictions become the `wording` factor for stage 2,
so stage 2 never sees a lexicon that memorised the same prompt.

Stage 2, the tier weights: logistic regression over the named factors by Newton's method,
with a Gaussian prior centred on the documented prior weights (so thinly observed factors stay
near them, unobserved ones exactly at them) and each weight kept on its prior's side of zero,
so a factor never flips meaning because of a confound in these two benchmarks. The prior's
strength is picked by 5-fold cross-validated AUC on the training split.

Output: annas_gift/routing/data/classifier_weights.json (weights, lexicon, threshold and
training metadata; no prompts).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import zlib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annas_gift.routing.evaluate import default_data_dir, is_held_out, load_routellm, roc_auc
from annas_gift.routing.task_classifier import (
    DEFAULT_THRESHOLD,
    FACTOR_NAMES,
    PRIOR_TIER_BIAS,
    PRIOR_TIER_WEIGHTS,
    WEIGHTS_PATH,
    ClassifierModel,
    analyze_complexity,
    calculate_factors,
    prior_model,
    wording_value,
)

MIN_DOC_FREQ = 8
LEXICON_L2 = 0.01
LEXICON_EPOCHS = 12
LEXICON_PRUNE = (
    0.05  # weights smaller than this change no decision; leaving them out keeps the file small
)
FOLDS = 5
PRIOR_STRENGTHS = (1.0, 10.0, 100.0)
WORDING = FACTOR_NAMES.index("wording")
# Factors the data may move: GSM8K and MMLU exercise them the way real requests do. The rest
# either never occur in these benchmarks (code, dialogue, images, ...) or mean something else
# there ("why" in a question stem is not a request for reasoning), so they keep their priors.
LEARNED = frozenset(
    {
        "length",
        "quantities",
        "math_notation",
        "math_terms",
        "word_problem",
        "multi_step",
        "knowledge_terms",
        "multiple_choice",
        "passage",
        "wording",
    }
)


class Example:
    """One training prompt: its tokens, factor values and label."""

    __slots__ = ("benchmark", "factors", "fold", "label", "tokens")

    def __init__(self, prompt: str, benchmark: str, label: int) -> None:
        analysis = analyze_complexity([{"role": "user", "content": prompt}])
        self.tokens = analysis.task.tokens
        factors = calculate_factors(analysis, prior_model())
        self.factors = [factors[n] for n in FACTOR_NAMES]
        self.label = label
        self.benchmark = benchmark
        # A second, salted hash: folds must not line up with the held-out split.
        self.fold = zlib.crc32(b"fold:" + prompt.encode("utf-8")) % FOLDS


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def train_lexicon(examples: list[Example], vocab: frozenset[str]) -> tuple[float, dict[str, float]]:
    """SGD logistic regression on word presence; deterministic (fixed shuffle seed)."""
    weights: dict[str, float] = {}
    rate = sum(e.label for e in examples) / len(examples)
    bias = math.log(rate / (1 - rate))
    rows = [
        ([t for t in e.tokens if t in vocab], 1.0 / math.sqrt(max(1, len(e.tokens))), e.label)
        for e in examples
    ]
    order = list(range(len(rows)))
    rng = random.Random(20240611)
    lr = 0.1
    for _ in range(LEXICON_EPOCHS):
        rng.shuffle(order)
        for i in order:
            tokens, scale, label = rows[i]
            z = bias + scale * sum(weights.get(t, 0.0) for t in tokens)
            g = _sigmoid(z) - label
            bias -= lr * g
            for t in tokens:
                w = weights.get(t, 0.0)
                weights[t] = w - lr * (g * scale + LEXICON_L2 * w)
        lr *= 0.8
    return bias, weights


def lexicon_model(bias: float, weights: dict[str, float]) -> ClassifierModel:
    """A model carrying only a lexicon (for computing the wording factor)."""
    base = prior_model()
    return ClassifierModel(base.tier_bias, base.tier_weights, bias, weights)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve a x = b by Gaussian elimination with partial pivoting (a is small and SPD)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def train_tier(rows: list[tuple[list[float], int]], strength: float) -> tuple[float, list[float]]:
    """MAP logistic regression: Gaussian prior at the prior weights, signs kept (active set)."""
    prior = [PRIOR_TIER_WEIGHTS[n] for n in FACTOR_NAMES]
    k = len(prior)
    w = prior[:]
    bias = PRIOR_TIER_BIAS
    # Weights held fixed: unlearned factors at their prior, and any learned weight the data
    # wanted to flip past zero, at zero.
    pinned = {i for i, n in enumerate(FACTOR_NAMES) if n not in LEARNED}
    for _ in range(60):
        grad = [0.0] * (k + 1)
        hess = [[0.0] * (k + 1) for _ in range(k + 1)]
        for x, y in rows:
            p = _sigmoid(bias + sum(wi * xi for wi, xi in zip(w, x, strict=True)))
            g, h = p - y, p * (1 - p)
            xs = [*x, 1.0]
            nz = [i for i, v in enumerate(xs) if v]
            for i in nz:
                grad[i] += g * xs[i]
                hi = hess[i]
                for j in nz:
                    hi[j] += h * xs[i] * xs[j]
        for i in range(k):
            grad[i] += strength * (w[i] - prior[i])
            hess[i][i] += strength
        hess[k][k] += 1e-6
        free = [i for i in range(k + 1) if i not in pinned]
        step = _solve([[hess[i][j] for j in free] for i in free], [grad[i] for i in free])
        new = [*w, bias]
        for idx, s in zip(free, step, strict=True):
            new[idx] -= s
        moved = max(abs(s) for s in step)
        w, bias = new[:k], new[k]
        flipped = [i for i in range(k) if i not in pinned and prior[i] * w[i] < 0]
        for i in flipped:
            w[i] = 0.0
            pinned.add(i)
        if moved < 1e-7 and not flipped:
            break
    return bias, w


def _auc(scores: list[float], labels: list[int]) -> float:
    return roc_auc(scores, [bool(y) for y in labels])


def _tier_scores(rows: list[tuple[list[float], int]], bias: float, w: list[float]) -> list[float]:
    return [bias + sum(a * b for a, b in zip(w, x, strict=True)) for x, _ in rows]


def main() -> None:
    """Train both stages and write the weights file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()
    data_dir = args.data_dir or default_data_dir()

    train: list[Example] = []
    held: list[Example] = []
    for row in load_routellm(data_dir):
        if row.strong_correct:
            example = Example(row.prompt, row.benchmark, int(not row.weak_correct))
            (held if is_held_out(row.prompt) else train).append(example)
    print(f"training prompts: {len(train)}, held-out prompts: {len(held)}")

    doc_freq = Counter(t for e in train for t in e.tokens)
    # Words only: numbers say how much arithmetic there is (the quantities factor), not which
    # topic, and as lexicon entries they only add noise.
    vocab = frozenset(t for t, c in doc_freq.items() if c >= MIN_DOC_FREQ and t[0].isalpha())
    print(f"vocabulary: {len(vocab)} words seen in >= {MIN_DOC_FREQ} training prompts")

    # Stage 1, out of fold: each training prompt's wording comes from a lexicon not trained on it.
    for fold in range(FOLDS):
        bias, weights = train_lexicon([e for e in train if e.fold != fold], vocab)
        model = lexicon_model(bias, weights)
        for e in train:
            if e.fold == fold:
                e.factors[WORDING] = wording_value(e.tokens, model)
    lex_bias, lex_weights = train_lexicon(train, vocab)
    lexicon = {t: round(w, 3) for t, w in sorted(lex_weights.items()) if abs(w) >= LEXICON_PRUNE}
    final_lexicon = lexicon_model(lex_bias, lexicon)
    for e in held:
        e.factors[WORDING] = wording_value(e.tokens, final_lexicon)
    print(f"lexicon: {len(lexicon)} words kept (|weight| >= {LEXICON_PRUNE})")

    # Stage 2: pick the prior strength by cross-validated AUC on the training split only.
    rows = [(e.factors, e.label) for e in train]
    cv: dict[float, float] = {}
    for strength in PRIOR_STRENGTHS:
        scores: list[float] = []
        labels: list[int] = []
        benches: list[str] = []
        for fold in range(FOLDS):
            fit = [(e.factors, e.label) for e in train if e.fold != fold]
            test = [e for e in train if e.fold == fold]
            b, w = train_tier(fit, strength)
            scores += _tier_scores([(e.factors, e.label) for e in test], b, w)
            labels += [e.label for e in test]
            benches += [e.benchmark for e in test]
        cv[strength] = _auc(scores, labels)
        per = {
            bench: _auc(
                [s for s, b in zip(scores, benches, strict=True) if b == bench],
                [y for y, b in zip(labels, benches, strict=True) if b == bench],
            )
            for bench in ("gsm8k", "mmlu")
        }
        print(
            f"prior strength {strength:>6}: cross-validated AUC {cv[strength]:.4f} "
            f"(gsm8k {per['gsm8k']:.4f}, mmlu {per['mmlu']:.4f})"
        )
    strength = max(PRIOR_STRENGTHS, key=lambda s: (cv[s], s))
    tier_bias, tier_weights = train_tier(rows, strength)

    report: dict[str, dict[str, float]] = {}
    for name, examples in (("train", train), ("held_out", held)):
        report[name] = {}
        for bench in ("gsm8k", "mmlu", "overall"):
            sel = [e for e in examples if bench in ("overall", e.benchmark)]
            data = [(e.factors, e.label) for e in sel]
            auc = _auc(_tier_scores(data, tier_bias, tier_weights), [y for _, y in data])
            report[name][bench] = round(auc, 4)
    print(f"AUC train split: {report['train']}")
    print(f"AUC held-out (report only, not used for any choice): {report['held_out']}")

    out = {
        "format": 1,
        "about": "Anna's Gift task classifier weights; written by scripts/train_classifier.py. "
        "Tier score = sigmoid(tier.bias + sum(weight * factor)); wording factor = "
        "sigmoid(lexicon.bias + sum(lexicon weight of each distinct word) "
        "/ sqrt(#distinct words)).",
        "threshold": DEFAULT_THRESHOLD,
        "tier": {
            "bias": round(tier_bias, 4),
            "weights": {n: round(w, 4) for n, w in zip(FACTOR_NAMES, tier_weights, strict=True)},
            "prior_weights": PRIOR_TIER_WEIGHTS,
            "prior_strength": strength,
        },
        "lexicon": {"bias": round(lex_bias, 4), "weights": lexicon},
        "training": {
            "data": "routellm_gsm8k_mmlu.jsonl (RouteLLM GSM8K/MMLU, strong-model-correct rows)",
            "label": "1 = only the strong model was right, 0 = both were right",
            "split": "held out: crc32(prompt utf-8) % 4 == 0; trained on the rest",
            "train_prompts": len(train),
            "held_out_prompts": len(held),
            "min_doc_freq": MIN_DOC_FREQ,
            "lexicon_l2": LEXICON_L2,
            "cv_auc_by_prior_strength": {str(k): round(v, 4) for k, v in cv.items()},
            "auc": report,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
