"""Alert delivery: a generic JSON webhook and apprise channels (Slack, Discord, Teams, e-mail).

Channel URLs carry secrets (webhook tokens, SMTP passwords), so a channel only ever shows its
masked URL, in reprs, logs and responses. `Notifier.submit` queues a message and returns at
once; a background task delivers it to every channel, rate limited and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from annas_gift.settings_ops import ChannelSettings, DeliverySettings

log = logging.getLogger(__name__)
MASK = "***"
Status = Literal["firing", "resolved", "test"]


def mask_channel_url(url: str) -> str:
    """The URL with everything that may be secret replaced by ***.

    http(s) webhooks keep scheme, host and port (the path often is the token); apprise URLs
    keep only their scheme, because apprise puts tokens in the host part too (slack://T/B/C).
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        return MASK
    if scheme.lower() not in ("http", "https"):
        return f"{scheme.lower()}://{MASK}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    rest = f"/{MASK}" if (parts.path.strip("/") or parts.query) else ""
    user = f"{MASK}@" if parts.username or parts.password else ""
    return f"{scheme.lower()}://{user}{host}{port}{rest}"


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One notification: an alert firing or resolved, or a test."""

    status: Status
    rule: str
    subject: str
    severity: str
    summary: str
    instance: str
    incident_id: str
    started_at: datetime
    resolved_at: datetime | None = None
    value: float | None = None
    threshold: float | None = None

    @property
    def title(self) -> str:
        """A one-line title for chat channels and e-mail subjects."""
        label = {"firing": "FIRING", "resolved": "RESOLVED", "test": "TEST"}[self.status]
        return f"[{label}] Anna's Gift: {self.rule} ({self.subject})"

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the generic webhook."""
        return {
            "status": self.status,
            "rule": self.rule,
            "subject": self.subject,
            "severity": self.severity,
            "summary": self.summary,
            "instance": self.instance,
            "incident_id": self.incident_id,
            "started_at": self.started_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "value": self.value,
            "threshold": self.threshold,
        }


class DeliveryError(Exception):
    """A channel did not take a message; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    name: str
    masked_url: str

    async def send(self, message: AlertMessage) -> None: ...

    async def aclose(self) -> None: ...


class _MaskUrls(logging.Filter):
    """Rewrites log records that quote a channel URL (httpx logs every request at INFO)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: dict[str, str] = {}  # secret URL -> its masked form

    def filter(self, record: logging.LogRecord) -> bool:
        if self.urls:
            text = record.getMessage()
            masked = text
            for url, mask in self.urls.items():
                masked = masked.replace(url, mask)
            if masked != text:
                record.msg, record.args = masked, None
        return True


_HTTPX_MASK = _MaskUrls()
logging.getLogger("httpx").addFilter(_HTTPX_MASK)


class WebhookChannel:
    """POSTs the message as JSON to an http(s) URL."""

    def __init__(
        self, name: str, url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0
    ) -> None:
        import httpx

        self.name = name
        self._url = url
        self.masked_url = mask_channel_url(url)
        _HTTPX_MASK.urls[url] = self.masked_url
        self._client = httpx.AsyncClient(timeout=timeout_s, headers=headers or {})

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self.name!r}, url={self.masked_url!r})"

    async def send(self, message: AlertMessage) -> None:
        """One POST; DeliveryError on a transport error or a non-2xx answer."""
        import httpx

        try:
            response = await self._client.post(self._url, json=message.to_dict())
        except httpx.HTTPError as exc:
            # The type only: httpx messages may quote the URL, which holds the token.
            raise DeliveryError(type(exc).__name__, retryable=True) from None
        if response.status_code >= 300:
            retryable = response.status_code >= 500 or response.status_code in (408, 429)
            raise DeliveryError(f"HTTP {response.status_code}", retryable=retryable)

    async def aclose(self) -> None:
        await self._client.aclose()


class AppriseChannel:
    """Any apprise URL: slack://, discord://, msteams://, mailto://, json:// ..."""

    def __init__(self, name: str, url: str) -> None:
        with _third_party_warnings_off():
            import apprise  # here: it loads its plugins (~0.5 s), only when a channel needs it

            self._apprise = apprise.Apprise()
            added = self._apprise.add(url)  # loads the plugins
        self.name = name
        self.masked_url = mask_channel_url(url)
        if not added:
            raise ValueError(f"alert channel {name}: not a valid apprise URL ({self.masked_url})")

    def __repr__(self) -> str:
        return f"AppriseChannel(name={self.name!r}, url={self.masked_url!r})"

    async def send(self, message: AlertMessage) -> None:
        """Notify through apprise; DeliveryError when it reports failure."""
        import apprise

        kind = {
            "firing": apprise.NotifyType.FAILURE,
            "resolved": apprise.NotifyType.SUCCESS,
            "test": apprise.NotifyType.INFO,
        }[message.status]
        body = f"{message.summary}\ninstance: {message.instance}\nincident: {message.incident_id}"
        ok = await self._apprise.async_notify(body=body, title=message.title, notify_type=kind)
        if not ok:
            raise DeliveryError("apprise reported failure", retryable=True)

    async def aclose(self) -> None:
        return None


@contextlib.contextmanager
def _third_party_warnings_off() -> Iterator[None]:
    # apprise's e-mail plugin imports the stdlib's deprecated imghdr; not ours to fix.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        yield


def build_channel(spec: ChannelSettings, timeout_s: float = 10.0) -> Channel:
    """The channel a settings entry describes; ValueError for a bad apprise URL."""
    url = spec.url.get_secret_value()
    if spec.kind == "webhook":
        headers = {k: v.get_secret_value() for k, v in spec.headers.items()}
        return WebhookChannel(spec.name, url, headers, timeout_s)
    return AppriseChannel(spec.name, url)


@dataclass(slots=True)
class ChannelStats:
    sent: int = 0
    failed: int = 0
    retries: int = 0
    last_error: str | None = None
    last_sent: float = field(default=0.0, repr=False)  # monotonic, for the rate limit


class Notifier:
    """Delivers messages to every channel in the background; never blocks the caller."""

    def __init__(
        self,
        channels: list[Channel],
        delivery: DeliverySettings | None = None,
        *,
        sleep: Any = asyncio.sleep,
    ) -> None:
        self.channels = channels
        self._delivery = delivery or DeliverySettings()
        self._sleep = sleep
        self._queue: deque[AlertMessage] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.stats = {c.name: ChannelStats() for c in channels}
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Messages queued and not yet attempted."""
        return len(self._queue)

    def submit(self, message: AlertMessage) -> None:
        """Queue a message for every channel; O(1); the oldest is dropped when the queue is full."""
        if len(self._queue) >= self._delivery.queue_size:
            self._queue.popleft()
            self.dropped += 1
            log.warning("alert queue full: dropped the oldest message")
        self._queue.append(message)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        """Start the delivery task (idempotent)."""
        if self._task is None and self.channels:
            self._task = asyncio.create_task(self._run(), name="annas-gift-alert-delivery")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to timeout_s), then stop and close the channels."""
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._idle.wait()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in self.channels:
            with contextlib.suppress(Exception):
                await channel.aclose()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                message = self._queue[0]
                await asyncio.gather(*(self.deliver(c, message) for c in self.channels))
                self._queue.popleft()
            self._idle.set()

    async def deliver(self, channel: Channel, message: AlertMessage) -> bool:
        """Send to one channel with rate limit and retries; True when it was taken."""
        stats = self.stats.setdefault(channel.name, ChannelStats())
        d = self._delivery
        for attempt in range(d.max_retries + 1):
            wait = stats.last_sent + d.min_interval_s - time.monotonic()
            if wait > 0:
                await self._sleep(wait)
            stats.last_sent = time.monotonic()
            try:
                await channel.send(message)
            except DeliveryError as exc:
                stats.last_error = str(exc)
                if not exc.retryable or attempt == d.max_retries:
                    break
                stats.retries += 1
                await self._sleep(d.retry_backoff_s * 2**attempt)
            except Exception as exc:  # a channel bug must not stop the delivery task
                stats.last_error = type(exc).__name__
                break
            else:
                stats.sent += 1
                return True
        stats.failed += 1
        log.warning(
            "alert %s/%s not delivered to %s (%s): %s",
            message.rule, message.status, channel.name, channel.masked_url, stats.last_error,
        )  # fmt: skip
        return False


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
