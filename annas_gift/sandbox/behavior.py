"""The sandbox behaviour language: `;`-separated directives such as "status=429;retry_after=2".

    ok                      the default: an instant, deterministic success
    latency=<ms>            wait before answering
    chunk_delay=<ms>        wait between stream chunks
    status=<400-599>        answer with an OpenAI-shaped error
    retry_after=<seconds>   add Retry-After (any response)
    timeout                 hold the request without answering (until shutdown or 600 s)
    malformed               200 with a body that is not JSON
    cut=<n>                 stream n content chunks then drop the connection (no stream: drop it)
    tokens=<p>,<c>          pin the usage numbers
    reply=<text>            the reply text (no `;`), even when tools or a JSON format are asked
    ratelimit_headers       add x-ratelimit-* headers; remaining_requests=<n> and
                            remaining_tokens=<n> set their values (and imply the headers)

When several apply: latency, then timeout, status, malformed, cut, the reply.
Names are case-insensitive; a directive may appear once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_INT = re.compile(r"\d+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

# Flags take no value; "ok" is accepted so scripts can say "the default, once".
_FLAGS = frozenset({"ok", "timeout", "malformed", "ratelimit_headers"})
# Directive name -> Behavior field, for non-negative integer values.
_INTS = {
    "latency": "latency_ms",
    "chunk_delay": "chunk_delay_ms",
    "status": "status",
    "cut": "cut",
    "remaining_requests": "remaining_requests",
    "remaining_tokens": "remaining_tokens",
}
KNOWN_DIRECTIVES = tuple(sorted({*_FLAGS, *_INTS, "retry_after", "tokens", "reply"}))


class BehaviorError(ValueError):
    """A behaviour string that does not parse; the message says which directive and why."""


@dataclass(frozen=True, slots=True)
class Behavior:
    """What the sandbox does for one request; the defaults mean a plain, instant success."""

    latency_ms: int = 0
    chunk_delay_ms: int = 0
    status: int | None = None
    retry_after: float | None = None
    timeout: bool = False
    malformed: bool = False
    cut: int | None = None
    tokens: tuple[int, int] | None = None
    reply: str | None = None
    ratelimit_headers: bool = False
    remaining_requests: int | None = None
    remaining_tokens: int | None = None


OK = Behavior()


def _int(name: str, value: str) -> int:
    if not _INT.fullmatch(value):
        raise BehaviorError(f"{name}={value!r}: expected a non-negative integer")
    return int(value)


def _directive(name: str, has_value: bool, value: str) -> dict[str, Any]:
    """The Behavior fields one directive sets."""
    if name in _FLAGS:
        if has_value:
            raise BehaviorError(f"{name!r} takes no value")
        return {} if name == "ok" else {name: True}
    if name not in _INTS and name not in ("retry_after", "tokens", "reply"):
        raise BehaviorError(f"unknown directive {name!r}; known: {', '.join(KNOWN_DIRECTIVES)}")
    if not has_value:
        raise BehaviorError(f"{name!r} needs a value ({name}=...)")
    if name in _INTS:
        return {_INTS[name]: _int(name, value)}
    if name == "retry_after":
        if not _NUMBER.fullmatch(value):
            raise BehaviorError(f"retry_after={value!r}: expected seconds, e.g. 2 or 0.5")
        return {"retry_after": float(value)}
    if name == "tokens":
        prompt, comma, completion = value.partition(",")
        if not comma:
            raise BehaviorError(f"tokens={value!r}: expected <prompt>,<completion>")
        return {"tokens": (_int(name, prompt.strip()), _int(name, completion.strip()))}
    return {"reply": value}


def parse_behavior(text: str) -> Behavior:
    """Parse a behaviour string ("" and "ok" mean the default); raise BehaviorError if invalid."""
    fields: dict[str, Any] = {}
    seen: set[str] = set()
    for part in text.split(";"):
        raw_name, has_value, value = part.partition("=")
        name = raw_name.strip().lower()
        if not name and not has_value:
            continue  # tolerate "a;;b" and a trailing ";"
        if name in seen:
            raise BehaviorError(f"directive {name!r} given twice")
        seen.add(name)
        fields.update(_directive(name, bool(has_value), value.strip()))
    status = fields.get("status")
    if status is not None and not 400 <= status <= 599:
        raise BehaviorError(f"status={status}: only error statuses (400-599) can be scripted")
    # Asking for specific remaining counts implies wanting the headers at all.
    if "remaining_requests" in fields or "remaining_tokens" in fields:
        fields["ratelimit_headers"] = True
    return Behavior(**fields)


@lru_cache(maxsize=512)
def parse_cached(text: str) -> Behavior:
    """parse_behavior, memoised: the same header arrives on every request of a benchmark."""
    return parse_behavior(text)
