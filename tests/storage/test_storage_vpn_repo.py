"""VPNEndpointRepository on both backends, and URL masking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.storage.repositories import VPNEndpointRepository, VPNEndpointView, mask_url

Sessions = async_sessionmaker[AsyncSession]
SECRET_URL = "socks5://anna:pa55word@proxy.example:1080"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (SECRET_URL, "socks5://anna:***@proxy.example:1080"),
        ("http://TOKEN123@proxy.example", "http://***@proxy.example"),
        ("http://proxy.example:3128", "http://proxy.example:3128"),
        ("https://u:p@[::1]:8443/path?key=abc", "https://u:***@[::1]:8443/path?***"),
        ("http://u:p@host:notaport", "***"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


async def _seed(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        repo = VPNEndpointRepository(session)
        await repo.add("us-1", SECRET_URL, country="US", allowed_providers=["openai"])
        await repo.add("eu-1", "http://proxy.eu:3128", country="DE", provider_label="mullvad")
        await repo.add("off", "http://proxy.off:3128", active=False)


async def test_add_get_and_list(sessions: Sessions) -> None:
    await _seed(sessions)
    async with sessions() as session:
        repo = VPNEndpointRepository(session)
        us = await repo.get_by_name("us-1")
        assert await repo.get_by_name("nope") is None
        names = [e.name for e in await repo.list()]
        active = [e.name for e in await repo.list(active_only=True)]
    assert us is not None
    assert (us.url, us.country, us.allowed_providers) == (SECRET_URL, "US", ["openai"])
    assert (us.active, us.healthy, us.failure_count, us.requests_carried) == (True, True, 0, 0)
    assert us.last_used is None and us.latency_ms is None
    assert us.created_at.tzinfo is UTC
    assert abs(datetime.now(UTC) - us.created_at) < timedelta(minutes=1)
    assert names == ["eu-1", "off", "us-1"]
    assert active == ["eu-1", "us-1"]


async def test_null_allowed_providers_means_all(sessions: Sessions) -> None:
    await _seed(sessions)
    async with sessions() as session:
        eu = await VPNEndpointRepository(session).get_by_name("eu-1")
    assert eu is not None and eu.allowed_providers is None


async def test_names_are_unique(sessions: Sessions) -> None:
    await _seed(sessions)
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            await VPNEndpointRepository(session).add("us-1", "http://other:1")


async def test_views_and_repr_never_show_credentials(sessions: Sessions) -> None:
    await _seed(sessions)
    async with sessions() as session:
        repo = VPNEndpointRepository(session)
        views = await repo.views()
        us = await repo.get_by_name("us-1")
    assert all(isinstance(v, VPNEndpointView) for v in views)
    assert [v.url for v in views if v.name == "us-1"] == ["socks5://anna:***@proxy.example:1080"]
    assert "pa55word" not in repr(views) + repr(us)


async def test_update(sessions: Sessions) -> None:
    await _seed(sessions)
    async with sessions() as session, session.begin():
        repo = VPNEndpointRepository(session)
        updated = await repo.update(
            "eu-1", active=False, country="NL", allowed_providers=("openai", "mistral")
        )
        assert await repo.update("nope", active=False) is None
        with pytest.raises(ValueError, match="requests_carried"):
            await repo.update("eu-1", requests_carried=5)
    assert updated is not None
    async with sessions() as session:
        eu = await VPNEndpointRepository(session).get_by_name("eu-1")
    assert eu is not None
    assert (eu.active, eu.country, eu.allowed_providers) == (False, "NL", ["openai", "mistral"])


async def test_delete(sessions: Sessions) -> None:
    await _seed(sessions)
    async with sessions() as session, session.begin():
        repo = VPNEndpointRepository(session)
        assert await repo.delete("off") is True
        assert await repo.delete("off") is False
    async with sessions() as session:
        assert [e.name for e in await VPNEndpointRepository(session).list()] == ["eu-1", "us-1"]


async def test_mark_used_counts_and_stamps(sessions: Sessions) -> None:
    await _seed(sessions)
    when = datetime(2024, 3, 1, 9, tzinfo=UTC)
    for _ in range(3):
        async with sessions() as session, session.begin():
            assert await VPNEndpointRepository(session).mark_used("us-1", at=when)
    async with sessions() as session, session.begin():
        assert await VPNEndpointRepository(session).mark_used("nope") is False
    async with sessions() as session:
        us = await VPNEndpointRepository(session).get_by_name("us-1")
    assert us is not None and (us.requests_carried, us.last_used) == (3, when)


async def test_record_check_tracks_failures_and_recovery(sessions: Sessions) -> None:
    await _seed(sessions)
    when = datetime(2024, 3, 1, 10, tzinfo=UTC)

    async def check(healthy: bool, latency: float | None = None) -> tuple[bool, int, float | None]:
        async with sessions() as session, session.begin():
            repo = VPNEndpointRepository(session)
            assert await repo.record_check("eu-1", healthy=healthy, latency_ms=latency, at=when)
        async with sessions() as session:
            eu = await VPNEndpointRepository(session).get_by_name("eu-1")
        assert eu is not None and eu.last_checked == when
        return eu.healthy, eu.failure_count, eu.latency_ms

    assert await check(False) == (False, 1, None)
    assert await check(False) == (False, 2, None)
    assert await check(True, 42.5) == (True, 0, 42.5)
    async with sessions() as session, session.begin():
        assert await VPNEndpointRepository(session).record_check("nope", healthy=True) is False
