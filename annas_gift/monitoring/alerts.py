"""The alert manager: findings become firing and resolved notifications, once per incident.

Each evaluation compares the findings of `alert_rules.evaluate` with the active alerts: a new
finding opens an incident, a finding that is gone resolves it. Whether a notification goes out
is decided by the incident store, atomically, so several gateway instances sharing one Redis
send one message per incident: the instance that opens the incident sends "firing", the one
that closes it sends "resolved". A rule that notified for a subject stays quiet for that
subject for its cooldown (a flapping model does not page every minute). Without Redis the
store is in process, and each instance notifies on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, cast

from annas_gift.monitoring.alert_rules import Finding, Snapshot, evaluate
from annas_gift.monitoring.notify import AlertMessage
from annas_gift.settings_ops import AlertsSettings

log = logging.getLogger(__name__)
Opened = Literal["notify", "suppressed", "already_open"]

# KEYS: incident, cooldown; ARGV: incident id, cooldown s, incident ttl s.
# Returns {outcome, incident id}: the open incident's own id when one is open already, so every
# instance names (and resolves) an incident by the id its opener sent in the firing message.
_OPEN = """
local current = redis.call('GET', KEYS[1])
if current then return {'already_open', string.sub(current, 3)} end
local notify = true
if tonumber(ARGV[2]) > 0 then
  notify = redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', math.floor(ARGV[2] * 1000))
end
local mode = notify and 'n:' or 's:'
redis.call('SET', KEYS[1], mode .. ARGV[1], 'PX', math.floor(ARGV[3] * 1000))
if notify then return {'notify', ARGV[1]} else return {'suppressed', ARGV[1]} end
"""


class IncidentStore(Protocol):
    """Where open incidents live; shared by every instance when it is Redis."""

    async def open(
        self, fingerprint: str, incident_id: str, cooldown_s: float
    ) -> tuple[Opened, str]: ...

    async def close(self, fingerprint: str) -> str | None: ...

    async def touch(self, fingerprints: Sequence[str]) -> None: ...


class MemoryIncidentStore:
    """Incidents in process: one gateway instance, or a fallback while Redis is away."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        # fingerprint -> (incident id, notified, expires)
        self._open: dict[str, tuple[str, bool, float]] = {}
        self._quiet_until: dict[str, float] = {}

    async def open(
        self, fingerprint: str, incident_id: str, cooldown_s: float
    ) -> tuple[Opened, str]:
        """Open an incident unless one is open; "notify" unless the rule is cooling down."""
        now = self._clock()
        current = self._open.get(fingerprint)
        if current is not None and current[2] > now:
            return "already_open", current[0]
        notify = self._quiet_until.get(fingerprint, 0.0) <= now
        if notify and cooldown_s > 0:
            self._quiet_until[fingerprint] = now + cooldown_s
        self._open[fingerprint] = (incident_id, notify, now + self._ttl_s)
        return ("notify" if notify else "suppressed"), incident_id

    async def close(self, fingerprint: str) -> str | None:
        """Close the incident; its id when its firing was notified (so resolved should be)."""
        current = self._open.pop(fingerprint, None)
        if current is None or not current[1] or current[2] <= self._clock():
            return None
        return current[0]

    async def touch(self, fingerprints: Sequence[str]) -> None:
        """Keep these incidents open for another ttl."""
        expires = self._clock() + self._ttl_s
        for fp in fingerprints:
            if fp in self._open:
                self._open[fp] = (*self._open[fp][:2], expires)


class RedisIncidentStore:
    """Incidents in Redis, shared by every instance; falls back to memory while Redis is away."""

    def __init__(self, client: Any, namespace: str, ttl_s: float) -> None:
        self._redis = client
        self._prefix = f"{namespace}:alerts:"
        self._ttl_s = ttl_s
        self._script = client.register_script(_OPEN)
        self._fallback = MemoryIncidentStore(ttl_s)
        self._down = False

    @classmethod
    def from_url(cls, url: str, namespace: str, ttl_s: float) -> RedisIncidentStore:
        """A store on its own small connection pool (alerts are a few calls per interval)."""
        from redis.asyncio import Redis

        return cls(Redis.from_url(url, socket_timeout=2.0, max_connections=4), namespace, ttl_s)

    def _lost(self, exc: BaseException) -> None:
        if not self._down:
            log.warning("alerts: Redis unavailable (%s); de-duplicating per instance", exc)
        self._down = True

    async def open(
        self, fingerprint: str, incident_id: str, cooldown_s: float
    ) -> tuple[Opened, str]:
        keys = [self._prefix + "open:" + fingerprint, self._prefix + "quiet:" + fingerprint]
        try:
            result = await self._script(keys=keys, args=[incident_id, cooldown_s, self._ttl_s])
        except Exception as exc:
            self._lost(exc)
            return await self._fallback.open(fingerprint, incident_id, cooldown_s)
        self._down = False
        outcome, incident = (_text(part) for part in result)
        return cast(Opened, outcome), incident  # one of the script's three literals

    async def close(self, fingerprint: str) -> str | None:
        try:
            value = await self._redis.getdel(self._prefix + "open:" + fingerprint)
        except Exception as exc:
            self._lost(exc)
            return await self._fallback.close(fingerprint)
        if value is None or not _text(value).startswith("n:"):
            return None
        return _text(value)[2:]

    async def touch(self, fingerprints: Sequence[str]) -> None:
        if not fingerprints:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for fp in fingerprints:
                    pipe.pexpire(self._prefix + "open:" + fp, int(self._ttl_s * 1000))
                await pipe.execute()
        except Exception as exc:
            self._lost(exc)
            await self._fallback.touch(fingerprints)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as `GET /api/v1/alerts` lists it."""

    finding: Finding
    incident_id: str
    started_at: datetime
    notified: bool  # whether this instance sent its firing message
    resolved_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        f = self.finding
        return {
            "rule": f.rule,
            "subject": f.subject,
            "severity": f.severity,
            "summary": f.summary,
            "value": f.value,
            "threshold": f.threshold,
            "incident_id": self.incident_id,
            "started_at": self.started_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "state": "resolved" if self.resolved_at else "firing",
        }


class Sink(Protocol):
    def submit(self, message: AlertMessage) -> None: ...


class AlertManager:
    """Evaluates the rules, keeps active and recent alerts, hands notifications to a sink."""

    def __init__(
        self,
        settings: AlertsSettings,
        sink: Sink,
        store: IncidentStore | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._sink = sink
        self._store = store or MemoryIncidentStore(settings.incident_ttl_s)
        self._clock = clock
        self.instance = settings.instance or socket.gethostname()
        self._active: dict[str, Alert] = {}
        self._recent: deque[Alert] = deque(maxlen=settings.recent_limit)
        self._task: asyncio.Task[None] | None = None
        self.evaluations = 0
        self.last_error: str | None = None

    def active(self) -> list[Alert]:
        """Alerts firing now, oldest first."""
        return sorted(self._active.values(), key=lambda a: a.started_at)

    def recent(self) -> list[Alert]:
        """Resolved alerts, newest first."""
        return list(self._recent)

    def listing(self) -> dict[str, Any]:
        """The body of `GET /api/v1/alerts`."""
        return {
            "active": [a.to_dict() for a in self.active()],
            "recent": [a.to_dict() for a in self.recent()],
        }

    async def evaluate(self, snapshot: Snapshot) -> list[AlertMessage]:
        """Apply one snapshot; returns the messages it handed to the sink."""
        findings = {f.fingerprint: f for f in evaluate(snapshot, self.settings)}
        now = self._clock()
        sent: list[AlertMessage] = []
        for fp, finding in findings.items():
            alert = self._active.get(fp)
            if alert is not None:
                self._active[fp] = replace(alert, finding=finding)  # latest value and summary
                continue
            cooldown_s = self.settings.cooldown_for(finding.rule)
            opened, incident = await self._store.open(fp, uuid.uuid4().hex[:16], cooldown_s)
            self._active[fp] = Alert(finding, incident, now, notified=opened == "notify")
            if opened == "notify":
                sent.append(self._message("firing", self._active[fp]))
        for fp in [fp for fp in self._active if fp not in findings]:
            alert = replace(self._active.pop(fp), resolved_at=now)
            self._recent.appendleft(alert)
            # The store's id: the incident this instance closes may be one another instance
            # opened (and named in its firing message) after this instance's alert began.
            closed = await self._store.close(fp)
            if closed is not None:
                sent.append(self._message("resolved", replace(alert, incident_id=closed)))
        await self._store.touch(list(self._active))
        for message in sent:
            self._sink.submit(message)
        self.evaluations += 1
        return sent

    def _message(self, status: Literal["firing", "resolved"], alert: Alert) -> AlertMessage:
        f = alert.finding
        return AlertMessage(
            status=status, rule=f.rule, subject=f.subject, severity=f.severity,
            summary=f.summary, instance=self.instance, incident_id=alert.incident_id,
            started_at=alert.started_at, resolved_at=alert.resolved_at, value=f.value,
            threshold=f.threshold,
        )  # fmt: skip

    def start(self, source: Callable[[], Awaitable[Snapshot]]) -> None:
        """Evaluate `source()` every `alerts.interval_s` in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(source), name="annas-gift-alerts")

    async def stop(self) -> None:
        """Stop evaluating (active alerts stay open in the store for other instances)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, source: Callable[[], Awaitable[Snapshot]]) -> None:
        while True:
            try:
                await self.evaluate(await source())
                self.last_error = None
            except Exception as exc:  # evaluation must outlive any bad reading
                if self.last_error is None:
                    log.warning("alert evaluation failed: %s", type(exc).__name__)
                self.last_error = type(exc).__name__
            await asyncio.sleep(self.settings.interval_s)
