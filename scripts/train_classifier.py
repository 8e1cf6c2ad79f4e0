#!/usr/bin/env python
"""Train the task classifier on the vendored corpus and write its artifact.

    .venv/bin/python scripts/train_classifier.py [--data-dir data/routing] [--out PATH]

Needs the `train` extra (scikit-learn); the gateway never imports it. Features come from
annas_gift.routing.features, the very functions inference uses.

* Rows: data/routing/train/*.jsonl.gz, training split only (annas_gift.routing.corpus: a fixed
  fifth of templates / groups / prompts is validation and is never seen here). The RouteLLM
  (GSM8K test, MMLU test) and MT-Bench files are evaluation data and are not read.
* Augmentation: MC question stems without their options, MATH without LaTeX markup (augment).
* Category head: multinomial logistic regression over all training rows, each source weighted
  by 1/sqrt(its size) so big sources (GSM8K, MATH) do not drown small ones. Besides the hashed
  and structural features it reads 48 dense `meaning` features: the mean of the task words'
  static vectors (data/routing/word_vectors.json, made by scripts/distill_word_vectors.py,
  which needs its own venv; this script reads the vendored file with numpy only) times
  MEANING_SCALE = 8 (chosen by leave-one-source-out accuracy, scripts/loso_classifier.py).
  The tier head does not read them (TIER_MEANING: they lowered its ARC AUC).
* Tier head: logistic regression with soft, level-aware targets (tier_target): MATH level L
  is the ordinal target (L - 1) / 4 (level 3 included, at 0.5), ARC-Challenge and Exercism
  8-10 are 1, ARC-Easy, Exercism 1-3 and the priors (chat, MBPP, CoNaLa one-liners) 0. A soft
  target t is one row counted t times positive and 1 - t times negative. MATH rows weigh
  MATH_WEIGHT times as much: their strong signal then meets less regularisation than ARC's
  weak one (which over-fits at higher C). Then Platt calibration on 5-fold out-of-fold scores
  of the rows with a tier label (folds by split key). `proof_cue` has no labelled examples, so
  its weights are the documented priors (PRIOR_TIER_WEIGHTS, PRIOR_CATEGORY_WEIGHTS), not learned.
* Threshold: the cut on the calibrated probability with the best balanced accuracy out of fold.
* Artifact: annas_gift/routing/data/task_classifier.json: structural weights as floats, hashed
  n-gram weights quantised to int16 (buckets seen in >= MIN_DF training prompts), base64; the
  `meaning` block: every vocabulary word's vector projected on the seven heads, int16, so the
  request path needs no vectors and no matrix product.
  BLAS runs single-threaded, so the same data gives the same file on one machine; the
  recorded slice check ties the artifact to the script and data within float tolerance.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import functools
import hashlib
import json
import math
import sys
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annas_gift.routing.classifier_model import (
    ARTIFACT_PATH,
    PRIOR_CATEGORY_WEIGHTS,
    PRIOR_TIER_WEIGHTS,
)
from annas_gift.routing.conversation import flatten_request
from annas_gift.routing.corpus import TRAIN_DIR, CorpusRow, default_data_dir, load_corpus
from annas_gift.routing.features import (
    HASH_BITS,
    STRUCTURAL,
    hashed_features,
    read_task,
    structural_features,
)
from annas_gift.routing.types import CATEGORIES

MIN_DF = 5
# Buckets whose category weights are all smaller than PRUNE and whose tier weight is smaller
# than PRUNE_TIER change no decision; dropping them keeps the artifact near 1 MB. The tier
# weights are smaller (stronger regularisation), so they get the finer cut.
PRUNE = 0.05
PRUNE_TIER = 0.005
SLICE = 30  # rows per source in the quick re-train whose digest the artifact records
CATEGORY_C = 1.0
TIER_C = 0.2
MATH_WEIGHT = 4.0
FOLDS = 5
QUANT = 32767
SEED = 0
# Dense `meaning` features: the mean over the task's words of their static vectors
# (data/routing/word_vectors.json, scripts/distill_word_vectors.py), times MEANING_SCALE (a
# larger scale is a weaker L2 penalty on the block; chosen by LOSO). 0 leaves them out.
WORD_VECTORS = Path(__file__).resolve().parents[1] / "data" / "routing" / "word_vectors.json"
MEANING_SCALE = 8.0
# The tier head leaves the meaning columns out: with them its out-of-fold ARC AUC fell (0.592 ->
# 0.586 at scale 8) and validation ARC 0.644 -> 0.624 (docs/routing.md); MATH did not move.
TIER_MEANING = False


@functools.cache
def word_vectors(path: Path = WORD_VECTORS) -> tuple[dict[int, int], np.ndarray]:
    """(word key -> row, the dequantised vectors) of the vendored word-vector table."""
    data = json.loads(path.read_text(encoding="utf-8"))
    keys = np.frombuffer(base64.b64decode(data["keys"]), dtype="<u4")
    q = np.frombuffer(base64.b64decode(data["vectors"]), dtype="i1").reshape(len(keys), -1)
    vectors = q.astype(np.float64) * np.asarray(data["scales"], dtype=np.float64)
    return {int(k): i for i, k in enumerate(keys)}, vectors


def meaning_features(convs: list[Any], scale: float | None = None) -> np.ndarray:
    """Per request: scale x the sum of its task words' vectors / the number of task words (the
    window's words, as the hashed features count them; words without a vector add 0). Pair
    keys are looked up too: the request path reads one table for words and pairs, so a pair
    whose crc32 equals a vocabulary word's (practically never) counts there as well."""
    scale = MEANING_SCALE if scale is None else scale
    index, vectors = word_vectors()
    out = np.zeros((len(convs), vectors.shape[1]))
    for i, conv in enumerate(convs):
        view = read_task(conv)
        rows = [index[k] for k in view.unigrams + view.bigrams if k in index]
        if rows:
            out[i] = vectors[rows].sum(axis=0) * (scale / len(view.words))
    return out


def augment(rows: list[CorpusRow]) -> list[CorpusRow]:
    """Training rows plus plainer renderings of two sources, so style does not stand in for task.

    The knowledge sources are almost all multiple choice: their question stem alone is added
    (same label), or every open question would look like chat. MATH is written in LaTeX: a copy
    without `$` and backslashes is added, or "prove that sqrt(2) is irrational" looks unlike math.
    """
    out = list(rows)
    for r in rows:
        if r.source in ("arc_easy", "arc_challenge", "openbookqa") and "\nA. " in r.prompt:
            out.append(dataclasses.replace(r, prompt=r.prompt.split("\nA. ", 1)[0]))
        elif r.source == "hendrycks_math" and ("$" in r.prompt or "\\" in r.prompt):
            plain = r.prompt.replace("$", "").replace("\\", "")
            out.append(dataclasses.replace(r, prompt=plain))
    return out


def featurize(rows: list[CorpusRow]) -> tuple[list[dict[int, float]], np.ndarray]:
    """Hashed features of each row's prompt, and its structural features followed by the
    meaning features (when MEANING_SCALE is not 0) as one dense array."""
    hashed, structural, convs = [], [], []
    for row in rows:
        conv = flatten_request(row.prompt)
        convs.append(conv)
        hashed.append(hashed_features(conv))
        structural.append(structural_features(conv))
    dense = np.asarray(structural, dtype=np.float64)
    if MEANING_SCALE:
        dense = np.hstack([dense, meaning_features(convs)])
    return hashed, dense


def build_matrix(
    hashed: list[dict[int, float]], structural: np.ndarray, columns: dict[int, int]
) -> sparse.csr_matrix:
    """[kept hashed buckets | structural] as one sparse matrix."""
    data, indices, indptr = [], [], [0]
    n_hash = len(columns)
    for i, feats in enumerate(hashed):
        for bucket in sorted(feats):
            col = columns.get(bucket)
            if col is not None:
                data.append(feats[bucket])
                indices.append(col)
        for j, value in enumerate(structural[i]):
            if value:
                data.append(float(value))
                indices.append(n_hash + j)
        indptr.append(len(data))
    return sparse.csr_matrix(
        (np.asarray(data), np.asarray(indices), np.asarray(indptr)),
        shape=(len(hashed), n_hash + structural.shape[1]),
    )


def source_weights(rows: list[CorpusRow]) -> np.ndarray:
    """Per-row weights, mean 1: within a category each source's total weight grows with
    sqrt(its size) (GSM8K's 7,000 rows do not drown a source of 100), and every category has
    the same total weight (class-balanced: math's 15,000 rows do not out-vote chat's 3,000)."""
    sizes = Counter(r.family for r in rows)
    w = np.asarray([1.0 / math.sqrt(sizes[r.family]) for r in rows])
    cats = np.asarray([CATEGORIES.index(r.category) for r in rows])
    totals = np.bincount(cats, weights=w, minlength=len(CATEGORIES))
    w = w / totals[cats]
    return w * (len(w) / w.sum())


def fit_category(
    x: sparse.csr_matrix, rows: list[CorpusRow], c: float, tol: float = 1e-4
) -> LogisticRegression:
    """The six-way category head on the given rows."""
    y = np.asarray([CATEGORIES.index(r.category) for r in rows])
    model = LogisticRegression(C=c, max_iter=2000, tol=tol)
    return model.fit(x, y, sample_weight=source_weights(rows))


def tier_target(row: CorpusRow, soft: bool = True) -> float | None:
    """The tier head's target: P(a fast model is not enough), or None for no label.

    soft=False: the binary labels alone (MATH level 3 unlabelled), as the first passes had."""
    if (
        soft
        and row.source == "hendrycks_math"
        and row.difficulty
        and row.difficulty[-1:] in "12345"
    ):
        return (int(row.difficulty[-1]) - 1) / 4
    if row.tier is None:
        return None
    return 1.0 if row.tier == "powerful" else 0.0


def fit_tier(
    x: sparse.csr_matrix,
    rows: list[CorpusRow],
    c: float = TIER_C,
    math_weight: float = MATH_WEIGHT,
    soft: bool = True,
) -> LogisticRegression:
    """The tier head on the rows with a target; a soft target t is a positive row of weight t
    and a negative row of weight 1 - t."""
    picked, labels, weights = [], [], []
    for i, row in enumerate(rows):
        t = tier_target(row, soft)
        if t is None:
            continue
        w = math_weight if row.source == "hendrycks_math" else 1.0
        for label, share in ((1, t), (0, 1.0 - t)):
            if share > 0:
                picked.append(i)
                labels.append(label)
                weights.append(w * share)
    model = LogisticRegression(C=c, max_iter=3000, tol=1e-4)
    return model.fit(x[picked], np.asarray(labels), sample_weight=np.asarray(weights))


def hashed_columns(hashed: list[dict[int, float]], min_df: int) -> list[int]:
    """The n-gram keys seen in at least min_df prompts, sorted."""
    df: Counter[int] = Counter()
    for feats in hashed:
        df.update(feats.keys())
    return sorted(b for b, n in df.items() if n >= min_df)


def platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(a, b) with p = sigmoid(a * score + b), fit by logistic regression on one feature."""
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(scores.reshape(-1, 1), labels)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def best_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    """The probability cut with the highest balanced accuracy (two decimals)."""
    best, best_t = -1.0, 0.5
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        pred = probs >= t
        tpr = (pred & labels).sum() / labels.sum()
        tnr = (~pred & ~labels).sum() / (~labels).sum()
        if (tpr + tnr) / 2 > best:
            best, best_t = (tpr + tnr) / 2, float(t)
    return best_t


def data_digest(data_dir: Path) -> str:
    """sha256 over the training files' names and bytes."""
    h = hashlib.sha256()
    for path in sorted((data_dir / TRAIN_DIR).glob("*.jsonl.gz")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _b64(values: array) -> str:
    if sys.byteorder != "little":
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def train(data_dir: Path, limit_per_source: int | None = None) -> dict[str, object]:
    """Fit both heads and return the artifact as a JSON-ready dict."""
    # One BLAS thread: a multi-threaded reduction order would change the last bits run to run.
    with threadpool_limits(limits=1):
        return _train(data_dir, limit_per_source)


def first_per_family(rows: list[CorpusRow], limit: int) -> list[CorpusRow]:
    """The first `limit` rows of every source family, in order (small runs that repeat)."""
    seen: Counter[str] = Counter()
    kept = []
    for r in rows:
        seen[r.family] += 1
        if seen[r.family] <= limit:
            kept.append(r)
    return kept


def _train(data_dir: Path, limit_per_source: int | None) -> dict[str, object]:
    rows = [r for r in load_corpus(data_dir) if not r.validation]
    if limit_per_source is not None:
        rows = first_per_family(rows, limit_per_source)
    rows = augment(rows)
    hashed, structural = featurize(rows)
    kept_buckets = hashed_columns(hashed, MIN_DF)
    columns = {b: i for i, b in enumerate(kept_buckets)}
    x = build_matrix(hashed, structural, columns)
    n_hash = len(kept_buckets)

    proof = n_hash + STRUCTURAL.index("proof_cue")
    xt = x.copy()
    xt.data[xt.indices == proof] = 0  # no labelled proofs: the priors carry this weight
    xt.eliminate_zeros()
    cat = fit_category(xt, rows, CATEGORY_C)
    prior = PRIOR_CATEGORY_WEIGHTS["proof_cue"]
    cat.coef_[:, proof] = [prior.get(c, 0.0) for c in CATEGORIES]
    n_dense = n_hash + len(STRUCTURAL)  # then the meaning columns, if any
    if not TIER_MEANING:
        xt = xt[:, :n_dense]
    targets = [tier_target(r) for r in rows]
    scored = [i for i, t in enumerate(targets) if t is not None]
    groups = [rows[i].split_key for i in scored]
    # Calibration and threshold: out-of-fold scores of the rows with a binary tier label.
    oof = np.zeros(len(rows))
    for fit_idx, pred_idx in GroupKFold(n_splits=FOLDS).split(scored, groups=groups):
        fit_rows = [scored[k] for k in fit_idx]
        pred_rows = [scored[k] for k in pred_idx]
        fold = fit_tier(xt[fit_rows], [rows[i] for i in fit_rows])
        oof[pred_rows] = fold.decision_function(xt[pred_rows])
    tiered = [i for i, r in enumerate(rows) if r.tier is not None]
    yt = np.asarray([rows[i].tier == "powerful" for i in tiered])
    a, b = platt(oof[tiered], yt)
    threshold = best_threshold(1 / (1 + np.exp(-(a * oof[tiered] + b))), yt)
    tier = fit_tier(xt, rows)

    tier_w = np.zeros(x.shape[1])
    tier_w[: tier.coef_.shape[1]] = tier.coef_[0]
    tier_w[proof] = PRIOR_TIER_WEIGHTS["proof_cue"]
    hashed_w = np.vstack([tier_w[:n_hash], cat.coef_[:, :n_hash]]).T  # (buckets, 7)
    scale = float(np.abs(hashed_w).max()) / QUANT
    quantised = np.rint(hashed_w / scale).astype(np.int64)
    keep = (np.abs(hashed_w[:, 1:]).max(axis=1) >= PRUNE) | (np.abs(hashed_w[:, 0]) >= PRUNE_TIER)
    nonzero = np.flatnonzero(keep)
    return {
        "format": "annas-gift-task-classifier/1",
        "hash_bits": HASH_BITS,
        "structural": list(STRUCTURAL),
        "categories": list(CATEGORIES),
        "tier": {
            "bias": round(float(tier.intercept_[0]), 6),
            "structural": [round(float(w), 6) for w in tier_w[n_hash:n_dense]],
            "platt": [round(a, 6), round(b, 6)],
            "threshold": threshold,
        },
        "category": {
            "bias": [round(float(v), 6) for v in cat.intercept_],
            "structural": [[round(float(w), 6) for w in row[n_hash:n_dense]] for row in cat.coef_],
        },
        **meaning_block(np.vstack([tier_w[n_dense:], cat.coef_[:, n_dense:]])),
        "hashed": {
            "scale": scale,
            "buckets": _b64(array("I", (kept_buckets[i] for i in nonzero))),
            "weights": _b64(array("h", (int(v) for v in quantised[nonzero].ravel()))),
        },
        "training": {
            "rows": len(rows),
            "tier_rows": len(tiered),
            "tier_powerful": int(yt.sum()),
            "buckets": len(nonzero),
            "min_df": MIN_DF,
            "prune": PRUNE,
            "prune_tier": PRUNE_TIER,
            "category_c": CATEGORY_C,
            "tier_c": TIER_C,
            "math_weight": MATH_WEIGHT,
            "meaning_scale": MEANING_SCALE,
            "tier_meaning": TIER_MEANING,
            "limit_per_source": limit_per_source,
            "data_sha256": data_digest(data_dir),
        },
    }


def meaning_block(weights: np.ndarray) -> dict[str, object]:
    """The artifact's `meaning` block from the heads' weights on the meaning columns (7, dims):
    each vocabulary word's vector projected on the seven heads, times MEANING_SCALE, quantised
    to int16 (one scale), keyed by the word's crc32 like the n-gram table. Empty when the
    meaning features are off."""
    if not MEANING_SCALE:
        return {}
    index, vectors = word_vectors()
    keys = sorted(index)
    projected = MEANING_SCALE * vectors[[index[k] for k in keys]] @ weights.T  # (words, 7)
    scale = float(np.abs(projected).max()) / QUANT
    quantised = np.rint(projected / scale).astype(np.int64)
    digest = hashlib.sha256(WORD_VECTORS.read_bytes()).hexdigest()
    return {
        "meaning": {
            "scale": scale,
            "keys": _b64(array("I", keys)),
            "weights": _b64(array("h", (int(v) for v in quantised.ravel()))),
            "tier": [round(float(w), 6) for w in weights[0]],
            "category": [[round(float(w), 6) for w in row] for row in weights[1:]],
            "word_vectors_sha256": digest,
        }
    }


def slice_check(artifact: dict[str, Any]) -> dict[str, Any]:
    """What a quick re-train on a slice is compared by (tests/routing/test_classifier_model.py):
    both heads' biases, structural weights and calibration, and the number of n-gram buckets.
    Floats, not a digest: another BLAS may change the last bits, never the second decimal."""
    check = {
        "tier": artifact["tier"],
        "category": artifact["category"],
        "buckets": artifact["training"]["buckets"],
    }
    if "meaning" in artifact:
        block = artifact["meaning"]
        check["meaning"] = {"tier": block["tier"], "category": block["category"]}
    return check


def dumps(artifact: dict[str, object]) -> str:
    """The artifact's canonical JSON text."""
    return json.dumps(artifact, sort_keys=True, separators=(",", ":")) + "\n"


def main() -> None:
    """Parse arguments, train, write the artifact."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=ARTIFACT_PATH)
    parser.add_argument("--limit-per-source", type=int, default=None)
    args = parser.parse_args()
    artifact = train(args.data_dir, args.limit_per_source)
    if args.limit_per_source is None:
        # A re-train on a small slice, so a quick test can tie this file to the script and data.
        quick = slice_check(train(args.data_dir, SLICE))
        artifact["training"]["slice_check"] = quick  # type: ignore[index]
    text = dumps(artifact)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
