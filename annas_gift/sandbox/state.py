"""The sandbox's in-memory state: scripted behaviours, the request log, models seen."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from annas_gift.sandbox.behavior import OK, Behavior, parse_behavior

LOG_LIMIT = 1000


class RecordedRequest(TypedDict):
    """One chat or embeddings request as the sandbox received it."""

    path: str
    model: str | None
    stream: bool
    headers: dict[str, str]
    body: Any
    time: float


class SandboxState:
    """Scripts, defaults and the request log; thread-safe, so tests may poke it from any thread."""

    def __init__(self, defaults: Mapping[str, str] | None = None, log_limit: int = LOG_LIMIT):
        # Parsed now so a bad default fails at construction, not on some later request.
        self._defaults = {m: parse_behavior(b) for m, b in (defaults or {}).items()}
        self._scripts: dict[str, deque[Behavior]] = {}
        self._log: deque[RecordedRequest] = deque(maxlen=log_limit)
        self._models: dict[str, None] = dict.fromkeys(self._defaults)
        self._lock = threading.Lock()

    def script(self, model: str, behaviors: Iterable[str]) -> int:
        """Queue one-shot behaviours for `model`; all or none. Returns the queue's new length."""
        parsed = [parse_behavior(b) for b in behaviors]
        with self._lock:
            queue = self._scripts.setdefault(model, deque())
            queue.extend(parsed)
            self._models.setdefault(model)
            return len(queue)

    def next_behavior(self, model: str) -> Behavior:
        """Pop the model's next scripted behaviour, else its default, else plain success."""
        with self._lock:
            queue = self._scripts.get(model)
            if queue:
                return queue.popleft()
        return self._defaults.get(model, OK)

    def record(self, entry: RecordedRequest) -> None:
        """Append to the request log (the oldest entries fall off past the limit)."""
        with self._lock:
            self._log.append(entry)
            if entry["model"] is not None:
                self._models.setdefault(entry["model"])

    def requests(self) -> list[RecordedRequest]:
        """The request log, oldest first."""
        with self._lock:
            return list(self._log)

    def models(self) -> list[str]:
        """Every model with a default, a script or a request, in first-seen order."""
        with self._lock:
            return list(self._models)

    def clear_scripts(self) -> None:
        """Drop every queued behaviour."""
        with self._lock:
            self._scripts.clear()

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._log.clear()

    def clear(self) -> None:
        """Drop scripts and the request log (defaults stay)."""
        with self._lock:
            self._scripts.clear()
            self._log.clear()
