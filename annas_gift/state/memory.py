"""In-process state backend: the default, and the fallback while Redis is unreachable.

Single-threaded asyncio makes every method atomic (none awaits), so check-and-increment needs
no lock. Semantics match the Redis backend exactly (see `base`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from annas_gift.state import breaker
from annas_gift.state.base import (
    US,
    Admission,
    CallOutcome,
    Learned,
    ModelLiveState,
    Plan,
    build_live,
)
from annas_gift.state.cache import LruCache

_NEVER = -1


class _Entry:
    __slots__ = ("ticket", "tokens", "ts")

    def __init__(self, ts: int, tokens: int, ticket: str) -> None:
        self.ts = ts
        self.tokens = tokens
        self.ticket = ticket  # "<rid>:<admitted tokens>", the Redis member name


class _Log:
    """One sliding log: entries in admission order and the sum of their token weights."""

    __slots__ = ("cutoff", "entries", "tokens", "window_us")

    def __init__(self, window_us: int) -> None:
        self.window_us = window_us
        self.entries: deque[_Entry] = deque()
        self.tokens = 0
        self.cutoff = -(1 << 62)  # every entry with ts <= cutoff has been purged

    def purge(self, now_us: int, tickets: dict[str, _Entry] | None) -> None:
        """Drop entries admitted at or before now - window (and their tickets, if given)."""
        cutoff = now_us - self.window_us
        entries = self.entries
        while entries and entries[0].ts <= cutoff:
            entry = entries.popleft()
            self.tokens -= entry.tokens
            if tickets is not None:
                tickets.pop(entry.ticket, None)
        if cutoff > self.cutoff:
            self.cutoff = cutoff

    def requests_wait(self, limit: int, now_us: int) -> int:
        """µs until one more request fits (the (n-limit)-th oldest entry must leave)."""
        if limit <= 0:
            return _NEVER
        return self.entries[len(self.entries) - limit].ts + self.window_us - now_us

    def tokens_wait(self, need: int, now_us: int) -> int:
        """µs until `need` tokens have left the window."""
        freed = 0
        for entry in self.entries:
            freed += entry.tokens
            if freed >= need:
                return entry.ts + self.window_us - now_us
        return self.window_us


class _Subject:
    __slots__ = (
        "cooldown_until",
        "health",
        "inflight",
        "last",
        "learned_req",
        "learned_req_until",
        "learned_tok",
        "learned_tok_until",
        "logs",
        "longest",
        "tickets",
    )

    def __init__(self) -> None:
        self.logs: dict[int, _Log] = {}
        self.longest = 0
        self.tickets: dict[str, _Entry] = {}
        self.last: _Entry | None = None
        self.cooldown_until = 0
        self.health = breaker.Health()
        self.learned_req = 0
        self.learned_req_until = 0
        self.learned_tok = 0
        self.learned_tok_until = 0
        self.inflight = 0

    def log(self, window_us: int, now_us: int) -> _Log:
        """The purged log for one window length (created on first use)."""
        log = self.logs.get(window_us)
        if log is None:
            log = self.logs[window_us] = _Log(window_us)
            self.longest = max(self.longest, window_us)
        # Tickets are dropped only when their entry leaves the longest window.
        log.purge(now_us, self.tickets if window_us == self.longest else None)
        return log


class MemoryBackend:
    """Sliding logs, cooldowns, health and an LRU cache in this process."""

    name = "memory"

    def __init__(
        self,
        clock: Callable[[], float],
        cache_max_entries: int,
        policy: breaker.HealthPolicy = breaker.DEFAULT_POLICY,
    ) -> None:
        self._clock = clock
        self._policy = policy
        self._subjects: dict[str, _Subject] = {}
        self._cache = LruCache(cache_max_entries, clock)
        self._memo: dict[str, tuple[tuple[object, ...], ModelLiveState]] = {}

    def _now(self) -> int:
        # round, not int: 59.999 * 1e6 is 59998999.99999999 in binary floating point.
        return round(self._clock() * US)

    def _subject(self, key: str) -> _Subject:
        subject = self._subjects.get(key)
        if subject is None:
            subject = self._subjects[key] = _Subject()
        return subject

    async def admit(  # noqa: C901 - mirrors lua.ADMIT step by step, so the backends compare
        self, plan: Plan, tokens: int, rid: str
    ) -> Admission:
        """Atomically check every window and gate; add the entry to all windows or to none."""
        now = self._now()
        s = self._subject(plan.subject)
        claim = False
        if plan.gated:
            if s.cooldown_until > now:
                return Admission(False, (s.cooldown_until - now) / US, "cooldown")
            wait, claim = breaker.gate(s.health, now)
            if wait:
                return Admission(False, wait / US, "breaker")
            if s.learned_req_until > now and s.learned_req < 1:
                return Admission(False, (s.learned_req_until - now) / US, "provider_requests")
            if s.learned_tok_until > now and s.learned_tok < tokens:
                return Admission(False, (s.learned_tok_until - now) / US, "provider_tokens")
        worst = 0
        worst_name: str | None = None
        logs = []
        for window in plan.windows:
            log = s.log(window.window_us, now)
            logs.append(log)
            spec = window.requests
            if spec is not None and len(log.entries) + 1 > spec.limit:
                wait = log.requests_wait(spec.limit, now)
                if worst != _NEVER and (wait == _NEVER or wait > worst):
                    worst, worst_name = wait, spec.name
            spec = window.tokens
            if spec is not None and log.tokens + tokens > spec.limit:
                if tokens > spec.limit:
                    wait = _NEVER
                else:
                    wait = log.tokens_wait(log.tokens + tokens - spec.limit, now)
                if worst != _NEVER and (wait == _NEVER or wait > worst):
                    worst, worst_name = wait, spec.name
        if worst_name is not None:
            return Admission(False, None if worst == _NEVER else worst / US, worst_name)
        ticket = f"{rid}:{tokens}"
        entry = _Entry(now, tokens, ticket)
        for log in logs:
            log.entries.append(entry)
            log.tokens += tokens
        if plan.gated:
            if logs:  # an entry in no log has nothing to correct (and would never be pruned)
                s.tickets[ticket] = entry
                s.last = entry
            if s.learned_req_until > now:
                s.learned_req -= 1
            if s.learned_tok_until > now:
                s.learned_tok -= tokens
            if claim:
                breaker.claim_probe(s.health, now, self._policy)
        return Admission(True, ticket=ticket)

    def _reweigh(self, s: _Subject, entry: _Entry, delta: int) -> None:
        for log in s.logs.values():
            if entry.ts > log.cutoff:  # still inside this log
                log.tokens += delta
        entry.tokens += delta

    async def settle(  # noqa: C901 - mirrors lua.SETTLE step by step, so the backends compare
        self, plan: Plan, ticket: str | None, est: int, actual: int, learned: Learned
    ) -> None:
        """Correct the entry's token weight and tighten budgets the provider reported."""
        now = self._now()
        s = self._subject(plan.subject)
        if ticket is not None:
            entry = s.tickets.get(ticket)
            # The entry still weighs what it was admitted with: not settled yet, not expired.
            if entry is not None and entry.ticket.endswith(f":{entry.tokens}"):
                self._reweigh(s, entry, actual - entry.tokens)
        elif actual > est and s.last is not None and s.last.ticket in s.tickets:
            # Without a ticket only an increase is safe: charge it to the newest entry.
            self._reweigh(s, s.last, actual - est)
        if learned.empty:
            return
        own_req: int | None = None
        own_tok: int | None = None
        for window in plan.windows:
            log = s.log(window.window_us, now)
            if window.requests is not None:
                left = window.requests.limit - len(log.entries)
                own_req = left if own_req is None else min(own_req, left)
            if window.tokens is not None:
                left = window.tokens.limit - log.tokens
                own_tok = left if own_tok is None else min(own_tok, left)
        if learned.requests is not None:
            if own_req is None or learned.requests < own_req:
                s.learned_req = learned.requests
                s.learned_req_until = now + max(1, round((learned.requests_reset_s or 0) * US))
            else:
                s.learned_req_until = 0
        if learned.tokens is not None:
            if own_tok is None or learned.tokens < own_tok:
                s.learned_tok = learned.tokens
                s.learned_tok_until = now + max(1, round((learned.tokens_reset_s or 0) * US))
            else:
                s.learned_tok_until = 0

    async def report(self, plan: Plan, outcome: CallOutcome) -> None:
        """Record one upstream outcome in the health record; apply any cooldown."""
        now = self._now()
        s = self._subject(plan.subject)
        breaker.apply(s.health, outcome, now, self._policy)
        if outcome.cooldown_s:
            s.cooldown_until = max(s.cooldown_until, now + round(outcome.cooldown_s * US))

    async def report_successes(self, plan: Plan, latencies_ms: Sequence[float]) -> None:
        """Record successful calls, in order: the same record as one `report` for each."""
        now = self._now()
        health = self._subject(plan.subject).health
        for latency in latencies_ms:
            breaker.apply(health, CallOutcome("success", latency, None, None), now, self._policy)

    async def snapshot(self, plans: Sequence[Plan]) -> list[ModelLiveState]:
        """Live state of each plan's subject, in order."""
        now = self._now()
        out = []
        for plan in plans:
            s = self._subject(plan.subject)
            usage: list[int] = []
            for window in plan.windows:
                log = s.log(window.window_us, now)
                usage += (len(log.entries), log.tokens)
            h = s.health
            out.append(
                build_live(
                    plan,
                    now,
                    cooldown_until_us=s.cooldown_until,
                    is_open=h.is_open,
                    open_until_us=h.open_until_us,
                    error_rate=h.error_rate,
                    p50_ms=h.p50_ms,
                    last_error=h.last_error,
                    last_check_us=h.last_check_us,
                    usage=usage,
                    learned=(
                        s.learned_req if s.learned_req_until > now else None,
                        s.learned_tok if s.learned_tok_until > now else None,
                    ),
                    memo=self._memo,
                )
            )
        return out

    async def inflight(self, subject: str, delta: int) -> int:
        """Add delta to the subject's in-flight count (never below 0) and return it."""
        s = self._subject(subject)
        s.inflight = max(0, s.inflight + delta)
        return s.inflight

    async def cache_get(self, key: str) -> bytes | None:
        """The cached value, or None when absent or expired."""
        return self._cache.get(key)

    async def cache_set(self, key: str, value: bytes, ttl_s: int) -> None:
        """Store a value for ttl_s seconds (LRU-bounded)."""
        self._cache.set(key, value, ttl_s)

    async def ping(self) -> bool:
        """Always reachable."""
        return True

    async def aclose(self) -> None:
        """Nothing to release."""
        return None
