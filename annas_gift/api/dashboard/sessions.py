"""Dashboard login sessions: opaque random tokens mapped to key ids, in process, with expiry.

The cookie holds only the token; the admin key itself is checked once at login and never
stored. Sessions live in this process: behind several instances, pin the dashboard to one
(or log in on each); a restart logs everyone out.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

COOKIE_NAME = "annas_dashboard"
DEFAULT_TTL_S = 8 * 3600
MAX_SESSIONS = 1000


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """Who logged in (the key id, never the key) and until when (epoch seconds)."""

    key_id: str
    expires_at: float


class SessionStore:
    """Opaque session tokens; the oldest are dropped beyond `max_sessions`."""

    def __init__(
        self,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_s = ttl_s
        self._max = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, DashboardSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, key_id: str) -> str:
        """A new session for key_id; returns the token to put in the cookie."""
        token = secrets.token_urlsafe(32)
        self._sessions[token] = DashboardSession(key_id, self._clock() + self.ttl_s)
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return token

    def get(self, token: str | None) -> DashboardSession | None:
        """The live session for a token, or None (unknown or expired; expired ones are dropped)."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if session.expires_at <= self._clock():
            del self._sessions[token]
            return None
        return session

    def revoke(self, token: str | None) -> None:
        """End a session (logout); unknown tokens are ignored."""
        if token:
            self._sessions.pop(token, None)
