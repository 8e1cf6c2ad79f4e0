"""OpenAI-compatible embeddings request and response models (POST /v1/embeddings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# OpenAI's accepted shapes: a text, texts, token ids, or lists of token ids.
EmbeddingInputValue = str | list[str] | list[int] | list[list[int]]


class EmbeddingRequest(BaseModel):
    """POST /v1/embeddings body; `fallbacks` is the gateway's own extension (embedding models
    only: a fallback's vectors live in another space, so name only models you can mix)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    input: EmbeddingInputValue = Field(min_length=1)
    dimensions: int | None = Field(default=None, ge=1, le=65536)
    encoding_format: Literal["float", "base64"] | None = None
    user: str | None = Field(default=None, max_length=256)
    fallbacks: list[str] | None = Field(default=None, max_length=16)


class Embedding(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str  # a base64 string when encoding_format is "base64"


class EmbeddingUsage(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage | None = None
