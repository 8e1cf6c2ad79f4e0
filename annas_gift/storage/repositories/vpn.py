"""VPN/proxy egress endpoints; their URLs may carry credentials, so views mask them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from annas_gift.storage.models import VPNEndpoint, utcnow

MASK = "***"

UPDATABLE_FIELDS = frozenset(
    {
        "url",
        "country",
        "provider_label",
        "allowed_providers",
        "active",
        "healthy",
        "failure_count",
        "latency_ms",
    }
)


def mask_url(url: str) -> str:
    """The URL with any userinfo secret and query string replaced by ***."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    if ":" in host:
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    if parts.password is not None:
        host = f"{parts.username}:{MASK}@{host}"
    elif parts.username:
        # A lone username is often a token (http://TOKEN@proxy): hide it too.
        host = f"{MASK}@{host}"
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


@dataclass(frozen=True, slots=True)
class VPNEndpointView:
    """A read-only endpoint whose URL is masked: safe for logs and API responses."""

    id: int
    name: str
    url: str
    country: str | None
    provider_label: str | None
    allowed_providers: builtins.list[str] | None
    active: bool
    healthy: bool
    failure_count: int
    requests_carried: int
    latency_ms: float | None
    last_used: datetime | None
    last_checked: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, endpoint: VPNEndpoint) -> VPNEndpointView:
        """Build the masked view of an endpoint row."""
        return cls(
            id=endpoint.id,
            name=endpoint.name,
            url=mask_url(endpoint.url),
            country=endpoint.country,
            provider_label=endpoint.provider_label,
            allowed_providers=endpoint.allowed_providers,
            active=endpoint.active,
            healthy=endpoint.healthy,
            failure_count=endpoint.failure_count,
            requests_carried=endpoint.requests_carried,
            latency_ms=endpoint.latency_ms,
            last_used=endpoint.last_used,
            last_checked=endpoint.last_checked,
            created_at=endpoint.created_at,
        )


class VPNEndpointRepository:
    """CRUD and counters for vpn_endpoints."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        name: str,
        url: str,
        *,
        country: str | None = None,
        provider_label: str | None = None,
        allowed_providers: Sequence[str] | None = None,
        active: bool = True,
    ) -> VPNEndpoint:
        """Store a new endpoint (names are unique) and return it with its id."""
        endpoint = VPNEndpoint(
            name=name,
            url=url,
            country=country,
            provider_label=provider_label,
            allowed_providers=None if allowed_providers is None else list(allowed_providers),
            active=active,
            healthy=True,
            failure_count=0,
            requests_carried=0,
        )
        self._session.add(endpoint)
        await self._session.flush()
        return endpoint

    async def get_by_name(self, name: str) -> VPNEndpoint | None:
        """The endpoint called `name`, if any."""
        return await self._session.scalar(select(VPNEndpoint).where(VPNEndpoint.name == name))

    async def list(self, *, active_only: bool = False) -> builtins.list[VPNEndpoint]:
        """All endpoints (or only active ones), by name."""
        query = select(VPNEndpoint).order_by(VPNEndpoint.name)
        if active_only:
            query = query.where(VPNEndpoint.active.is_(True))
        return builtins.list((await self._session.scalars(query)).all())

    async def views(self, *, active_only: bool = False) -> builtins.list[VPNEndpointView]:
        """Masked views of all endpoints (or only active ones), by name."""
        return [VPNEndpointView.of(e) for e in await self.list(active_only=active_only)]

    async def update(self, name: str, **fields: Any) -> VPNEndpoint | None:
        """Change the given fields of endpoint `name`; None when it does not exist."""
        unknown = set(fields) - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot update VPN endpoint fields: {sorted(unknown)}")
        endpoint = await self.get_by_name(name)
        if endpoint is None:
            return None
        if fields.get("allowed_providers") is not None:
            fields["allowed_providers"] = builtins.list(fields["allowed_providers"])
        for key, value in fields.items():
            setattr(endpoint, key, value)
        await self._session.flush()
        return endpoint

    async def delete(self, name: str) -> bool:
        """Remove endpoint `name`; False when it did not exist."""
        result = await self._session.execute(
            delete(VPNEndpoint).where(VPNEndpoint.name == name).returning(VPNEndpoint.id)
        )
        return result.scalar_one_or_none() is not None

    async def mark_used(self, name: str, at: datetime | None = None) -> bool:
        """Count one more request carried and stamp last_used (atomic across instances)."""
        result = await self._session.execute(
            update(VPNEndpoint)
            .where(VPNEndpoint.name == name)
            .values(requests_carried=VPNEndpoint.requests_carried + 1, last_used=at or utcnow())
            .returning(VPNEndpoint.id)
        )
        return result.scalar_one_or_none() is not None

    async def record_check(
        self,
        name: str,
        *,
        healthy: bool,
        latency_ms: float | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Store a health-check outcome: success resets failure_count, failure increments it."""
        values: dict[str, Any] = {
            "healthy": healthy,
            "last_checked": at or utcnow(),
            # Incremented in SQL so concurrent checkers (several instances) don't lose counts.
            "failure_count": 0 if healthy else VPNEndpoint.failure_count + 1,
        }
        if latency_ms is not None:
            values["latency_ms"] = latency_ms
        result = await self._session.execute(
            update(VPNEndpoint)
            .where(VPNEndpoint.name == name)
            .values(**values)
            .returning(VPNEndpoint.id)
        )
        return result.scalar_one_or_none() is not None
