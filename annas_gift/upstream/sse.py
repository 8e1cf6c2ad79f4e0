"""What a streaming client sees of a provider's stream, and the usage the gateway takes from it.

Both upstream paths hand the gateway client-ready Server-Sent Events bytes (`Upstream.relay`):
`data: <chunk JSON>` events ending with `data: [DONE]`, or a raised `GatewayError` after the
events that came before the failure. The same rules apply on both: the gateway always asks the
provider for usage, records it from the stream's usage chunk, and shows the client the usage
chunk and `usage` keys only if the client asked (`stream_options.include_usage`).

The LiteLLM path has chunk dicts (`chunk_events`). The direct path has the provider's own SSE
bytes (`SSEFilter.feed`): events that need no change are passed on as they came, a whole
network read at a time, checked with byte searches instead of a JSON parse per event; only an
event that may carry usage or an error, or a read that is not plain one-line `data: {...}`
events, is parsed (and re-encoded only if the client must see it changed).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson

from annas_gift.upstream.base import Usage
from annas_gift.upstream.coalesce import coalesced

DONE_EVENT = b"data: [DONE]\n\n"
# The longest line kept while its end is awaited (memory for one stream; aiohttp's readline,
# used before, refused lines beyond 128 KiB).
MAX_LINE_BYTES = 8 * 1024 * 1024
# A `"usage":null` member and what is left without it: last (as OpenAI sends it), inner, first.
# The gateway always asks for usage, so providers add the key to every chunk; a client that did
# not ask gets none, at any depth (no provider nests a null usage).
_NULL_USAGE_MEMBERS = (
    (b',"usage":null}', b"}"),
    (b',"usage":null,', b","),
    (b'{"usage":null,', b"{"),
    (b'{"usage":null}', b"{}"),
)
_USAGE_KEY = b'"usage"'
_NULL_USAGE = b'"usage":null'
_ERROR_KEY = b'"error"'
_BETWEEN_EVENTS = b"}\n\ndata: {"


def event(payload: Any) -> bytes:
    """One SSE event holding `payload` as JSON."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class SSEFilter:
    """One stream's view: the usage seen so far, whether it finished, and the client's bytes."""

    __slots__ = ("_tail", "done", "failed", "include_usage", "seen", "usage")

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.usage = Usage()
        self.seen = False  # any chunk at all (an empty stream is a failed attempt)
        self.done = False  # the provider's [DONE] came
        self.failed: bytes | None = None  # an error event's or an unreadable event's data
        self._tail = b""  # a line not yet complete

    # -- chunk dicts (the LiteLLM path, and what `feed` parses) -------------------------------

    def visible(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The chunk as the client may see it (None: nothing to send), noting any usage."""
        self.seen = True
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

    # -- provider SSE bytes (the direct path) -------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """The client's bytes for what the provider sent (complete lines; the rest waits).

        Stops at [DONE] (`done`) or at an event that is an error or unreadable (`failed`: the
        caller raises after sending the bytes returned, the events before it).
        """
        if self._tail:
            data = self._tail + data
        cut = data.rfind(b"\n") + 1
        endless = None
        if cut < len(data):
            data, self._tail = data[:cut], data[cut:]
            if len(self._tail) > MAX_LINE_BYTES:  # no event is this long: a broken provider
                endless, self._tail = self._tail[:200], b""
        else:
            self._tail = b""
        out = self._block(data) if data else b""
        if endless is not None and self.failed is None and not self.done:
            self.failed = endless  # after the events before it
        return out

    def end(self) -> bytes:
        """The client's bytes for a last line the provider sent without its line end."""
        tail, self._tail = self._tail, b""
        return self._lines(tail) if tail and not self.done else b""

    def _block(self, block: bytes) -> bytes:
        # Each byte search below costs about a tenth of parsing the events it looks through.
        if block.endswith(DONE_EVENT):  # a [DONE] elsewhere fails the shape test: line by line
            block, self.done = block[: -len(DONE_EVENT)], True
            if not block:
                return b""
        if not self.include_usage and _NULL_USAGE in block:
            block = _without_null_usage(block)
        # One-line `data: {...}` events and nothing else: every line end is one of the pairs
        # between two events or the pair at the end. Those are relayed as they are, apart from
        # the usage and error events, found by byte search; anything else goes line by line.
        if not (
            block.startswith(b"data: {")
            and block.endswith(b"}\n\n")
            and block.count(b"\n") == 2 * (block.count(_BETWEEN_EVENTS) + 1)
        ):
            return self._lines(block)
        self.seen = True
        special = self._special(block)
        return self._special_events(block, special) if special else block

    def _special(self, block: bytes) -> list[int]:
        """Where the keys of events that may carry usage or an error are, in order."""
        found = _every(block, _ERROR_KEY)
        if not self.include_usage:  # null usage keys are gone: any left has a value
            found += _every(block, _USAGE_KEY)
            return sorted(found)
        at, valued = len(block), block.count(_USAGE_KEY) - block.count(_NULL_USAGE)
        while valued > 0:  # usually the one usage chunk, at the end: search from there
            at = block.rfind(_USAGE_KEY, 0, at)
            if not block.startswith(_NULL_USAGE, at):
                found.append(at)
                valued -= 1
        return sorted(found)

    def _special_events(self, block: bytes, special: list[int]) -> bytes:
        """`block` with each event holding a `special` offset read on its own."""
        out: list[bytes] = []
        start = 0
        for at in special:
            if at < start:
                continue  # in the event just read
            begin = block.rfind(b"\n", 0, at) + 1
            end = block.find(b"\n\n", at) + 2
            out.append(block[start:begin])
            out.append(self._lines(block[begin:end]))
            start = end
            if self.failed is not None:
                return b"".join(out)
        out.append(block[start:])
        return b"".join(out)

    def _lines(self, block: bytes) -> bytes:
        """Line by line, as the SSE format allows: only `data:` lines count."""
        out: list[bytes] = []
        for line in block.splitlines():
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                self.done = True
                break
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                chunk = None
            if not isinstance(chunk, dict) or "error" in chunk:
                self.failed = data
                break
            visible = self.visible(chunk)
            if visible is chunk:
                out.append(b"data: " + data + b"\n\n")  # as the provider sent it
            elif visible is not None:
                out.append(event(visible))
        return b"".join(out)


def _without_null_usage(block: bytes) -> bytes:
    """Every `"usage":null` member removed (still valid JSON; a `,"` never starts in a string)."""
    for member, rest in _NULL_USAGE_MEMBERS:
        block = block.replace(member, rest)
        if _NULL_USAGE not in block:
            break
    return block


def _every(block: bytes, needle: bytes) -> list[int]:
    found, at = [], block.find(needle)
    while at != -1:
        found.append(at)
        at = block.find(needle, at + len(needle))
    return found


def chunk_events(
    chunks: AsyncGenerator[dict[str, Any], None], view: SSEFilter
) -> AsyncIterator[bytes]:
    """Chunk dicts as the client's SSE bytes (events ready at once share a piece), then [DONE].

    Closing the result closes `chunks` (the provider's stream) at once.
    """

    async def events() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                visible = view.visible(chunk)
                if visible is not None:
                    yield event(visible)
        view.done = True
        yield DONE_EVENT

    return coalesced(events())
