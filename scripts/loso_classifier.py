#!/usr/bin/env python
"""Leave-one-source-out evaluation of the category head: the model-selection criterion.

    .venv/bin/python scripts/loso_classifier.py [--c 0.5 1 2] [--cap 1500] [--min-df 5]
    .venv/bin/python scripts/loso_classifier.py --tier-cv 0.5,1,binary 0.2,4,soft

`--tier-cv C,MATH_WEIGHT,soft|binary ...` instead compares tier-head settings by grouped 5-fold
cross-validation on the training split (folds by split key, all rows): out-of-fold ROC AUC for
MATH level 1 vs 5 and ARC-Easy vs ARC-Challenge (how TIER_C and MATH_WEIGHT were chosen).

The validation fifth (annas_gift/routing/corpus.py) shares each source's style with the training
rows, so it flatters a model that learns styles. Here every source family of the TRAINING split
is held out in turn, the category head is trained on all the others and scored on it: a source
whose wording the model has never seen, as a benchmark or a user's prompt would be. Sources are
capped at `--cap` rows (the first ones, so runs repeat) to keep one run to minutes; families
with one category only are still scored. Reports per held-out family accuracy, their unweighted
mean (the criterion) and the minimum. Training data only: no evaluation set is read. Rows made
from another source (`derived_from`: code_stub_synth wraps MBPP tasks) leave with their origin,
whose wording they carry.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annas_gift.routing.corpus import CorpusRow, default_data_dir, load_corpus
from annas_gift.routing.types import CATEGORIES

_spec = importlib.util.spec_from_file_location(
    "train_classifier", Path(__file__).with_name("train_classifier.py")
)
assert _spec
assert _spec.loader
train = importlib.util.module_from_spec(_spec)
sys.modules["train_classifier"] = train
_spec.loader.exec_module(train)


def family_of(source: str) -> str:
    """Exercism tracks are one family; P3 renderings of one dataset are one family each."""
    return "exercism" if source.startswith("exercism/") else source


def _kept(rows: list[CorpusRow], cap: int, sample: int) -> list[CorpusRow]:
    """At most `cap` rows per family: the first ones (sample 0), else a seeded random choice
    (in file order), so that resamples vary which rows of the large families are in."""
    if sample == 0:
        return train.first_per_family(rows, cap)
    by_family: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_family.setdefault(r.family, []).append(i)
    rng = random.Random(sample)
    picked = sorted(i for idx in by_family.values() for i in rng.sample(idx, min(cap, len(idx))))
    return [rows[i] for i in picked]


def loso(
    data_dir: Path,
    c_values: list[float],
    cap: int,
    min_df: int,
    samples: int = 1,
    without: frozenset[str] = frozenset(),
) -> None:
    """Print the held-out accuracy of every family for every C, for each resample of the rows,
    and with several resamples the mean of their LOSO means (the criterion)."""
    rows = [r for r in load_corpus(data_dir) if not r.validation and r.source not in without]
    means: dict[float, list[float]] = {}
    for sample in range(samples):
        for c, mean in _loso_once(_kept(rows, cap, sample), c_values, min_df, sample):
            means.setdefault(c, []).append(mean)
    if samples > 1:
        for c, values in means.items():
            spread = statistics.stdev(values)
            print(
                f"C={c:g}: LOSO mean over {samples} samples {statistics.mean(values):.4f} "
                f"(sd {spread:.4f}: {', '.join(f'{v:.4f}' for v in values)})",
                flush=True,
            )


def _loso_once(
    kept: list[CorpusRow], c_values: list[float], min_df: int, sample: int
) -> list[tuple[float, float]]:
    """One leave-one-source-out pass over `kept`: (C, mean held-out accuracy) for every C."""
    rows = train.augment(kept)
    hashed, structural = train.featurize(rows)
    families = sorted({r.family for r in rows})
    fam = np.asarray([r.family for r in rows])
    origin = np.asarray([r.derived_from or "" for r in rows])
    y = np.asarray([CATEGORIES.index(r.category) for r in rows])
    # One column set for all folds: an n-gram only the held-out family uses gets no weight
    # from the fit (no training row has it), so sharing the columns leaks nothing.
    columns = train.hashed_columns(hashed, min_df)
    x = train.build_matrix(hashed, structural, {b: i for i, b in enumerate(columns)})
    out: list[tuple[float, float]] = []
    for c in c_values:
        scores: dict[str, float] = {}
        for held in families:
            # Rows made from the held-out family carry its wording: they leave with it.
            fit = np.flatnonzero((fam != held) & (origin != held))
            test = np.flatnonzero(fam == held)
            model = train.fit_category(x[fit], [rows[i] for i in fit], c, tol=1e-3)
            scores[held] = float((model.predict(x[test]) == y[test]).mean())
            print(f"  C={c:g} {held}: {scores[held]:.3f} ({len(test)} rows)", flush=True)
        mean = statistics.mean(scores.values())
        worst = min(scores, key=scores.__getitem__)
        label = f" sample {sample}" if sample else ""
        print(
            f"C={c:g}{label}: LOSO mean {mean:.3f}, worst {worst} {scores[worst]:.3f}", flush=True
        )
        out.append((c, mean))
    return out


def tier_cv(data_dir: Path, settings: list[str], min_df: int) -> None:
    """Print out-of-fold MATH 1 vs 5 and ARC AUCs of the tier head for each setting."""
    from sklearn.model_selection import GroupKFold

    rows = train.augment([r for r in load_corpus(data_dir) if not r.validation])
    hashed, structural = train.featurize(rows)
    columns = train.hashed_columns(hashed, min_df)
    x = train.build_matrix(hashed, structural, {b: i for i, b in enumerate(columns)})
    proof = len(columns) + train.STRUCTURAL.index("proof_cue")
    x.data[x.indices == proof] = 0  # as in training: the prior carries this weight
    x.eliminate_zeros()
    if not train.TIER_MEANING:
        x = x[:, : len(columns) + len(train.STRUCTURAL)]
    math_ends = [r.difficulty in ("Level 1", "Level 5") for r in rows]
    arc = [r.source in ("arc_easy", "arc_challenge") for r in rows]
    for spec in settings:
        c, weight, kind = spec.split(",")
        soft = kind == "soft"
        scored = [i for i, r in enumerate(rows) if train.tier_target(r, soft) is not None]
        oof: dict[int, float] = {}
        folds = GroupKFold(n_splits=train.FOLDS)
        for fit_idx, pred_idx in folds.split(scored, groups=[rows[i].split_key for i in scored]):
            fit_rows = [scored[k] for k in fit_idx]
            pred_rows = [scored[k] for k in pred_idx]
            fold = train.fit_tier(
                x[fit_rows], [rows[i] for i in fit_rows], float(c), float(weight), soft
            )
            oof.update(zip(pred_rows, fold.decision_function(x[pred_rows]), strict=True))
        math_auc = _oof_auc(oof, rows, math_ends, "Level 5")
        arc_auc = _oof_auc(oof, rows, arc, "ARC-Challenge")
        print(
            f"tier C={c} math_weight={weight} {kind}: "
            f"MATH 1 vs 5 {math_auc:.3f}, ARC {arc_auc:.3f}",
            flush=True,
        )


def _oof_auc(oof: dict[int, float], rows: list, picked: list[bool], positive: str) -> float:
    """ROC AUC of the out-of-fold scores of the picked rows, `positive` difficulty = hard."""
    from sklearn.metrics import roc_auc_score

    idx = [i for i in oof if picked[i]]
    hard = [rows[i].difficulty == positive for i in idx]
    return float(roc_auc_score(hard, [oof[i] for i in idx]))


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--c", type=float, nargs="+", default=[train.CATEGORY_C])
    parser.add_argument("--cap", type=int, default=500)
    parser.add_argument("--min-df", type=int, default=train.MIN_DF)
    parser.add_argument("--meaning-scale", type=float, default=train.MEANING_SCALE)
    parser.add_argument("--tier-meaning", action="store_true", help="meaning columns in tier")
    parser.add_argument("--tier-cv", nargs="+", metavar="C,MATH_WEIGHT,soft|binary")
    parser.add_argument(
        "--samples", type=int, default=1, help="resamples of the capped rows (1: the first ones)"
    )
    parser.add_argument(
        "--without", nargs="+", default=[], metavar="SOURCE", help="leave these sources out"
    )
    args = parser.parse_args()
    train.MEANING_SCALE = args.meaning_scale
    train.TIER_MEANING = train.TIER_MEANING or args.tier_meaning
    if args.tier_cv:
        tier_cv(args.data_dir, args.tier_cv, args.min_df)
    else:
        loso(args.data_dir, args.c, args.cap, args.min_df, args.samples, frozenset(args.without))


if __name__ == "__main__":
    main()
