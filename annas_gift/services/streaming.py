"""Streaming chat: fall back until a model produces its first chunk, then pass chunks through.

Once the first chunk is out the response is committed (HTTP 200 is sent), so a later failure
ends the stream with an OpenAI-style error event instead of a fallback. Usage is recorded when
the stream ends, is cut by the provider, or is abandoned by the client, through the same
`AttemptRecorder` a whole chat uses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.core.types import Attempt, ChatInput, RequestContext
from annas_gift.services.attempts import AttemptRecorder
from annas_gift.services.chat import ChatService
from annas_gift.services.types import AttemptSuccess, RoutePlan
from annas_gift.upstream.base import UpstreamCall, Usage

Chunk = dict[str, Any]
FirstChunk = tuple[Chunk, AsyncIterator[Chunk]]


@dataclass(slots=True)
class OpenStream:
    """A stream that has produced its first chunk; iterate `chunks()` to relay it."""

    plan: RoutePlan
    done: AttemptSuccess[FirstChunk]
    recorder: AttemptRecorder
    include_usage: bool
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0

    @property
    def model(self) -> CatalogModel:
        """The model that is answering."""
        return self.done.model

    @property
    def attempts(self) -> list[Attempt]:
        """Every model tried, the answering one last."""
        return self.done.attempts

    def _visible(self, chunk: Chunk) -> Chunk | None:
        """The chunk as the client may see it (None: nothing to send), noting any usage."""
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        # We always ask the provider for usage; hide it unless the client asked too
        # (providers also send `"usage": null` on every chunk once it is requested).
        if "usage" in chunk and not self.include_usage:
            chunk = {k: v for k, v in chunk.items() if k != "usage"}
            return chunk if chunk.get("choices") or not usage else None
        return chunk

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Every chunk for the client, then (on provider failure) one error dict."""
        status, error_type = 200, None
        first, rest = self.done.value
        rec = self.recorder
        try:
            chunk: Chunk | None = first
            while chunk is not None:
                visible = self._visible(chunk)
                if visible is not None:
                    yield visible
                chunk = await anext(rest, None)
        except errors.GatewayError as exc:
            status, error_type = exc.status, "stream_interrupted"
            await rec.interrupted(self.model, exc)
            yield exc.body()
        except (asyncio.CancelledError, GeneratorExit):
            status, error_type = 499, "client_disconnected"
            raise
        finally:
            took = (rec.now() - self.done.began) * 1000
            self.cost_usd = rec.usage(
                self.model, self.usage, status=status, latency_ms=took, stream=True,
                error_type=error_type,
            )  # fmt: skip
            if error_type != "stream_interrupted":
                rec.settled(self.done, self.usage, {}, took)
            # The real cost, even when it overran the estimate or the stream was cut.
            await rec.parts.budgets.settle(self.done.hold, self.cost_usd)
            rec.trace(
                self.plan, self.attempts, self.model, status=status, usage=self.usage,
                cost_usd=self.cost_usd, stream=True, error_type=error_type,
            )  # fmt: skip
            await _close(rest)


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        # Closing a broken provider stream must not mask the outcome already recorded.
        with contextlib.suppress(Exception):
            await aclose()


async def open_stream(service: ChatService, inp: ChatInput, ctx: RequestContext) -> OpenStream:
    """Try the plan's models until one yields a first chunk; raise the mapped error otherwise."""
    rec = service.recorder_for(inp, ctx)
    plan = await service.prepare(inp, ctx)

    async def first_chunk(call: UpstreamCall) -> FirstChunk:
        rest = service.upstream.stream(call)
        try:
            return await anext(rest), rest
        except StopAsyncIteration:
            await _close(rest)
            raise errors.UpstreamServerError(
                f"{call.model.name} ended the stream before sending anything",
                provider=call.model.provider,
                model=call.model.name,
            ) from None
        except BaseException:
            await _close(rest)
            raise

    done = await service.run(plan, rec, first_chunk, stream=True)
    rec.ttft_s = done.began + done.took_ms / 1000 - ctx.started
    return OpenStream(plan=plan, done=done, recorder=rec, include_usage=inp.include_usage)
