"""SSEFilter: a provider's SSE bytes, however they are split into reads, as the client sees them.

The reference is what the gateway did before it relayed bytes: parse every `data:` line, hide
the usage unless asked (now also a null usage key nested in a chunk), stop at [DONE]. The
filter must give the client the same events (and the same bytes where nothing changes), and
the gateway the same usage.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
import pytest

from annas_gift.upstream.sse import MAX_LINE_BYTES, SSEFilter, chunk_events

BASE = b'"id":"c1","object":"chat.completion.chunk","created":1,"model":"m"'


def chunk(body: bytes, usage: bytes | None = b"null", *, last: bool = True) -> bytes:
    """One event; `usage` goes last (as OpenAI sends it) or first after the id fields."""
    if usage is None:
        return b"data: {" + BASE + b"," + body + b"}\n\n"
    if last:
        return b"data: {" + BASE + b"," + body + b',"usage":' + usage + b"}\n\n"
    return b"data: {" + BASE + b',"usage":' + usage + b"," + body + b"}\n\n"


def content(text: str) -> bytes:
    delta = orjson.dumps({"content": text})
    return b'"choices":[{"index":0,"delta":' + delta + b',"finish_reason":null}]'


USAGE = b'{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}'
FINISH = b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]'
TRICKY = ["usage", "error", 'say "usage":null', "data: [DONE]", "{[", "}\n\ndata: {"]


def streams() -> dict[str, bytes]:
    words = [content(w) for w in ["Hello", " there", *TRICKY]]
    return {
        "usage last": b"".join(chunk(w) for w in words)
        + chunk(FINISH)
        + chunk(b'"choices":[]', USAGE)
        + b"data: [DONE]\n\n",
        "usage inside": b"".join(chunk(w, last=False) for w in words)
        + chunk(FINISH, last=False)
        + chunk(b'"choices":[]', USAGE, last=False)
        + b"data: [DONE]\n\n",
        "no usage keys": b"".join(chunk(w, None) for w in words)
        + chunk(b'"choices":[],"usage":' + USAGE, None)
        + b"data: [DONE]\n\n",
        "nested usage": chunk(b'"x":{"usage":null},"y":{"a":1,"usage":null,"b":2},' + content("a"))
        + chunk(b'"z":[{"usage":null}],' + content("b"), b"null", last=False)
        + chunk(b'"choices":[],"x_groq":{"usage":' + USAGE + b"}", USAGE)
        + b"data: [DONE]\n\n",
        "comments and crlf": b": keep-alive\r\n\r\n"
        + chunk(content("a")).replace(b"\n", b"\r\n")
        + b"event: ping\ndata: {}\n\n"
        + chunk(b'"choices":[]', USAGE)
        + b"data: [DONE]",
        "after done": chunk(content("a")) + b"data: [DONE]\n\n" + chunk(content("late")),
    }


def reference(raw: bytes, include_usage: bool) -> tuple[list[Any], tuple[int, int], bool]:
    events: list[Any] = []
    usage, done = (0, 0), False
    for line in raw.splitlines():
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            break
        event = orjson.loads(data)
        if not include_usage:
            _drop_null_usage(event)
        if event.get("usage"):
            usage = (event["usage"]["prompt_tokens"], event["usage"]["completion_tokens"])
        if "usage" in event and not include_usage:
            had = event.pop("usage")
            if not event.get("choices") and had:
                continue
        events.append(event)
    return events, usage, done


def _drop_null_usage(value: Any) -> None:
    """A client that did not ask for usage sees no null usage key, at any depth."""
    if isinstance(value, dict):
        if "usage" in value and value["usage"] is None:
            del value["usage"]
        for item in value.values():
            _drop_null_usage(item)
    elif isinstance(value, list):
        for item in value:
            _drop_null_usage(item)


def run(raw: bytes, include_usage: bool, reads: list[int]) -> tuple[bytes, SSEFilter]:
    view = SSEFilter(include_usage)
    out, at = [], 0
    for cut in [*reads, len(raw)]:
        if view.done or view.failed is not None:
            break
        out.append(view.feed(raw[at:cut]))
        at = cut
    else:
        out.append(view.end())
    return b"".join(out), view


def client_events(text: bytes) -> list[Any]:
    return [orjson.loads(line[6:]) for line in text.split(b"\n") if line.startswith(b"data: ")]


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("name", list(streams()))
def test_every_split_gives_the_events_and_usage_of_a_parse_per_event(
    name: str, include_usage: bool
) -> None:
    raw = streams()[name]
    events, usage, done = reference(raw, include_usage)
    for reads in [[], *([i] for i in range(1, len(raw))), list(range(7, len(raw), 7))]:
        text, view = run(raw, include_usage, reads)
        assert client_events(text) == events, (name, reads)
        assert (view.usage.prompt_tokens, view.usage.completion_tokens) == usage
        assert view.done is done and view.failed is None
        assert b"[DONE]" not in text.replace(b'"data: [DONE]"', b"")  # the relay adds its own


def test_plain_events_pass_as_they_came_in_one_piece() -> None:
    raw = b"".join(chunk(content(w)) for w in ["a", "b", "c"])
    for include_usage in (True, False):
        view = SSEFilter(include_usage)
        text = view.feed(raw)
        if include_usage:
            assert text is raw  # not even copied
        else:
            assert text == raw.replace(b',"usage":null}', b"}")
        assert view.seen


def test_an_error_event_stops_after_the_events_before_it() -> None:
    error = b'data: {"error":{"message":"overloaded","code":"x"}}\n\n'
    raw = chunk(content("a")) + error + chunk(content("b"))
    view = SSEFilter(True)
    text = view.feed(raw)
    assert text == chunk(content("a"))
    assert view.failed == error[6:-2]
    assert not view.done


@pytest.mark.parametrize("bad", [b"data: [1, 2]\n\n", b"data: 3\n\n", b"data: {cut\n\n"])
def test_an_event_that_is_not_a_json_object_stops_the_stream(bad: bytes) -> None:
    view = SSEFilter(False)
    text = view.feed(chunk(content("a"), None) + bad)
    assert client_events(text) == [orjson.loads(chunk(content("a"), None)[6:])]
    assert view.failed == bad[6:-2]


def test_a_read_of_brace_shaped_events_is_not_parsed() -> None:
    # The price of relaying without a parse per event: JSON broken *inside* `{...}` reaches the
    # client as the provider sent it (the client's parser reports it), not as an error event.
    raw = chunk(content("a"), None) + b"data: {not json}\n\n"
    view = SSEFilter(True)
    assert view.feed(raw) is raw
    assert view.failed is None


def test_a_line_that_never_ends_is_a_failure_not_a_growing_buffer() -> None:
    view = SSEFilter(True)
    assert view.feed(chunk(content("a")) + b"data: {" + b"x" * MAX_LINE_BYTES) == chunk(
        content("a")
    )
    assert view.failed is not None
    big = b"data: {" + b'"pad":"' + b"y" * (200 * 1024) + b'"}\n\n'  # long, but it ends
    view = SSEFilter(True)
    assert view.feed(big[:70000]) + view.feed(big[70000:]) == big


def test_done_alone_is_not_a_chunk() -> None:
    view = SSEFilter(False)
    assert view.feed(b"data: [DONE]\n\n") == b""
    assert view.done and not view.seen


def test_a_hidden_usage_chunk_counts_as_seen_but_sends_nothing() -> None:
    view = SSEFilter(False)
    assert view.feed(chunk(b'"choices":[]', USAGE)) == b""
    assert view.seen and view.usage.completion_tokens == 7


async def test_closing_chunk_events_closes_the_chunks_at_once() -> None:
    closed: list[bool] = []

    async def chunks() -> AsyncGenerator[dict[str, Any], None]:
        try:
            while True:
                yield {"choices": [{"index": 0, "delta": {"content": "x"}}]}
        finally:
            closed.append(True)

    events = chunk_events(chunks(), SSEFilter(include_usage=False))
    assert (await anext(events)).startswith(b"data: {")
    await events.aclose()  # type: ignore[attr-defined]
    assert closed == [True]
