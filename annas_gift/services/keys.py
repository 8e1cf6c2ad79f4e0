"""Virtual keys, pure logic: secrets and their hashes, roles, allowed models, expiry, revocation.

A secret is `ag-` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored and
looked up: with that much entropy a slow password hash adds nothing, and a plain digest keeps
the lookup one dict access. The first 7 characters (`ag-3f9c`) are kept to recognise a key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

from annas_gift.core.errors import AuthenticationFailed, ModelNotAllowed
from annas_gift.storage.models import TeamBudget, VirtualKey

SECRET_PREFIX = "ag-"  # noqa: S105 - the public start of every secret, not a secret
PREFIX_LENGTH = len(SECRET_PREFIX) + 4  # "ag-3f9c"
Role = Literal["admin", "client"]
KeyStatus = Literal["active", "expired", "revoked"]
AUTO_PATTERN = "auto*"


def new_secret() -> str:
    """A fresh key secret: `ag-` + 256 random bits, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    """A fresh key id (what usage records and the API name the key by): `vk-` + 12 hex."""
    return "vk-" + secrets.token_hex(6)


def hash_secret(secret: str) -> str:
    """The hex SHA-256 of a secret: the only form in which it is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_digest(secret: str) -> bytes:
    """The raw SHA-256 of a secret (or bearer token): the form lookups compare."""
    return hashlib.sha256(secret.encode()).digest()


def secret_prefix(secret: str) -> str:
    """The recognisable start of a secret, e.g. `ag-3f9c`."""
    return secret[:PREFIX_LENGTH]


def display_prefix(prefix: str) -> str:
    """A prefix as shown in tables and responses: `ag-3f9c…`."""
    return prefix + "…"


def looks_like_virtual_key(token: str) -> bool:
    """True for tokens shaped like our secrets (settings keys may look like anything)."""
    return token.startswith(SECRET_PREFIX) and len(token) > PREFIX_LENGTH


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A virtual key as the hot path sees it: everything but a secret (it has none)."""

    id: str
    name: str
    team: str | None
    secret_hash: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    allowed_models: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_daily_usd: float | None = None
    budget_monthly_usd: float | None = None
    budget_total_usd: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: VirtualKey) -> KeyRecord:
        """The record of a database row."""
        return cls(
            id=row.id,
            name=row.name,
            team=row.team,
            secret_hash=row.secret_hash,
            prefix=row.prefix,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            allowed_models=None if row.allowed_models is None else tuple(row.allowed_models),
            rpm=row.rpm,
            tpm=row.tpm,
            budget_daily_usd=row.budget_daily_usd,
            budget_monthly_usd=row.budget_monthly_usd,
            budget_total_usd=row.budget_total_usd,
            metadata=dict(row.meta or {}),
        )

    def __repr__(self) -> str:
        # The hash identifies the secret's owner to anyone holding the secret: keep it out of logs.
        return f"KeyRecord(id={self.id!r}, name={self.name!r}, prefix={self.prefix!r})"


@dataclass(frozen=True, slots=True)
class TeamBudgets:
    """The budgets of one team label (None: unlimited)."""

    team: str
    daily_usd: float | None = None
    monthly_usd: float | None = None
    total_usd: float | None = None

    @classmethod
    def of(cls, row: TeamBudget) -> TeamBudgets:
        """The budgets of a database row."""
        return cls(row.team, row.budget_daily_usd, row.budget_monthly_usd, row.budget_total_usd)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an admin key, a settings client key or a virtual key."""

    key_id: str
    role: Role
    record: KeyRecord | None = None  # set for virtual keys only

    @property
    def is_admin(self) -> bool:
        """Whether this caller may use the admin routes."""
        return self.role == "admin"


def key_status(record: KeyRecord, now: datetime) -> KeyStatus:
    """Revoked beats expired; a key expires at `expires_at` exactly."""
    if record.revoked_at is not None and record.revoked_at <= now:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return "active"


def check_usable(record: KeyRecord, now: datetime) -> None:
    """Raise the 401 a revoked or expired key gets."""
    status = key_status(record, now)
    if status == "revoked":
        raise AuthenticationFailed("This API key has been revoked.", code="key_revoked")
    if status == "expired":
        assert record.expires_at is not None
        raise AuthenticationFailed(
            f"This API key expired at {record.expires_at.isoformat()}.", code="key_expired"
        )


def model_allowed(patterns: Sequence[str] | None, model: str) -> bool:
    """Whether a requested model name matches the allow-list (None: everything is allowed).

    Patterns are exact names or fnmatch globs (`groq/*`); `auto*` allows auto routing.
    """
    if patterns is None:
        return True
    return any(fnmatchcase(model, pattern) for pattern in patterns)


def candidate_allowed(patterns: Sequence[str] | None, model: str) -> bool:
    """Whether auto routing may pick `model` for this key.

    A list that only allows `auto*` lets auto use any model; once it names models or globs,
    auto chooses among those only.
    """
    if patterns is None:
        return True
    concrete = [p for p in patterns if not fnmatchcase("auto", p)]
    return not concrete or any(fnmatchcase(model, p) for p in concrete)


def check_model(record: KeyRecord | None, model: str) -> None:
    """Raise the 403 a key gets for a model outside its allow-list."""
    if record is not None and not model_allowed(record.allowed_models, model):
        allowed = ", ".join(record.allowed_models or ())
        raise ModelNotAllowed(
            f"This API key may not use model '{model}' (allowed: {allowed}).", param="model"
        )


def validate_patterns(patterns: Sequence[str]) -> list[str]:
    """Clean an allow-list for storage: stripped, non-empty, no duplicates, order kept."""
    out: list[str] = []
    for pattern in patterns:
        value = pattern.strip()
        if not value:
            raise ValueError("allowed model patterns must not be empty")
        if len(value) > 200:
            raise ValueError("an allowed model pattern may be at most 200 characters")
        if value not in out:
            out.append(value)
    return out
