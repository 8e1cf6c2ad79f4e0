"""Persistence for the VPN manager: endpoint rows in and out, through the repository only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core import errors
from annas_gift.egress.config import EndpointFields
from annas_gift.egress.log_guard import LogGuard
from annas_gift.egress.policies import EndpointState
from annas_gift.storage.repositories.vpn import VPNEndpointRepository


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _columns(spec: EndpointFields) -> dict[str, object]:
    """The endpoint's column values (everything but the name, which is the key)."""
    return {k: v for k, v in spec.items() if k != "name"}


async def _insert(repo: VPNEndpointRepository, spec: EndpointFields) -> None:
    await repo.add(
        spec["name"], spec["url"], country=spec.get("country"),
        provider_label=spec.get("provider_label"),
        allowed_providers=spec.get("allowed_providers"), active=spec.get("active", True),
    )  # fmt: skip


class VPNStore:
    """Reads and writes vpn_endpoints for the manager; each method is one transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], guard: LogGuard) -> None:
        self._sessions = sessions
        self._guard = guard  # every URL read or written is registered with it first

    async def seed(self, specs: Iterable[EndpointFields]) -> None:
        """Insert declared endpoints, or re-apply the declared fields of existing ones."""
        specs = list(specs)
        self._guard.watch(spec["url"] for spec in specs if "url" in spec)
        async with self._sessions.begin() as session:
            repo = VPNEndpointRepository(session)
            for spec in specs:
                if await repo.update(spec["name"], **_columns(spec)) is None:
                    await _insert(repo, spec)

    async def merge_into(self, states: dict[str, EndpointState]) -> list[str]:
        """Refresh `states` from the table (new, changed, removed rows); returns removed names."""
        async with self._sessions() as session:
            rows = await VPNEndpointRepository(session).list()
        self._guard.watch(row.url for row in rows)
        seen = set()
        for row in rows:
            seen.add(row.name)
            state = states.get(row.name)
            if state is None:
                state = states[row.name] = EndpointState(
                    row.name, row.url, healthy=row.healthy, failure_count=row.failure_count,
                    latency_ms=row.latency_ms, last_checked=_aware(row.last_checked),
                )  # fmt: skip
            elif state.url != row.url:  # a new URL starts with a clean bill of health
                state.healthy, state.suspended, state.failure_count = True, False, 0
            state.url, state.country, state.active = row.url, row.country, row.active
            state.provider_label = row.provider_label
            allowed = row.allowed_providers
            state.allowed_providers = tuple(allowed) if allowed is not None else None
            # Other instances count too: the row's total plus what this one has not written.
            state.requests_carried = row.requests_carried + state.pending_carried
            used = [t for t in (state.last_used, _aware(row.last_used)) if t is not None]
            state.last_used = max(used, default=None)
        removed = sorted(set(states) - seen)
        for name in removed:
            del states[name]
        return removed

    async def save_health(self, state: EndpointState, *, ok: bool) -> None:
        """Store a check outcome and this instance's verdict (healthy, consecutive failures)."""
        async with self._sessions.begin() as session:
            repo = VPNEndpointRepository(session)
            await repo.record_check(
                state.name,
                healthy=ok,
                latency_ms=state.latency_ms if ok else None,
                at=state.last_checked or datetime.now(UTC),
            )
            # record_check counts in SQL; keep the row equal to what the threshold decided.
            await repo.update(state.name, healthy=state.healthy, failure_count=state.failure_count)

    async def flush_carried(self, states: Mapping[str, EndpointState]) -> None:
        """Write the request counts not yet stored; they stay pending if the write fails."""
        counts = {
            s.name: (s.pending_carried, s.last_used) for s in states.values() if s.pending_carried
        }
        if not counts:
            return
        for name in counts:
            states[name].pending_carried = 0
        try:
            await self.add_carried(counts)
        except BaseException:  # cancelled too (stop() during a flush): keep them for the next
            for name, (count, _) in counts.items():
                if name in states:
                    states[name].pending_carried += count
            raise

    async def add_carried(self, counts: Mapping[str, tuple[int, datetime | None]]) -> None:
        """Add request counts (and stamp last_used) per endpoint."""
        async with self._sessions.begin() as session:
            repo = VPNEndpointRepository(session)
            for name, (count, at) in counts.items():
                # The repository increments by one; a `count` argument there would batch this.
                for _ in range(count):
                    await repo.mark_used(name, at=at)

    async def add(self, spec: EndpointFields) -> None:
        """Insert an endpoint; InvalidRequest when the name is taken."""
        self._guard.watch([spec["url"]])
        try:
            async with self._sessions.begin() as session:
                await _insert(VPNEndpointRepository(session), spec)
        except IntegrityError:
            raise errors.InvalidRequest(
                f"a VPN endpoint named {spec['name']!r} already exists", param="name"
            ) from None

    async def update(self, name: str, changes: EndpointFields) -> bool:
        """Change fields of `name`; False when it does not exist."""
        fields: dict[str, object] = _columns(changes)
        if "url" in changes:  # a new URL has no history yet
            self._guard.watch([changes["url"]])
            fields.update(healthy=True, failure_count=0)
        async with self._sessions.begin() as session:
            return await VPNEndpointRepository(session).update(name, **fields) is not None

    async def delete(self, name: str) -> bool:
        """Remove `name`; False when it did not exist."""
        async with self._sessions.begin() as session:
            return await VPNEndpointRepository(session).delete(name)
