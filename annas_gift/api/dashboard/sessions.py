"""Dashboard logins: signed, expiring session tokens that every worker and instance accepts.

A token is `<payload>.<signature>`, both base64url: the payload is the JSON list
`[key id, expiry (epoch seconds), nonce]`, the signature its HMAC-SHA256 under a key derived
from the secret of the key that logged in (and `dashboard.session_secret`, when set). So there
is no server state to share: any process configured with the same keys checks a token on its
own, and **changing that key (or the session secret) revokes its sessions**. The cookie holds
no key, only its id. Logout clears the cookie and refuses the token in this process until it
expires; another worker or instance would still accept a copy of it until then.

Hand-rolled on `hmac`/`hashlib` rather than itsdangerous (not otherwise a dependency): its
serializers sign with one secret, while here the secret depends on the key id the token names.

`LoginThrottle` counts failed logins per client address (in this process) and refuses more
than `limit` a minute.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

COOKIE_NAME = "annas_dashboard"
DEFAULT_TTL_S = 8 * 3600
MAX_REVOKED = 10_000  # logged-out tokens remembered until they expire (oldest dropped first)
_CONTEXT = b"annas-gift dashboard session v1\0"  # a signing key is never a key's plain hash


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """Who logged in (the key id, never the key) and until when (epoch seconds)."""

    key_id: str
    expires_at: float


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_keys(
    login_secrets: Mapping[str, str], session_secret: str | None = None
) -> dict[str, bytes]:
    """One HMAC key per key id that may log in, from its secret (and the session secret)."""
    extra = (session_secret or "").encode()
    return {
        key_id: hashlib.sha256(_CONTEXT + extra + b"\0" + secret.encode()).digest()
        for key_id, secret in login_secrets.items()
    }


class SessionStore:
    """Issues and checks signed session tokens; remembers only logged-out ones, per process."""

    def __init__(
        self,
        keys: Mapping[str, bytes] | None = None,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_s = ttl_s
        self._keys = dict(keys or {})
        self._clock = clock
        self._revoked: OrderedDict[str, float] = OrderedDict()  # token -> its expiry

    def _key_for(self, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            # A key the settings do not list (e.g. a test's): a secret of this process only,
            # so its sessions work here and end with the process.
            key = self._keys[key_id] = secrets.token_bytes(32)
        return key

    def create(self, key_id: str) -> str:
        """A new session for key_id; returns the token to put in the cookie."""
        expires = math.floor(self._clock() + self.ttl_s)
        payload = _b64(json.dumps([key_id, expires, secrets.token_urlsafe(12)]).encode())
        mac = hmac.new(self._key_for(key_id), payload.encode("ascii"), hashlib.sha256)
        return f"{payload}.{_b64(mac.digest())}"

    def get(self, token: str | None) -> DashboardSession | None:
        """The session a token stands for, or None (forged, expired, logged out, key gone)."""
        if not token or token in self._revoked:
            return None
        payload, _, signature = token.partition(".")
        try:
            key_id, expires, _nonce = json.loads(_unb64(payload))
            given = _unb64(signature)
        except (ValueError, TypeError, binascii.Error):
            return None
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None or not isinstance(expires, int):
            return None
        expected = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, given) or expires <= self._clock():
            return None
        return DashboardSession(key_id, float(expires))

    def revoke(self, token: str | None) -> None:
        """Log out: refuse this token here until it expires; unknown tokens are ignored."""
        session = self.get(token)
        if session is None or token is None:
            return
        now = self._clock()
        while self._revoked:  # oldest first: all tokens live for the same ttl
            oldest, until = next(iter(self._revoked.items()))
            if until > now and len(self._revoked) < MAX_REVOKED:
                break
            del self._revoked[oldest]
        self._revoked[token] = session.expires_at


class LoginThrottle:
    """Failed logins per client address in a sliding minute; more than `limit` are refused."""

    def __init__(
        self,
        limit: int = 5,
        *,
        window_s: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._max = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address) or deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, address: str) -> float | None:
        """Seconds until `address` may try again, or None when it may now."""
        now = self._clock()
        times = self._recent(address, now)
        if len(times) < self.limit:
            return None
        return max(0.0, times[0] + self.window_s - now)

    def failed(self, address: str) -> None:
        """Count one failed login from `address`."""
        now = self._clock()
        times = self._recent(address, now)
        times.append(now)
        self._failures[address] = times
        self._failures.move_to_end(address)
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        """A good login clears the address's failures."""
        self._failures.pop(address, None)


def login_secrets(
    admin_specs: Iterable[str],
    client_specs: Iterable[str],
    readers: Iterable[str],
    split: Callable[[str], tuple[str, str]],
) -> dict[str, str]:
    """Key id -> secret of every key that may log in: admin keys, and client keys in `readers`."""
    allowed = set(readers)
    out = dict(split(spec) for spec in admin_specs)
    for key_id, secret in map(split, client_specs):
        if key_id in allowed:
            out.setdefault(key_id, secret)
    return out
