"""coalesced(): pieces that are ready share one write; nothing ready is held while it waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from annas_gift.upstream.coalesce import MAX_BATCH_PIECES, coalesced


async def _collect(pieces: AsyncIterator[bytes]) -> list[bytes]:
    return [piece async for piece in coalesced(pieces)]


async def test_ready_pieces_are_joined_after_a_first_piece_sent_alone() -> None:
    async def ready() -> AsyncIterator[bytes]:
        for i in range(5):
            yield b"%d," % i

    assert await _collect(ready()) == [b"0,", b"1,2,3,4,"]


async def test_a_batch_is_capped_in_pieces() -> None:
    async def many() -> AsyncIterator[bytes]:
        for _ in range(1 + MAX_BATCH_PIECES + 3):
            yield b"x"

    out = await _collect(many())
    assert out == [b"x", b"x" * MAX_BATCH_PIECES, b"xxx"]


async def test_what_is_ready_is_sent_before_the_source_waits() -> None:
    gate = asyncio.Event()
    seen: list[bytes] = []

    async def bursty() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"
        yield b"c"
        await gate.wait()  # the provider goes quiet
        yield b"d"
        await asyncio.sleep(0)
        yield b"e"

    async def relay() -> None:
        async for piece in coalesced(bursty()):
            seen.append(piece)

    task = asyncio.create_task(relay())
    for _ in range(10):
        await asyncio.sleep(0)
    assert seen == [b"a", b"bc"]  # b and c went out while the source waits
    gate.set()
    await task
    assert seen == [b"a", b"bc", b"d", b"e"]


async def _quiet_after_two(
    closed: asyncio.Event, *, hang_in_cleanup: bool = False
) -> AsyncIterator[bytes]:
    """Two pieces, then a provider gone quiet; `closed` is set as its cleanup starts."""
    try:
        yield b"a"
        yield b"b"
        await asyncio.sleep(3600)
        yield b"never"  # pragma: no cover - ended first
    finally:
        closed.set()
        # A cleanup that awaits (closing a connection); or one that only a cancellation ends.
        await asyncio.sleep(3600 if hang_in_cleanup else 0)


async def test_cancelling_the_relay_reaches_the_waiting_source() -> None:
    closed = asyncio.Event()
    seen: list[bytes] = []

    async def relay() -> None:
        async for piece in coalesced(_quiet_after_two(closed)):
            seen.append(piece)

    task = asyncio.create_task(relay())
    for _ in range(10):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [b"a", b"b"]
    assert closed.is_set()  # the source's cleanup ran (the stream's usage is recorded there)


async def test_errors_of_the_source_propagate_after_what_was_ready() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"
        await asyncio.sleep(0)
        raise RuntimeError("provider broke")

    seen: list[bytes] = []

    async def relay() -> None:
        async for piece in coalesced(failing()):
            seen.append(piece)

    with pytest.raises(RuntimeError, match="provider broke"):
        await relay()
    assert seen == [b"a", b"b"]


async def test_an_empty_source_gives_nothing() -> None:
    async def empty() -> AsyncIterator[bytes]:
        return
        yield b""  # pragma: no cover - makes this an async generator

    assert await _collect(empty()) == []


@pytest.mark.parametrize("taken", [1, 2], ids=["between-pieces", "while-the-source-waits"])
async def test_closing_it_closes_the_source_at_once(taken: int) -> None:
    # 1: closed after the first piece, the source stopped at a `yield`; 2: after a batch handed
    # out while the source's next step was already waiting (the step is ended, not left running).
    closed = asyncio.Event()
    source = _quiet_after_two(closed)
    out = coalesced(source)
    assert [await anext(out) for _ in range(taken)] == [b"a", b"b"][:taken]
    await out.aclose()
    assert closed.is_set()  # the source's cleanup ran now, not when the collector finds it
    assert source.ag_frame is None  # type: ignore[attr-defined]  # finished


async def test_the_task_cancelled_while_the_source_is_ended_stays_cancelled() -> None:
    cleaning = asyncio.Event()
    out = coalesced(_quiet_after_two(cleaning, hang_in_cleanup=True))
    assert [await anext(out), await anext(out)] == [b"a", b"b"]
    closing = asyncio.create_task(out.aclose())
    await cleaning.wait()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
