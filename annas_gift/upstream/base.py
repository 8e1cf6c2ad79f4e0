"""The upstream interface: one small protocol in front of every way of calling a provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from annas_gift.catalog.registry import CatalogModel

if TYPE_CHECKING:  # sse.py builds on this module's Usage
    from annas_gift.upstream.sse import SSEFilter


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """Everything needed to call one model once."""

    model: CatalogModel
    messages: list[dict[str, Any]]  # empty for an embeddings call
    # Other OpenAI parameters (temperature, tools, response_format, seed...; for embeddings
    # input, dimensions, encoding_format, user), passed through.
    params: Mapping[str, Any]
    timeout_s: float
    request_id: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    proxy_url: str | None = None


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class Completion:
    """A finished OpenAI-shaped answer (a chat completion, or an embeddings list) and what the
    provider told us about it."""

    body: dict[str, Any]
    usage: Usage
    provider_headers: dict[str, str] = field(default_factory=dict)


class Upstream(Protocol):
    """Calls a model: whole (`complete`), streamed (`relay`: the client's Server-Sent Events
    bytes, seen through `view`, an `upstream.sse.SSEFilter`), or for embeddings (`embed`: an
    OpenAI `list` of `embedding` objects)."""

    async def complete(self, call: UpstreamCall) -> Completion: ...

    async def embed(self, call: UpstreamCall) -> Completion: ...

    def relay(self, call: UpstreamCall, view: SSEFilter) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...
