"""Deterministic embeddings for the sandbox: hashed bags of words, so similar texts score close.

Each word (or token id) adds ±1 at a position its SHA-256 picks; the vector is L2-normalised.
The same input and dimensions always give the same vector, in any process.
"""

from __future__ import annotations

import array
import base64
import hashlib
import math
import re
from typing import Any

import orjson

DEFAULT_DIMENSIONS = 256
MAX_DIMENSIONS = 4096
MAX_INPUTS = 2048
_WORD = re.compile(r"\w+")


class EmbeddingRequestError(ValueError):
    """An embeddings request the sandbox (like OpenAI) rejects; the message says why."""


def _features(item: str | list[int]) -> list[str]:
    if isinstance(item, str):
        return _WORD.findall(item.lower()) or [item]
    return [f"#{token}" for token in item]


def embed(item: str | list[int], dimensions: int) -> list[float]:
    """The unit vector of one input (a text or a list of token ids)."""
    vector = [0.0] * dimensions
    for feature in _features(item):
        digest = hashlib.sha256(feature.encode()).digest()
        position = int.from_bytes(digest[:4], "little") % dimensions
        vector[position] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:  # every feature cancelled out: fall back to a fixed axis
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


def _inputs(value: Any) -> list[str | list[int]]:
    """OpenAI's accepted input shapes: a string, strings, token ids, or lists of token ids."""
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list) and value and all(isinstance(t, int) for t in value):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        raise EmbeddingRequestError("'input' must be a string, an array of strings or token ids")
    if not items or len(items) > MAX_INPUTS:
        raise EmbeddingRequestError(f"'input' must hold 1 to {MAX_INPUTS} items")
    for item in items:
        if isinstance(item, str) and item:
            continue
        if isinstance(item, list) and item and all(isinstance(t, int) for t in item):
            continue
        raise EmbeddingRequestError("each input must be a non-empty string or token-id array")
    return items


def _dimensions(value: Any) -> int:
    if value is None:
        return DEFAULT_DIMENSIONS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIMENSIONS:
        raise EmbeddingRequestError(f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}")
    return value


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(array.array("f", vector).tobytes()).decode()
    return vector


def embeddings_body(body: dict[str, Any]) -> bytes:
    """The embeddings list for a request body; raise EmbeddingRequestError if it is invalid."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise EmbeddingRequestError("'model' (string) and 'input' are required")
    items = _inputs(body.get("input"))
    dimensions = _dimensions(body.get("dimensions"))
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise EmbeddingRequestError("'encoding_format' must be float or base64")
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _encoded(embed(item, dimensions), encoding),
        }
        for i, item in enumerate(items)
    ]
    tokens = sum(len(_features(item)) for item in items)
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
