"""The shipped artifact: compact, tied to the vendored data and the training script, and read
by inference exactly as training computed the features."""

from __future__ import annotations

import hashlib
import json
from types import ModuleType
from typing import Any

import pytest

from annas_gift.routing.classifier_model import (
    ARTIFACT_PATH,
    MEANING_SHIFT,
    ArtifactError,
    model_from_dict,
    pack,
    unpack,
    unpack_both,
)
from annas_gift.routing.conversation import flatten_request
from annas_gift.routing.corpus import default_data_dir
from annas_gift.routing.features import hashed_features, read_task, structural_features
from annas_gift.routing.task_classifier import DEFAULT_MODEL, _parts, scores
from tests.scripts import load_script

PROMPTS = [
    "hi",
    "Let $f(x) = x^2 + 3x$. Find $f'(2)$ and prove that f is convex.",
    "Fix this:\n```python\ndef add(a, b):\n    return a - b\n```\nTraceback: AssertionError",
    "Write a 600-word essay on the history of the printing press.",
    "Read the passage and answer: who founded the city?\n" + "The city grew slowly. " * 400,
]


def _train_module() -> ModuleType:
    pytest.importorskip("sklearn", reason="the `train` extra is not installed")
    return load_script("train_classifier.py")


def test_artifact_is_compact() -> None:
    assert ARTIFACT_PATH.stat().st_size < 2_000_000
    assert len(DEFAULT_MODEL.table) > 1_000
    assert len(DEFAULT_MODEL.meaning_table) > 10_000


@pytest.mark.parametrize("prompt", PROMPTS, ids=range(len(PROMPTS)))
def test_inference_equals_the_training_dot_product(prompt: str) -> None:
    # Training sees features as n-gram key -> value; inference sums looked-up weight vectors.
    conv = flatten_request(prompt)
    logits, values = scores(prompt, DEFAULT_MODEL)
    assert values == structural_features(conv)
    expected = [DEFAULT_MODEL.tier_bias, *DEFAULT_MODEL.category_bias]
    table = DEFAULT_MODEL.table  # rebuilt from the packed weights on each access
    for bucket, x in hashed_features(conv).items():
        weights = table.get(bucket)
        if weights is not None:
            expected = [e + x * w for e, w in zip(expected, weights, strict=True)]
    for value, weights in zip(values, DEFAULT_MODEL.structural, strict=True):
        expected = [e + value * w for e, w in zip(expected, weights, strict=True)]
    # The meaning block: each task word's projected row, summed, over the task's word count.
    view = read_task(conv)
    meaning = DEFAULT_MODEL.meaning_table  # rebuilt on each access
    for key in view.unigrams + view.bigrams:
        row = meaning.get(key)
        if row is not None:
            share = DEFAULT_MODEL.meaning_scale / len(view.words)
            expected = [e + q * share for e, q in zip(expected, row, strict=True)]
    assert logits == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("prompt", PROMPTS, ids=range(len(PROMPTS)))
def test_meaning_rows_are_the_word_vectors_projected_on_the_heads(prompt: str) -> None:
    # Training's dense features (mean word vector x MEANING_SCALE) dotted with the heads'
    # weights on them equal what the request path sums from the int16 projected rows.
    train = _train_module()
    import numpy as np  # with the train extra (scikit-learn needs it)

    block = json.loads(ARTIFACT_PATH.read_text(encoding="utf-8"))["meaning"]
    weights = np.asarray([block["tier"], *block["category"]])
    dense = train.meaning_features([flatten_request(prompt)])[0]
    assert DEFAULT_MODEL.training["meaning_scale"] == train.MEANING_SCALE
    want = weights @ dense
    got = _parts(prompt, DEFAULT_MODEL)[1]
    assert list(got) == pytest.approx(list(want), abs=1e-3)
    if prompt != "hi":
        assert any(abs(v) > 0.01 for v in got)


def test_word_vectors_are_the_ones_trained_on() -> None:
    train = _train_module()
    digest = hashlib.sha256(train.WORD_VECTORS.read_bytes()).hexdigest()
    shipped = json.loads(ARTIFACT_PATH.read_text(encoding="utf-8"))["meaning"]
    assert shipped["word_vectors_sha256"] == digest
    # A training input kept in the repository (the package holds only the heads' projections):
    # 22,846 words x 96 int8 components in base64 is about 3.05 MB.
    assert train.WORD_VECTORS.stat().st_size < 3_200_000


def test_artifact_records_the_vendored_data() -> None:
    train = _train_module()
    assert DEFAULT_MODEL.training["data_sha256"] == train.data_digest(default_data_dir())


def _assert_close(got: Any, want: Any, path: str = "") -> None:
    """Equal structure and strings, floats within 1e-4 (another BLAS changes the last bits)."""
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), path
        for key in want:
            _assert_close(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_close(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-4), path
    else:
        assert got == want, path


def test_quick_retrain_matches_the_check_in_the_artifact() -> None:
    # The script re-trains on a 30-rows-per-source slice when it writes the artifact and records
    # that slice's weights: a changed script, feature function or data set changes them.
    train = _train_module()
    quick = train.slice_check(train.train(default_data_dir(), train.SLICE))
    _assert_close(json.loads(json.dumps(quick)), DEFAULT_MODEL.training["slice_check"])


@pytest.mark.slow
def test_full_retrain_reproduces_the_shipped_artifact() -> None:
    train = _train_module()
    artifact = json.loads(train.dumps(train.train(default_data_dir())))
    shipped = json.loads(ARTIFACT_PATH.read_text(encoding="utf-8"))
    artifact["training"]["slice_check"] = shipped["training"]["slice_check"]
    # `table` is rebuilt from the packed weights on each access: read each once.
    rebuilt, original = model_from_dict(artifact).table, model_from_dict(shipped).table
    assert rebuilt.keys() == original.keys()
    for key, weights in original.items():
        assert rebuilt[key] == pytest.approx(weights, abs=1e-3)
    del artifact["hashed"], shipped["hashed"]
    _assert_close(artifact, shipped)


def test_artifact_for_other_features_is_refused() -> None:
    data = json.loads(ARTIFACT_PATH.read_text(encoding="utf-8"))
    data["structural"] = data["structural"][:-1]
    with pytest.raises(ArtifactError, match="re-train"):
        model_from_dict(data)


def test_packed_weights_sum_exactly_per_lane() -> None:
    # The request path sums packed ints; every lane must come back as the exact int16 sum,
    # negative lanes and the int16 extremes included.
    rows = [(-32767, 32767, 0, -1, 1, -32767, 32767), (5, -3, 32767, -32767, 0, 0, -1)] * 300
    total = sum(pack(row) for row in rows)
    assert unpack(total) == [sum(column) for column in zip(*rows, strict=True)]
    assert unpack(pack((0,) * 7)) == [0] * 7
    # With meaning lanes above the seven n-gram lanes: both read back, the lower ones unchanged.
    both = [(*row, *reversed(row)) for row in rows]
    total = sum(pack(row[:7]) + (pack(row[7:]) << MEANING_SHIFT) for row in both)
    assert unpack_both(total) == [sum(column) for column in zip(*both, strict=True)]
    assert unpack(total) == unpack_both(total)[:7]
