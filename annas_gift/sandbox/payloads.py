"""OpenAI-shaped bodies the sandbox sends: completions, stream chunks, errors, headers."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Protocol

import orjson

from annas_gift.sandbox.behavior import Behavior

ECHO_WORDS = 24
ECHO_CHARS = 160
WORDS_PER_CHUNK = 3
MALFORMED_BODY = b'{"id": "chatcmpl-sandbox", "object": "chat.completion", "choices": [{'
DONE_EVENT = b"data: [DONE]\n\n"

# Each piece is a word with the whitespace before it, so pieces concatenate back exactly.
_PIECE = re.compile(r"\s*\S+")


def approx_tokens(words: int) -> int:
    """A deterministic token estimate: about 4 tokens per 3 words, never below 1."""
    return max(1, round(words * 4 / 3))


def _text(content: Any) -> str:
    """The text of a message's content, whether a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def prompt_tokens(messages: list[Any]) -> int:
    """The approximate token count of every message's content."""
    words = sum(len(_text(m.get("content")).split()) for m in messages if isinstance(m, dict))
    return approx_tokens(words)


def last_text(messages: list[Any], role: str) -> str:
    """The text of the last message with `role` ("" if there is none)."""
    last = next(
        (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == role), None
    )
    return _text(last.get("content")) if last else ""


def default_reply(model: str, messages: list[Any]) -> str:
    """The deterministic reply: the model name and a short echo of the last user message."""
    words = last_text(messages, "user").split()
    echo = " ".join(words[:ECHO_WORDS])
    if len(words) > ECHO_WORDS or len(echo) > ECHO_CHARS:
        echo = echo[:ECHO_CHARS] + "…"
    return f"[sandbox {model}] {echo}".strip()


def split_reply(text: str, max_tokens: int | None) -> tuple[list[str], str]:
    """The reply as word pieces, cut to fit max_tokens, and the finish_reason that implies."""
    pieces = _PIECE.findall(text.strip())
    if max_tokens is not None:
        # The largest word count whose estimate stays within max_tokens (at least one word).
        keep = max(1, max_tokens * 3 // 4)
        if keep < len(pieces):
            return pieces[:keep], "length"
    return pieces, "stop"


def usage(behavior: Behavior, prompt: int, pieces: list[str], n: int = 1) -> dict[str, int]:
    """The usage block: the estimates (every choice's tokens), unless the behaviour pins them."""
    if behavior.tokens:
        p, c = behavior.tokens
    else:
        p, c = prompt, approx_tokens(len(pieces)) * n
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def new_id() -> str:
    """A fresh completion id in OpenAI's format."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def logprobs(pieces: list[str], top: int) -> dict[str, Any]:
    """OpenAI's logprobs block for the pieces: fixed values, the piece always the likeliest."""
    content = []
    for i, piece in enumerate(pieces):
        value = -0.01 * (1 + i % 7)
        alternatives = [{"token": piece, "logprob": value, "bytes": list(piece.encode())}]
        for rank in range(1, top):
            alt = f"{piece}~{rank}"
            alternatives.append(
                {"token": alt, "logprob": value - rank, "bytes": list(alt.encode())}
            )
        content.append({**alternatives[0], "top_logprobs": alternatives[:top]})
    return {"content": content, "refusal": None}


def _tool_call(call: ToolCallLike, arguments: str, *, header: bool) -> dict[str, Any]:
    function: dict[str, str] = {"arguments": arguments}
    entry: dict[str, Any] = {"index": 0, "function": function}
    if header:
        entry.update({"id": call.id, "type": "function"})
        function["name"] = call.name
    return entry


class ToolCallLike(Protocol):
    """The fields of a tool call the bodies need (replies.ToolCall)."""

    id: str
    name: str
    arguments: str


def completion(
    model: str,
    pieces: list[str],
    finish: str,
    use: dict[str, int],
    *,
    n: int = 1,
    tool_call: ToolCallLike | None = None,
    top_logprobs: int | None = None,
) -> bytes:
    """A non-streaming chat.completion body with n identical choices.

    top_logprobs None means no logprobs; a tool call's arguments are the joined pieces.
    """
    message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces)}
    if tool_call is not None:
        call = _tool_call(tool_call, tool_call.arguments, header=True)
        del call["index"]
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
    probs = logprobs(pieces, top_logprobs) if top_logprobs is not None and not tool_call else None
    choices = [
        {"index": i, "message": message, "logprobs": probs, "finish_reason": finish}
        for i in range(n)
    ]
    return orjson.dumps(
        {
            "id": new_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": use,
        }
    )


def stream_events(
    model: str,
    pieces: list[str],
    finish: str,
    use: dict[str, int] | None,
    *,
    n: int = 1,
    tool_call: ToolCallLike | None = None,
    top_logprobs: int | None = None,
) -> tuple[bytes, list[bytes], list[bytes]]:
    """SSE events: (role chunks, content chunks, closing events incl. usage and [DONE]).

    Choices stream one after the other; a tool call streams its arguments as deltas.
    """
    base: dict[str, Any] = {
        "id": new_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    if use is not None:
        base["usage"] = None  # as OpenAI does: every chunk carries usage once it is requested

    def event(index: int, delta: dict[str, Any], finish_reason: str | None, probs: Any) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": probs, "finish_reason": finish_reason}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

    first: list[bytes] = []
    content: list[bytes] = []
    closing: list[bytes] = []
    for index in range(n):
        if tool_call is not None:
            header = [_tool_call(tool_call, "", header=True)]
            first.append(
                event(
                    index, {"role": "assistant", "content": None, "tool_calls": header}, None, None
                )
            )
        else:
            first.append(event(index, {"role": "assistant", "content": ""}, None, None))
        for i in range(0, len(pieces), WORDS_PER_CHUNK):
            text = "".join(pieces[i : i + WORDS_PER_CHUNK])
            if tool_call is not None:
                delta: dict[str, Any] = {"tool_calls": [_tool_call(tool_call, text, header=False)]}
                probs = None
            else:
                delta = {"content": text}
                chunk = pieces[i : i + WORDS_PER_CHUNK]
                probs = logprobs(chunk, top_logprobs) if top_logprobs is not None else None
            content.append(event(index, delta, None, probs))
        closing.append(event(index, {}, finish, None))
    if use is not None:
        closing.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": use}) + b"\n\n")
    closing.append(DONE_EVENT)
    return b"".join(first), content, closing


def error_kind(status: int) -> tuple[str, str]:
    """OpenAI's (type, code) for an error status."""
    if status == 429:
        return "rate_limit_exceeded", "rate_limit_exceeded"
    if status == 401:
        return "invalid_request_error", "invalid_api_key"
    if status == 403:
        return "permission_error", "permission_denied"
    if status == 404:
        return "invalid_request_error", "model_not_found"
    if status >= 500:
        return "server_error", "server_error"
    return "invalid_request_error", "invalid_request_error"


def error_body(status: int, message: str) -> bytes:
    """An OpenAI-shaped error body."""
    kind, code = error_kind(status)
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def extra_headers(behavior: Behavior) -> dict[str, str]:
    """Retry-After and x-ratelimit-* headers, as the behaviour asks."""
    headers: dict[str, str] = {}
    if behavior.retry_after is not None:
        headers["Retry-After"] = f"{behavior.retry_after:g}"
    if behavior.ratelimit_headers:
        requests = behavior.remaining_requests
        tokens = behavior.remaining_tokens
        headers.update(
            {
                "x-ratelimit-limit-requests": "10000",
                "x-ratelimit-limit-tokens": "2000000",
                "x-ratelimit-remaining-requests": str(9999 if requests is None else requests),
                "x-ratelimit-remaining-tokens": str(1999000 if tokens is None else tokens),
                "x-ratelimit-reset-requests": "6ms",
                "x-ratelimit-reset-tokens": "30ms",
            }
        )
    return headers
