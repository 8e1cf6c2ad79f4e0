"""Portkey observability for provider calls that bypass Portkey's gateway (its custom-log API).

`PortkeyTracer.record` queues one event per gateway request (O(1), never blocks); a background
task uploads them in batches. Prompt and completion text leave only when `send_prompts` is on.
"""

# The contract, from stored copies of these pages (no network here); summary in docs/portkey.md:
# https://portkey.ai/docs/api-reference/admin-api/data-plane/logs/insert-a-log (POST /logs,
# x-portkey-api-key, CustomLog or array), https://portkey.ai/docs/product/observability/traces,
# https://portkey.ai/docs/product/observability/metadata; portkey-ai SDK (no dependency taken):
# portkey_ai/api_resources/apis/logs.py `logs.create` and apis/logger.py (POST base_url/logs).

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

import aiohttp
import orjson

from annas_gift.settings import PortkeySettings

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-portkey-api-key"
MAX_METADATA_VALUE = 128  # Portkey's documented limit for a metadata value
# Request ids are already safe tokens (api/middleware.py); this guards anything else passed in.
_SAFE_TRACE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# TraceEvent fields copied into Portkey metadata as they are (all filterable there).
_FACTS = ("request_id", "route", "provider", "model", "upstream_model", "status", "error_type")
_MORE_FACTS = ("tier", "category", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms")
_JSON = "application/json"
_SENT = {"content-type": _JSON}
_CHAT_URL = "/v1/chat/completions"
_Outcome = Literal["sent", "retry", "rejected"]


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One gateway request for Portkey; `key_id` names the client key, never holds it."""

    request_id: str
    trace_id: str
    created_at: datetime
    provider: str
    model: str  # the catalog name
    upstream_model: str | None
    route: str
    status: int
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    tier: str | None = None
    category: str | None = None
    attempts: Sequence[Mapping[str, Any]] = ()  # Attempt.to_dict() of every model tried
    request_body: Mapping[str, Any] | None = None  # sent only when send_prompts is on
    response_body: Mapping[str, Any] | None = None  # sent only when send_prompts is on
    metadata: Mapping[str, str] = field(default_factory=dict)
    key_id: str | None = None
    stream: bool = False
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class TracerOptions:
    """Tuning of the tracer; `from_settings` takes every field PortkeySettings also defines."""

    send_prompts: bool = False  # privacy first: prompts may hold unpublished work or student data
    metadata: Mapping[str, str] = field(default_factory=dict)  # added to every entry
    batch_size: int = 50
    flush_interval_s: float = 1.0
    timeout_s: float = 5.0
    max_queue: int = 10_000
    max_retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    stop_timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: PortkeySettings, **overrides: Any) -> TracerOptions:
        """Defaults, then the matching settings fields, then explicit overrides."""
        names = {f.name for f in fields(cls)}
        found = {n: getattr(settings, n) for n in names if getattr(settings, n, None) is not None}
        return cls(**{**found, **overrides})


class PortkeyTracer:
    """Uploads TraceEvents to Portkey's log endpoint in the background; never slows a request."""

    def __init__(self, settings: PortkeySettings, options: TracerOptions | None = None) -> None:
        self.options = opts = options or TracerOptions.from_settings(settings)
        self._key = settings.api_key.get_secret_value() if settings.api_key else ""
        self.enabled = settings.enabled and bool(self._key)
        if settings.enabled and not self._key:
            log.warning("portkey.enabled is set but portkey.api_key is empty: tracing is off")
        self._url = settings.base_url.rstrip("/") + "/logs"
        self._headers = {API_KEY_HEADER: self._key, "content-type": _JSON}
        self._batch_size, self._max_queue = max(1, opts.batch_size), max(1, opts.max_queue)
        self._session: aiohttp.ClientSession | None = None
        self._queue: deque[TraceEvent] = deque()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failures = 0  # consecutive retryable failures of the batch at the queue's head
        self._retry_after: float | None = None
        self._warned_full = False
        self.sent = self.failed = self.dropped = 0
        self.last_error: str | None = None

    @property
    def pending(self) -> int:
        """Events waiting in the queue (a batch being uploaded is not counted)."""
        return len(self._queue)

    @staticmethod
    def trace_id_for(request_id: str) -> str:
        """The Portkey trace id of a request: the request id (already in x-annas-trace-id)."""
        safe = _SAFE_TRACE_ID.match(request_id)
        return request_id if safe else "ag-" + hashlib.sha256(request_id.encode()).hexdigest()[:32]

    def record(self, trace: TraceEvent) -> None:
        """Queue one event; O(1), never blocks, never raises (drops the oldest when full)."""
        if not self.enabled:
            return
        # Nothing below can raise or wait: deque operations and Event.set only.
        if len(self._queue) >= self._max_queue:
            self._queue.popleft()
            self.dropped += 1
            if not self._warned_full:
                self._warned_full = True
                log.warning("Portkey queue full (%d events); dropping oldest", self._max_queue)
        self._queue.append(trace)
        if len(self._queue) >= self._batch_size and not self._failures:
            self._wake.set()

    async def start(self) -> None:
        """Open the HTTP session and start the background sender; a no-op when disabled."""
        if not self.enabled or self._task is not None:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(self.options.timeout_s))
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="annas-gift-portkey")

    async def stop(self) -> None:
        """Send what is queued within stop_timeout_s, count the rest as dropped, close."""
        task, self._task = self._task, None
        self._stopping = True
        self._wake.set()
        # A timeout also cancels the awaited sender task; what is left is counted below.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.options.stop_timeout_s):
                if task is not None:
                    await task
                while self._session is not None and self._queue:
                    if not await self.flush():
                        await asyncio.sleep(self._backoff())
        if self._queue:
            log.warning("%d Portkey traces not sent at shutdown", len(self._queue))
            self.dropped += len(self._queue)
            self._queue.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def flush(self) -> bool:
        """Upload everything queued now; False when Portkey failed and events wait for a retry."""
        if self._session is None:
            return not self._queue
        async with self._lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self._batch_size, self.pending))]
                try:
                    outcome = await self._send(batch)
                except BaseException:  # cancelled mid-upload: keep the batch for stop() to count
                    self._requeue(batch)
                    raise
                if outcome == "retry":
                    self._failures += 1
                    if self._failures <= self.options.max_retries:
                        self._requeue(batch)
                        return False
                    log.warning("gave up on %d Portkey traces: %s", len(batch), self.last_error)
                self._failures = 0
                if outcome == "sent":
                    self.sent += len(batch)
                    self._warned_full = False
                else:
                    self.failed += len(batch)
        return True

    def entry(self, trace: TraceEvent) -> dict[str, Any]:
        """The Portkey CustomLog for one event; prompt and completion text only if send_prompts."""
        upstream = trace.upstream_model or trace.model
        p, c = trace.prompt_tokens, trace.completion_tokens
        usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        request: dict[str, Any] = {"model": upstream, "stream": trace.stream}
        response: dict[str, Any] = {"object": "chat.completion", "model": upstream}
        if self.options.send_prompts and trace.request_body is not None:
            request = {**trace.request_body, "model": upstream}
        if self.options.send_prompts and trace.response_body is not None:
            response = dict(trace.response_body)
        response.setdefault("usage", usage)  # Portkey reads tokens from the OpenAI usage block
        if trace.status >= 400:
            response.setdefault("error", {"type": trace.error_type, "code": trace.status})
        # Only a content type: the client's and the provider's headers carry credentials.
        req = {"url": _CHAT_URL, "provider": trace.provider, "headers": _SENT, "body": request}
        got = {"content-type": "text/event-stream" if trace.stream else _JSON}
        res = {"status": trace.status, "headers": got, "body": response}
        res |= {"response_time": max(0, round(trace.latency_ms)), "streamingMode": trace.stream}
        return {"request": req, "response": res, "metadata": self._metadata(trace)}

    def _metadata(self, trace: TraceEvent) -> dict[str, str]:
        facts: dict[str, Any] = {name: getattr(trace, name) for name in _FACTS + _MORE_FACTS}
        facts.update(
            trace_id=trace.trace_id,
            span_id=trace.request_id,
            span_name=f"chat {trace.model}",
            _user=trace.key_id,
            source="annas-gift",
            attempts=len(trace.attempts) or None,
            fallbacks=">".join(f"{a.get('model')}:{a.get('status')}" for a in trace.attempts),
            created_at=trace.created_at.isoformat(),
        )
        # The gateway's facts win over configured and per-request metadata, so `_user` or
        # `trace_id` cannot be spoofed through client-supplied metadata.
        merged = {**self.options.metadata, **trace.metadata}
        merged.update((k, v) for k, v in facts.items() if v not in (None, ""))
        return {str(k): str(v)[:MAX_METADATA_VALUE] for k, v in merged.items()}

    def _requeue(self, batch: list[TraceEvent]) -> None:
        self._queue.extendleft(reversed(batch))
        while len(self._queue) > self._max_queue:
            self._queue.popleft()
            self.dropped += 1

    def _backoff(self) -> float:
        wait, self._retry_after = self._retry_after, None  # Portkey's Retry-After wins, capped
        if wait is None:
            wait = self.options.backoff_s * 2 ** max(0, self._failures - 1)
            wait *= 0.5 + random.random() / 2  # jitter: instances must not retry in lockstep
        return min(wait, self.options.max_backoff_s)

    def _failed(self, error: str) -> _Outcome:
        # Only the first failure of a streak is a warning: an outage must not flood the log.
        self.last_error = error.replace(self._key, "***") if self._key else error
        level = logging.DEBUG if self._failures else logging.WARNING
        log.log(level, "Portkey upload failed (%s); will retry", self.last_error)
        return "retry"

    async def _send(self, batch: list[TraceEvent]) -> _Outcome:
        try:
            entries = [self.entry(trace) for trace in batch]
            # One entry goes as a bare object (the SDK's form); more as the documented array.
            body = orjson.dumps(entries[0] if len(entries) == 1 else entries, default=str)
        except Exception as exc:  # one bad event must not block the ones queued behind it
            self.last_error = f"could not encode a trace: {type(exc).__name__}"
            log.warning("%s", self.last_error)
            return "rejected"
        assert self._session is not None
        try:
            async with self._session.post(self._url, data=body, headers=self._headers) as response:
                await response.read()
                status, retry_after = response.status, response.headers.get("retry-after")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return self._failed(f"{type(exc).__name__}: {exc}"[:300])
        if 200 <= status < 300:
            return "sent"
        if status in (408, 429) or status >= 500:
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                self._retry_after = float(retry_after)
            return self._failed(f"HTTP {status}")
        self.last_error = f"HTTP {status}"
        log.warning("Portkey rejected %d traces: HTTP %d (401/403: bad key)", len(batch), status)
        return "rejected"

    async def _run(self) -> None:
        while not self._stopping:
            delay = self._backoff() if self._failures else self.options.flush_interval_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.flush()
            except Exception:  # the sender must outlive any one bad batch
                log.exception("Portkey upload failed unexpectedly")
