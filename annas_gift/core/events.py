"""Plain records the request path hands to the usage tracker, and the aggregates read back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson


class JSONText(str):
    """JSON text this process encoded itself: a JSON column stores it as it is.

    A decision's ranking is encoded once per selector decision (services/decisions.py); decoding
    it again only to have the column re-encode it cost an `auto` request about 60,000
    instructions. Text read back from a journal or spool line is a plain `str` and is decoded
    (and so checked) before it is stored.
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One upstream call as the gateway saw it; `key_id` names the key, never holds it."""

    request_id: str
    created_at: datetime
    key_id: str | None
    route: str
    provider: str
    model: str
    upstream_model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    status: int
    error_type: str | None
    stream: bool
    cached: bool = False
    saved_cost_usd: float = 0.0
    # Only with `logging.store_prompts` on: the start of the last user message. Kept out of
    # repr() so that no log line or traceback that shows an event can carry prompt text.
    prompt_excerpt: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ClassificationEvent:
    """How the classifier judged one request."""

    request_id: str
    created_at: datetime
    tier: str
    category: str
    confidence: float
    score: float
    factors: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SelectionEvent:
    """Which model the selector picked for one request, and why."""

    request_id: str
    created_at: datetime
    tier: str
    category: str
    selected_provider: str
    selected_model: str
    reason: str
    score: float | None
    benchmark_score: float | None
    breakdown: dict[str, Any] | None
    fallbacks_tried: list[Any] | None
    # The selector's ranking, bounded, as JSON text (services/decisions.py `ranking_json`, a
    # JSONText the JSON column takes as it is). A default, so that journal and spool lines
    # written before it existed still decode.
    ranking: str | None = None


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """Amounts to add to one (provider, model, hour) row of the hourly metrics."""

    provider: str
    model: str
    hour: datetime
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    rate_limit_hits: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: MetricDelta) -> MetricDelta:
        return MetricDelta(
            provider=self.provider,
            model=self.model,
            hour=self.hour,
            requests=self.requests + other.requests,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            errors=self.errors + other.errors,
            rate_limit_hits=self.rate_limit_hits + other.rate_limit_hits,
            cost_usd=self.cost_usd + other.cost_usd,
        )


@dataclass(frozen=True, slots=True)
class UsageStat:
    """Aggregated usage for one group (`key` is the provider, model or day; None for totals)."""

    key: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    errors: int
    rate_limit_hits: int
    cost_usd: float
    saved_cost_usd: float
    avg_latency_ms: float | None  # None when there were no requests

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def utc_hour(moment: datetime) -> datetime:
    """Truncate to the start of its UTC hour (naive times are taken as UTC)."""
    if moment.tzinfo is not UTC:  # events are stamped in UTC: the common case skips the shift
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def hourly_deltas(events: Iterable[UsageEvent]) -> list[MetricDelta]:
    """Fold usage events into one delta per (provider, model, hour).

    Sums in plain lists, not a MetricDelta per event: a backlog of thousands of events is
    folded in one synchronous pass on the event loop (7 us an event that way, before).
    """
    sums: dict[tuple[str, str, datetime], list[Any]] = {}
    for event in events:
        key = (event.provider, event.model, utc_hour(event.created_at))
        row = sums.get(key)
        if row is None:
            row = sums[key] = [0, 0, 0, 0, 0, 0.0]
        row[0] += 1
        row[1] += event.prompt_tokens
        row[2] += event.completion_tokens
        if event.status >= 400:
            row[3] += 1
            if event.status == 429:
                row[4] += 1
        row[5] += event.cost_usd
    return [MetricDelta(p, m, hour, *row) for (p, m, hour), row in sums.items()]


def merge_deltas(deltas: Iterable[MetricDelta]) -> list[MetricDelta]:
    """Combine deltas that share a (provider, model, hour) key, truncating hours to UTC."""
    merged: dict[tuple[str, str, datetime], MetricDelta] = {}
    for delta in deltas:
        delta = replace(delta, hour=utc_hour(delta.hour))
        key = (delta.provider, delta.model, delta.hour)
        previous = merged.get(key)
        merged[key] = delta if previous is None else previous + delta
    return list(merged.values())


Event = UsageEvent | ClassificationEvent | SelectionEvent

_KINDS: dict[str, type[Event]] = {
    "usage": UsageEvent,
    "classification": ClassificationEvent,
    "selection": SelectionEvent,
}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}


# The line's head per event class: orjson writes a dataclass's fields in order, `kind` goes first.
_LINE_HEAD = {cls: b'{"kind":"' + kind.encode() + b'",' for cls, kind in _KIND_OF.items()}


def encode_event_line(event: Event) -> bytes:
    """One JSON line (with its newline) for the journal and the spool; TypeError if unserialisable.

    orjson renders the dataclass directly (no `asdict` deep copy: this runs once per request);
    non-string dict keys become strings as `json.dumps` made them, datetimes are ISO 8601.
    """
    body = orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)
    return _LINE_HEAD[type(event)] + body[1:]


def encode_event(event: Event) -> str:
    """One JSON line (no newline) for the spool file; raises TypeError if unserialisable."""
    return encode_event_line(event)[:-1].decode("utf-8")


def decode_event(line: str | bytes) -> Event:
    """The event encoded by `encode_event`; raises ValueError, KeyError or TypeError if bad."""
    data = json.loads(line)
    cls = _KINDS[data.pop("kind")]
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    return cls(**data)
