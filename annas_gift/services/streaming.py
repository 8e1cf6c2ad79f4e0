"""Streaming chat: fall back until a model produces its first chunk, then pass chunks through.

Once the first chunk is out the response is committed (HTTP 200 is sent), so a later failure
ends the stream with an OpenAI-style error event instead of a fallback. Usage is recorded when
the stream ends, is cut by the provider, or is abandoned by the client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from annas_gift.catalog.registry import CatalogModel
from annas_gift.services.chat import ChatService
from annas_gift.services.tracing import trace_request
from annas_gift.services.types import Attempt, ChatInput, RequestContext, RoutePlan
from annas_gift.upstream import errors
from annas_gift.upstream.base import UpstreamCall, Usage


@dataclass(slots=True)
class OpenStream:
    """A stream that has produced its first chunk; iterate `chunks()` to relay it."""

    model: CatalogModel
    plan: RoutePlan
    attempts: list[Attempt]
    _service: ChatService
    _ctx: RequestContext
    _first: dict[str, Any]
    _rest: AsyncIterator[dict[str, Any]]
    _include_usage: bool
    _began: float
    _inp: ChatInput
    _est_tokens: int = 0
    _ticket: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        """Every chunk for the client, then (on provider failure) one error dict."""
        status, error_type = 200, None
        try:
            chunk: dict[str, Any] | None = self._first
            while chunk is not None:
                usage = chunk.get("usage")
                if usage:
                    self.usage = Usage(
                        int(usage.get("prompt_tokens") or 0),
                        int(usage.get("completion_tokens") or 0),
                    )
                # We always ask the provider for usage; hide it unless the client asked too
                # (providers also send `"usage": null` on every chunk once it is requested).
                if "usage" in chunk and not self._include_usage:
                    chunk = {k: v for k, v in chunk.items() if k != "usage"}
                    if chunk.get("choices") or not usage:
                        yield chunk
                else:
                    yield chunk
                chunk = await anext(self._rest, None)
        except errors.GatewayError as exc:
            status, error_type = exc.status, "stream_interrupted"
            if self._service.limits is not None:
                await self._service.limits.failed(self.model, exc, 0.0)
            yield exc.body()
        except (asyncio.CancelledError, GeneratorExit):
            status, error_type = 499, "client_disconnected"
            raise
        finally:
            took = (self._service.now() - self._began) * 1000
            self.cost_usd = self._service.record(
                self._ctx,
                self.model,
                usage=self.usage,
                status=status,
                latency_ms=took,
                stream=True,
                error_type=error_type,
            )
            limits = self._service.limits
            if limits is not None and error_type != "stream_interrupted":
                limits.succeeded(
                    self.model, est_tokens=self._est_tokens, usage=self.usage, headers={},
                    latency_ms=took, ticket=self._ticket,
                )  # fmt: skip
            trace_request(
                self._service.tracer, self._ctx, self._inp, self.plan, self.attempts, self.model,
                status=status, latency_ms=(self._service.now() - self._ctx.started) * 1000,
                usage=self.usage, cost_usd=self.cost_usd, stream=True, error_type=error_type,
            )  # fmt: skip
            await _close(self._rest)


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        # Closing a broken provider stream must not mask the outcome already recorded.
        with contextlib.suppress(Exception):
            await aclose()


async def open_stream(service: ChatService, inp: ChatInput, ctx: RequestContext) -> OpenStream:
    """Try the plan's models until one yields a first chunk; raise the mapped error otherwise."""
    plan = await service.prepare(inp, ctx)

    async def first_chunk(
        call: UpstreamCall,
    ) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]]]:
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

    done = await service.run(plan, inp, ctx, first_chunk, stream=True)
    first, rest = done.value
    return OpenStream(
        model=done.model,
        plan=plan,
        attempts=done.attempts,
        _service=service,
        _ctx=ctx,
        _first=first,
        _rest=rest,
        _include_usage=inp.include_usage,
        _began=done.began,
        _inp=inp,
        _est_tokens=done.est_tokens,
        _ticket=done.ticket,
    )
