"""VPN endpoint state and rotation policies: pure choice logic, no I/O, no clock of its own."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

# Re-exported: the names live in core so that settings can validate them.
from annas_gift.core.names import POLICIES as POLICIES
from annas_gift.core.names import normalize_policy as normalize_policy
from annas_gift.storage.repositories.vpn import mask_url


@dataclass(frozen=True, slots=True)
class ProxyChoice:
    """The endpoint chosen for one call; `url` holds credentials and must never be logged."""

    name: str
    url: str = field(repr=False)
    masked_url: str


@dataclass(slots=True)
class EndpointState:
    """One endpoint as the manager sees it: its row's fields plus in-memory health detail."""

    name: str
    url: str = field(repr=False)  # may hold credentials
    country: str | None = None
    provider_label: str | None = None
    allowed_providers: tuple[str, ...] | None = None
    active: bool = True
    healthy: bool = True
    failure_count: int = 0  # consecutive failures (requests and probes); a good probe resets it
    requests_carried: int = 0
    latency_ms: float | None = None  # last probe's round trip through the proxy
    last_used: datetime | None = None
    last_checked: datetime | None = None
    # In memory only:
    suspended: bool = False  # a request failed through it; out of rotation until a good probe
    failed_at: float = 0.0  # monotonic time of the last failure
    last_error: str | None = None
    request_latency_ms: float | None = None  # moving average of requests carried
    failures_total: int = 0
    rate_limited_total: int = 0
    pending_carried: int = 0  # counted here, not yet written to the database
    egress_ip: str | None = None
    egress_country: str | None = None

    @property
    def masked_url(self) -> str:
        """The URL with its credentials replaced by ***."""
        return mask_url(self.url)

    @property
    def usable(self) -> bool:
        """Active, healthy and not suspended: eligible for new requests."""
        return self.active and self.healthy and not self.suspended

    def allows(self, provider: str) -> bool:
        """Whether requests to `provider` may use this endpoint."""
        return self.allowed_providers is None or provider in self.allowed_providers

    @property
    def state(self) -> str:
        """inactive | down | suspect | unknown (never checked) | up."""
        if not self.active:
            return "inactive"
        if not self.healthy:
            return "down"
        if self.suspended:
            return "suspect"
        return "unknown" if self.last_checked is None else "up"

    def note_failure(self, error: str, now: float, threshold: int, *, suspend: bool) -> bool:
        """Count a failure (a request's when `suspend`, else a probe's); True if now down."""
        self.suspended = self.suspended or suspend
        self.failure_count += 1
        self.failures_total += 1
        self.failed_at = now
        self.last_error = error[:300]
        if self.healthy and self.failure_count >= threshold:
            self.healthy = False
            return True
        return False

    def note_good_probe(
        self, latency_ms: float | None, egress_ip: str | None, egress_country: str | None
    ) -> bool:
        """A probe got through: back in rotation. True if it had been out."""
        was_out = not self.usable
        self.healthy, self.suspended, self.failure_count = True, False, 0
        self.latency_ms, self.last_error = latency_ms, None
        self.egress_ip, self.egress_country = egress_ip, egress_country
        return was_out and self.active

    def note_latency(self, latency_ms: float) -> None:
        """Fold one request's latency into the moving average."""
        prev = self.request_latency_ms
        self.request_latency_ms = latency_ms if prev is None else prev + 0.2 * (latency_ms - prev)


def candidates(
    states: Iterable[EndpointState],
    provider: str,
    exclude: Collection[str] = (),
    countries: Collection[str] | None = None,
) -> list[EndpointState]:
    """Active endpoints that may carry `provider` (in one of `countries`), healthy or not."""
    return [
        s
        for s in states
        if s.active
        and s.allows(provider)
        and s.name not in exclude
        and (countries is None or (s.country or "").upper() in countries)
    ]


def _after(names: Sequence[str], last: str | None) -> str:
    """The first of `names` (sorted) that comes after `last`, wrapping round."""
    if last is not None:
        for name in names:
            if name > last:
                return name
    return names[0]


class Rotation:
    """Chooses among eligible endpoint names (sorted by name) according to one policy."""

    def __init__(
        self,
        policy: str = "round_robin",
        *,
        every_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = normalize_policy(policy)
        self.every_s = every_s
        self.current: str | None = None
        self.sticky: dict[str, str] = {}
        self._clock = clock
        self._rng = rng or random.Random()
        self._since = float("-inf")
        self._next: str | None = None  # a one-shot choice set by rotate()
        self._pin: str | None = None  # sticky: where rotate() sent every provider

    def choose(self, provider: str, names: Sequence[str], carried: Callable[[str], int]) -> str:
        """The endpoint for the next request to `provider`; `names` is non-empty and sorted."""
        if self._next is not None and self._next in names:
            pick, self._next = self._next, None
        elif self.policy == "random":
            pick = self._rng.choice(list(names))
        elif self.policy == "least_used":
            pick = min(names, key=lambda n: (carried(n), n))
        elif self.policy == "timed":
            now = self._clock()
            if (
                self.current is not None
                and self.current in names
                and now - self._since < self.every_s
            ):
                return self.current
            pick, self._since = _after(names, self.current), now
        elif self.policy == "sticky":
            held = self.sticky.get(provider)
            if held is not None and held in names:
                return held
            pin = self._pin
            pick = pin if pin is not None and pin in names else _after(names, self.current)
            self.sticky[provider] = pick
        else:
            pick = _after(names, self.current)
        self.current = pick
        return pick

    def rotate(self, names: Sequence[str], to: str | None = None) -> str | None:
        """Move on to `to` (or the next of `names`) now; sticky assignments start afresh."""
        if to is None:
            if not names:
                return None
            to = _after(names, self.current)
        self.current = to
        self._since = self._clock()
        self.sticky.clear()
        if self.policy == "sticky":
            self._pin = to  # every provider moves to `to` as its next request comes
        elif self.policy != "timed":
            self._next = to  # these policies choose per request: make `to` the next choice
        return to

    def release(self, name: str, provider: str | None = None) -> None:
        """Stop holding on to `name` (it failed, or `provider` rate limited it)."""
        for held_for, held in list(self.sticky.items()):
            if held == name and provider in (None, held_for):
                del self.sticky[held_for]
        if self.policy == "timed" and self.current == name:
            self._since = float("-inf")  # the next request rotates
        if self._next == name:
            self._next = None
        if self._pin == name:
            self._pin = None

    def forget(self, name: str) -> None:
        """The endpoint is gone: drop every reference to it."""
        self.release(name)
        if self.current == name:
            self.current = None
