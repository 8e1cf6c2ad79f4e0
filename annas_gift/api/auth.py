"""Gateway keys: parsing the configured keys, the key file, constant-time verification.

The request path resolves tokens with `services.principals.PrincipalResolver` (built from
`KeyRing.ids_by_digest`); `verify` is the constant-time check of one ring on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from annas_gift.services.keys import secret_digest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: str
    digest: bytes


def key_id_for(spec: str) -> tuple[str, str]:
    """Split a configured key into (id, secret); `name:key` is named, a bare key gets a hash id."""
    name, sep, secret = spec.partition(":")
    if sep and name and secret and not name.startswith("sk-"):
        return name, secret
    return "key-" + hashlib.sha256(spec.encode()).hexdigest()[:8], spec


class KeyRing:
    """The gateway's client keys; `verify` returns the key id of a valid bearer token."""

    def __init__(self, specs: list[str]) -> None:
        self._keys: list[_Key] = []
        for spec in specs:
            key_id, secret = key_id_for(spec)
            self._keys.append(_Key(key_id, hashlib.sha256(secret.encode()).digest()))

    def __len__(self) -> int:
        return len(self._keys)

    def verify(self, token: str) -> str | None:
        """The key id if `token` is one of the keys; every key is compared, in constant time."""
        return self.verify_digest(secret_digest(token))

    def ids_by_digest(self) -> dict[bytes, str]:
        """Each key's SHA-256 digest -> its id, for `services.principals.PrincipalResolver`.

        A secret listed twice keeps its last id, as `verify` does.
        """
        return {key.digest: key.key_id for key in self._keys}

    def verify_digest(self, digest: bytes) -> str | None:
        """`verify` for a token already hashed with `secret_digest` (hash once per request)."""
        found = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.digest):
                found = key.key_id
        return found


def ensure_key_file(path: Path) -> str:
    """Read the local key file, creating it with a fresh random key if absent (mode 0600)."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = "sk-annas-" + secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    # The path, never the key: secrets stay out of logs.
    log.warning("no ANNAS_GIFT_API_KEY set: generated a gateway key in %s", path)
    return key
