"""Join the stream pieces that are ready at once into one write, never waiting to fill a batch.

A provider's SSE events usually arrive many to a network read; relayed one by one, each costs
its own pass through the ASGI send chain and its own socket write. The direct path relays a
network read at a time anyway (upstream/sse.py); the LiteLLM path gets one chunk per step of
LiteLLM's stream and joins them here (`sse.chunk_events`). `coalesced` asks the source for its
next piece and, when the source can answer without waiting, keeps going; as soon as it would
wait, what is in hand is sent first. So a piece is never held back for a later one: batching
only joins pieces that were already here.

Whether the source must wait is seen by starting its `__anext__()` coroutine by hand: finishing
at once means the piece was ready; suspending hands back the future it waits on, and the rest
of that coroutine is then driven by the running task exactly as `await` would (`_finish`).
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import AsyncIterator, Generator
from typing import Any

# A batch is sent once it holds this much, even if more is ready (bounds memory and latency).
MAX_BATCH_BYTES = 64 * 1024
MAX_BATCH_PIECES = 64


_END = object()  # the source is exhausted
_MUST_WAIT = object()
_NOT_STARTED = object()  # a step without the coroutine protocol: awaited normally


@types.coroutine
def _finish(
    step: Any, waiting_on: Any, throw: BaseException | None = None
) -> Generator[Any, Any, Any]:
    """Await the rest of a step that has already suspended once on `waiting_on`; with `throw`,
    raise that where it waits first (to end it)."""
    try:
        if throw is not None:
            waiting_on = step.throw(throw)
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # cancellation and the like go to the source
                waiting_on = step.throw(exc)
            else:
                waiting_on = step.send(sent)
    except StopIteration as done:
        return done.value
    except StopAsyncIteration:
        return _END


def _start(step: Any) -> tuple[Any, Any]:
    """Run a step until it first waits: (piece or _END, None), or (_MUST_WAIT, its wait)."""
    if not hasattr(step, "send"):
        return _MUST_WAIT, _NOT_STARTED
    try:
        return _MUST_WAIT, step.send(None)
    except StopIteration as ready:
        return ready.value, None
    except StopAsyncIteration:
        return _END, None


async def coalesced(pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`pieces`, the first alone (time to first byte), later ones joined while they are ready.

    Closing it closes `pieces` at once (a client that left stops the provider's stream now).
    """
    source = pieces.__aiter__()
    batch: list[bytes] = []
    size = 0
    first = True
    try:
        while True:
            step = source.__anext__()
            piece, waiting_on = _start(step)
            if piece is _MUST_WAIT:
                if batch:  # the source must wait: send what is here first
                    try:
                        yield b"".join(batch)
                    except BaseException:
                        await _abandon(step, waiting_on)
                        raise
                    batch, size = [], 0
                if waiting_on is _NOT_STARTED:
                    piece = await _awaited(step)
                else:
                    piece = await _finish(step, waiting_on)
            if piece is _END:
                break
            batch.append(piece)
            size += len(piece)
            if first or size >= MAX_BATCH_BYTES or len(batch) >= MAX_BATCH_PIECES:
                first = False
                yield b"".join(batch)
                batch, size = [], 0
        if batch:
            yield b"".join(batch)
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def _abandon(step: Any, waiting_on: Any) -> None:
    """End a step left waiting while the batch before it was out (the consumer stopped there).

    It is cancelled where it waits, as its task's cancellation would have, and runs its
    cleanup; closing it instead would leave an async generator source marked as running, so
    that it could never be closed.
    """
    if waiting_on is _NOT_STARTED:
        if hasattr(step, "close"):
            step.close()
        return
    cancel = asyncio.CancelledError()
    try:
        with contextlib.suppress(Exception):  # failing as it is abandoned changes nothing
            await _finish(step, waiting_on, cancel)
    except asyncio.CancelledError as exc:
        if exc is not cancel:  # the task itself was cancelled meanwhile
            raise


async def _awaited(step: Any) -> Any:
    try:
        return await step
    except StopAsyncIteration:
        return _END
