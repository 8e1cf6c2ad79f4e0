"""Resolving a bearer token to its caller: roles, revocation and expiry kept, and the cost of
a lookup (settings key, virtual key, unknown key) against the settings-only check that came
before virtual keys (`KeyRing.verify`). The benchmarks report times; they check answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.api.auth import KeyRing
from annas_gift.core.errors import AuthenticationFailed
from annas_gift.services.key_cache import KeyCache
from annas_gift.services.keys import new_secret
from annas_gift.services.principals import PrincipalResolver
from annas_gift.storage.repositories.keys import KeyRepository
from tests.keys.conftest import add_key

Sessions = async_sessionmaker[AsyncSession]
CLIENT, ADMIN, BOTH = "sk-lab-client", "sk-lab-admin", "sk-configured-both-ways"
UNKNOWN = "sk-not-a-key-of-ours"


@pytest.fixture
async def cache(sessions: Sessions) -> KeyCache:
    """A loaded key cache (not refreshing: the tests change it by `changed`)."""
    loaded = KeyCache(sessions, refresh_interval_s=3600)
    await loaded.reload()
    return loaded


def _resolver(cache: KeyCache | None, clock: Any = None) -> PrincipalResolver:
    admins = KeyRing([f"ops:{ADMIN}", f"both:{BOTH}"])
    clients = KeyRing([CLIENT, f"alice:{BOTH}"])
    if clock is None:
        return PrincipalResolver(admins.ids_by_digest(), clients.ids_by_digest(), cache)
    return PrincipalResolver(admins.ids_by_digest(), clients.ids_by_digest(), cache, clock)


async def test_each_kind_of_key_resolves_to_its_role(sessions: Sessions, cache: KeyCache) -> None:
    secret = await add_key(sessions, "student")
    await cache.changed("vk-student")
    resolver = _resolver(cache)
    admin, client, virtual = (resolver.resolve(t) for t in (ADMIN, CLIENT, secret))
    assert admin is not None and (admin.key_id, admin.role) == ("ops", "admin")
    assert client is not None and client.role == "client" and client.key_id.startswith("key-")
    assert virtual is not None and (virtual.key_id, virtual.role) == ("vk-student", "client")
    assert virtual.record is not None and virtual.record.name == "student"
    both = resolver.resolve(BOTH)  # configured as admin and as client: admin, as before
    assert both is not None and (both.key_id, both.role) == ("both", "admin")
    assert resolver.resolve(UNKNOWN) is None
    assert resolver.resolve(new_secret()) is None
    # The dashboard's login looks at settings keys only.
    assert resolver.settings_principal(secret) is None
    settings_admin = resolver.settings_principal(ADMIN)
    assert settings_admin is not None and settings_admin.is_admin


async def test_a_revoked_key_stops_resolving_and_an_expired_one_says_why(
    sessions: Sessions, cache: KeyCache
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    secret = await add_key(sessions, "lab", expires_at=soon)
    doomed = await add_key(sessions, "doomed")
    for key_id in ("vk-lab", "vk-doomed"):
        await cache.changed(key_id)
    now = [datetime.now(UTC)]
    resolver = _resolver(cache, clock=lambda: now[0])
    assert resolver.resolve(secret) is not None
    now[0] = soon  # a key expires at expires_at exactly
    with pytest.raises(AuthenticationFailed) as expired:
        resolver.resolve(secret)
    assert expired.value.code == "key_expired"
    assert resolver.resolve(doomed) is not None
    async with sessions() as session, session.begin():
        await KeyRepository(session).revoke("vk-doomed")
    await cache.changed("vk-doomed")
    assert resolver.resolve(doomed) is None  # gone from the cache: as unknown as any token


@pytest.fixture
async def bench_resolver(sessions: Sessions, cache: KeyCache) -> tuple[PrincipalResolver, str]:
    """A resolver over one settings key, one admin key and 50 virtual keys (one known)."""
    secrets = [await add_key(sessions, f"student-{i:02}") for i in range(50)]
    await cache.reload()
    return _resolver(cache), secrets[7]


def test_bench_old_settings_only_check(benchmark: Any) -> None:
    # The check before virtual keys: hash the token, compare it with every settings key.
    ring = KeyRing([CLIENT])
    assert benchmark.pedantic(ring.verify, (UNKNOWN,), rounds=2000, iterations=50) is None


@pytest.mark.parametrize("which", ["settings key", "virtual key", "unknown key"])
def test_bench_lookup(
    which: str, bench_resolver: tuple[PrincipalResolver, str], benchmark: Any
) -> None:
    resolver, virtual = bench_resolver
    token = {"settings key": CLIENT, "virtual key": virtual, "unknown key": UNKNOWN}[which]
    found = benchmark.pedantic(resolver.resolve, (token,), rounds=2000, iterations=50)
    assert (found is None) == (which == "unknown key")
