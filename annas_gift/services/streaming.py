"""Streaming chat: fall back until a model produces its first bytes, then pass them through.

Once the first chunk is out the response is committed (HTTP 200 is sent), so a later failure
ends the stream with an OpenAI-style error event instead of a fallback. Usage is recorded when
the stream ends, is cut by the provider, or is abandoned by the client, through the same
`AttemptRecorder` a whole chat uses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.core.types import Attempt, ChatInput, RequestContext
from annas_gift.services.attempts import AttemptRecorder
from annas_gift.services.chat import ChatService
from annas_gift.services.types import AttemptSuccess, RoutePlan
from annas_gift.upstream import sse
from annas_gift.upstream.base import UpstreamCall
from annas_gift.upstream.sse import SSEFilter

FirstPiece = tuple[bytes, AsyncIterator[bytes], SSEFilter]


@dataclass(slots=True)
class OpenStream:
    """A stream that has produced its first bytes; iterate `frames()` to relay it."""

    plan: RoutePlan
    done: AttemptSuccess[FirstPiece]
    recorder: AttemptRecorder
    cost_usd: float = 0.0
    # The piece `frames()` handed out last ends the stream ([DONE] or the error event): the
    # response can end its body with it, before this stream's bookkeeping runs.
    ended: bool = False

    @property
    def model(self) -> CatalogModel:
        """The model that is answering."""
        return self.done.model

    @property
    def attempts(self) -> list[Attempt]:
        """Every model tried, the answering one last."""
        return self.done.attempts

    async def frames(self) -> AsyncGenerator[bytes, None]:
        """The client's SSE bytes, then (on provider failure) one error event without [DONE]."""
        status, error_type = 200, None
        piece: bytes | None
        piece, rest, view = self.done.value
        rec = self.recorder
        try:
            while piece is not None:
                self.ended = view.done
                yield piece
                piece = await anext(rest, None)
        except errors.GatewayError as exc:
            status, error_type = exc.status, "stream_interrupted"
            await rec.interrupted(self.model, exc)
            self.ended = True
            yield sse.event(exc.body())
        except (asyncio.CancelledError, GeneratorExit):
            status, error_type = 499, "client_disconnected"
            raise
        finally:  # none of this is needed before the client has its bytes
            took = (rec.now() - self.done.began) * 1000
            usage = view.usage
            self.cost_usd = rec.usage(
                self.model, usage, status=status, latency_ms=took, stream=True,
                error_type=error_type, decided=(self.plan, self.attempts),
            )  # fmt: skip
            if error_type != "stream_interrupted":
                rec.settled(self.done, usage, {}, took)
            # The real cost, even when it overran the estimate or the stream was cut.
            await rec.parts.budgets.settle(self.done.hold, self.cost_usd)
            rec.trace(
                self.plan, self.attempts, self.model, status=status, usage=usage,
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
    """Try the plan's models until one yields its first bytes; raise the mapped error otherwise."""
    rec = service.recorder_for(inp, ctx)
    plan = await service.prepare(inp, ctx)

    async def first_piece(call: UpstreamCall) -> FirstPiece:
        view = SSEFilter(inp.include_usage)  # each attempt starts afresh
        rest = service.upstream.relay(call, view)
        try:
            first = await anext(rest, None)
        except BaseException:
            await _close(rest)
            raise
        if first is None or not view.seen:  # nothing, or [DONE] before any chunk
            await _close(rest)
            raise errors.UpstreamServerError(
                f"{call.model.name} ended the stream before sending anything",
                provider=call.model.provider,
                model=call.model.name,
            )
        return first, rest, view

    done = await service.run(plan, rec, first_piece, stream=True)
    rec.ttft_s = done.began + done.took_ms / 1000 - ctx.started
    return OpenStream(plan=plan, done=done, recorder=rec)
