"""Who is calling: a bearer token resolved to an admin key, a settings client key or a live
virtual key, with one SHA-256 and at most two dict lookups per request (no I/O).

Settings keys (admin and client) are fixed at start-up, so their principals are built once,
in one dict keyed by the raw SHA-256 of the secret; virtual keys are found the same way in
the key cache. Every token therefore costs one hash and one or two lookups whether it is
known or not, and less than the settings-only check before virtual keys (which hashed the
token and then compared it with every settings key).

Why a dict lookup rather than `hmac.compare_digest` against every key: what the lookup
compares is SHA-256(token), never the secret, and CPython finds a dict entry by the bytes'
SipHash under a key random per process before it compares any bytes. The timing of a lookup
therefore says nothing an attacker can steer toward the stored digests; and even a leaked
digest prefix would only help to search preimages of a 256-bit hash. (A deployment that sets
PYTHONHASHSEED to a fixed value gives up the random key, not the preimage argument.) Settings
keys may be short or guessable; that is a risk of the key, which no comparison fixes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from annas_gift.services.key_cache import KeyCache
from annas_gift.services.keys import Principal, check_usable, secret_digest


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PrincipalResolver:
    """`resolve(token)`: the caller, or None for an unknown token."""

    def __init__(
        self,
        admin: Mapping[bytes, str],
        clients: Mapping[bytes, str],
        cache: KeyCache | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`admin` and `clients` map each settings key's SHA-256 digest to its key id."""
        table = {digest: Principal(key_id, "client") for digest, key_id in clients.items()}
        # A secret configured both ways is an admin key (as it always was): admin entries last.
        table.update({digest: Principal(key_id, "admin") for digest, key_id in admin.items()})
        self._settings = table
        self._cache = cache
        self._clock = clock

    def settings_principal(self, token: str) -> Principal | None:
        """The admin or settings client key whose secret is `token` (virtual keys not looked at)."""
        return self._settings.get(secret_digest(token))

    def resolve(self, token: str) -> Principal | None:
        """The caller holding `token`; a revoked or expired virtual key raises its 401."""
        digest = secret_digest(token)
        principal = self._settings.get(digest)
        if principal is not None or self._cache is None:
            return principal
        principal = self._cache.principal(digest)
        if principal is None:
            return None
        record = principal.record
        # Only a key with an expiry or a revocation time needs the clock (most have neither).
        if record is not None and (record.expires_at is not None or record.revoked_at is not None):
            check_usable(record, self._clock())
        return principal
