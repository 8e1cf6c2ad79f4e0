"""The shipped artifact: compact, tied to the vendored data and the training script, and read
by inference exactly as training computed the features."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from annas_gift.routing.classifier_model import ARTIFACT_PATH, ArtifactError, model_from_dict
from annas_gift.routing.conversation import flatten_request
from annas_gift.routing.corpus import default_data_dir
from annas_gift.routing.features import hashed_features, structural_features
from annas_gift.routing.task_classifier import DEFAULT_MODEL, scores

REPO = Path(__file__).resolve().parents[2]
PROMPTS = [
    "hi",
    "Let $f(x) = x^2 + 3x$. Find $f'(2)$ and prove that f is convex.",
    "Fix this:\n```python\ndef add(a, b):\n    return a - b\n```\nTraceback: AssertionError",
    "Write a 600-word essay on the history of the printing press.",
    "Read the passage and answer: who founded the city?\n" + "The city grew slowly. " * 400,
]


def _train_module() -> ModuleType:
    pytest.importorskip("sklearn", reason="the `train` extra is not installed")
    spec = importlib.util.spec_from_file_location(
        "train_classifier", REPO / "scripts" / "train_classifier.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_artifact_is_compact() -> None:
    assert ARTIFACT_PATH.stat().st_size < 2_000_000
    assert len(DEFAULT_MODEL.table) > 1_000


@pytest.mark.parametrize("prompt", PROMPTS, ids=range(len(PROMPTS)))
def test_inference_equals_the_training_dot_product(prompt: str) -> None:
    # Training sees features as n-gram key -> value; inference sums looked-up weight vectors.
    conv = flatten_request(prompt)
    logits, values = scores(prompt, DEFAULT_MODEL)
    assert values == structural_features(conv)
    expected = [DEFAULT_MODEL.tier_bias, *DEFAULT_MODEL.category_bias]
    for bucket, x in hashed_features(conv).items():
        weights = DEFAULT_MODEL.table.get(bucket)
        if weights is not None:
            expected = [e + x * w for e, w in zip(expected, weights, strict=True)]
    for value, weights in zip(values, DEFAULT_MODEL.structural, strict=True):
        expected = [e + value * w for e, w in zip(expected, weights, strict=True)]
    assert logits == pytest.approx(expected, abs=1e-9)


def test_artifact_records_the_vendored_data() -> None:
    train = _train_module()
    assert DEFAULT_MODEL.training["data_sha256"] == train.data_digest(default_data_dir())


def test_quick_retrain_matches_the_digest_in_the_artifact() -> None:
    # The script re-trains on a 30-rows-per-source slice when it writes the artifact and records
    # that slice's digest: a changed script, feature function or data set changes it.
    train = _train_module()
    quick = train.dumps(train.train(default_data_dir(), train.SLICE))
    assert hashlib.sha256(quick.encode()).hexdigest() == DEFAULT_MODEL.training["slice_sha256"]


@pytest.mark.slow
def test_full_retrain_reproduces_the_shipped_artifact(tmp_path: Path) -> None:
    train = _train_module()
    artifact = train.train(default_data_dir())
    artifact["training"]["slice_sha256"] = DEFAULT_MODEL.training["slice_sha256"]
    assert train.dumps(artifact) == ARTIFACT_PATH.read_text(encoding="utf-8")


def test_artifact_for_other_features_is_refused() -> None:
    import json

    data = json.loads(ARTIFACT_PATH.read_text(encoding="utf-8"))
    data["structural"] = data["structural"][:-1]
    with pytest.raises(ArtifactError, match="re-train"):
        model_from_dict(data)
