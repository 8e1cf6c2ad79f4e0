"""Virtual keys in memory: the hot path looks a key up by the hash of its secret, never in SQL.

Loaded in full at start, then kept current by key change notifications (Redis pub/sub across
instances, or in process) and a periodic full refresh that catches anything missed (the only
mechanism between instances without Redis). Records are found by the raw SHA-256 of the
secret (`services.principals.PrincipalResolver` hashes each token once). Revoked keys are
dropped; expired ones stay, so their owner is told why the key stopped working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.services.keys import KeyRecord, Principal, TeamBudgets, secret_digest
from annas_gift.state.key_events import KeyEvents, LocalKeyEvents
from annas_gift.storage.repositories.keys import KeyRepository

log = logging.getLogger(__name__)
TEAM_PREFIX = "team:"
LOAD_RETRY_S = 3.0  # how soon a start-up without the database tries loading the keys again


class KeyCache:
    """Key digest -> record, plus team budgets, kept in step with the database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        events: KeyEvents | None = None,
        *,
        refresh_interval_s: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self.events: KeyEvents = events or LocalKeyEvents()
        self._refresh_interval_s = refresh_interval_s
        # The caller each secret stands for, built when the key is cached, not per request.
        self._by_digest: dict[bytes, Principal] = {}
        self._by_id: dict[str, KeyRecord] = {}
        self._teams: dict[str, TeamBudgets] = {}
        self._reloading = False
        self._loaded = False
        self._changed_while_reloading: set[str] = set()
        self._refresher: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._by_id)

    def lookup(self, token: str) -> KeyRecord | None:
        """The record of the key whose secret is `token`, or None (no I/O)."""
        principal = self._by_digest.get(secret_digest(token))
        return None if principal is None else principal.record

    def principal(self, digest: bytes) -> Principal | None:
        """The client principal of the key whose secret has this raw SHA-256 (`secret_digest`).

        It is returned as cached: whether the key has expired is for the caller to check.
        """
        return self._by_digest.get(digest)

    def get(self, key_id: str) -> KeyRecord | None:
        """The cached record of a key id, or None."""
        return self._by_id.get(key_id)

    def records(self) -> list[KeyRecord]:
        """Every cached (live) key record."""
        return list(self._by_id.values())

    def teams(self) -> list[TeamBudgets]:
        """Every cached team's budgets."""
        return list(self._teams.values())

    def team(self, team: str | None) -> TeamBudgets | None:
        """A team's budgets, or None when the team has none set."""
        return None if team is None else self._teams.get(team)

    async def start(self) -> None:
        """Load everything, subscribe to changes and start the periodic refresh.

        With the database down the gateway still starts (settings and admin keys work); the
        virtual keys load on the first refresh that reaches it, retried every few seconds.
        """
        try:
            await self.reload()
        except Exception as exc:
            log.warning("virtual keys not loaded yet (%s); retrying", type(exc).__name__)
        await self.events.start(self.apply_change, self.reload)
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def aclose(self) -> None:
        """Stop refreshing and listening."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await self.events.aclose()

    async def _refresh_forever(self) -> None:
        while True:
            # Until a first load succeeds, retry soon rather than a whole interval later.
            await asyncio.sleep(self._refresh_interval_s if self._loaded else LOAD_RETRY_S)
            try:
                await self.reload()
            except Exception as exc:  # a database outage must not kill the refresher
                log.warning("key cache refresh failed: %s", type(exc).__name__)

    async def reload(self) -> None:
        """Replace the cache with the database's live keys and team budgets."""
        self._reloading = True
        self._changed_while_reloading.clear()
        try:
            async with self._sessions() as session:
                repo = KeyRepository(session)
                rows = await repo.list()
                teams = await repo.team_budgets()
        finally:
            self._reloading = False
        records = [KeyRecord.of(row) for row in rows]
        self._loaded = True
        self._by_id = {r.id: r for r in records}
        self._by_digest = {bytes.fromhex(r.secret_hash): _client(r) for r in records}
        self._teams = {t.team: TeamBudgets.of(t) for t in teams}
        # A change that arrived during the read may be missing from it: apply it again.
        for key_id in list(self._changed_while_reloading):
            await self.apply_change(key_id)

    async def apply_change(self, key_id: str) -> None:
        """Re-read one key (or `team:<label>`) from the database and update the cache."""
        if self._reloading:
            self._changed_while_reloading.add(key_id)
        if key_id.startswith(TEAM_PREFIX):
            await self._apply_team(key_id[len(TEAM_PREFIX) :])
            return
        # Drop first: a revocation takes effect even if the database read below fails.
        self._drop(key_id)
        async with self._sessions() as session:
            row = await KeyRepository(session).get(key_id)
        if row is not None and row.revoked_at is None:
            record = KeyRecord.of(row)
            self._by_id[record.id] = record
            self._by_digest[bytes.fromhex(record.secret_hash)] = _client(record)

    def _drop(self, key_id: str) -> None:
        old = self._by_id.pop(key_id, None)
        if old is not None:
            self._by_digest.pop(bytes.fromhex(old.secret_hash), None)

    async def _apply_team(self, team: str) -> None:
        async with self._sessions() as session:
            row = await KeyRepository(session).team_budget(team)
        if row is None:
            self._teams.pop(team, None)
        else:
            self._teams[team] = TeamBudgets.of(row)

    async def changed(self, key_id: str) -> None:
        """A key was changed here: update this cache now and tell the other instances."""
        await self.apply_change(key_id)
        await self.events.publish(key_id)


def _client(record: KeyRecord) -> Principal:
    return Principal(record.id, "client", record)
