"""`logging.store_prompts`: off, no prompt text reaches the database; on, a bounded excerpt does
(and the dashboard's Recent requests page shows it, escaped), and never a log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from annas_gift.api.app import create_app
from annas_gift.sandbox import RunningSandbox
from annas_gift.services.prompt_excerpts import EXCERPT_CHARS
from annas_gift.settings import load_settings
from annas_gift.storage.models import Base, UsageRecord
from tests.api.conftest import ADMIN_KEY, AUTH, KEY, make_catalog

MARKER = "QUOKKA-PROMPT-42"
TAIL = "WOMBAT-TAIL-99"  # past the excerpt's end: never stored
# Markup in the prompt: the page must show it as text, not run it.
PROMPT = f"{MARKER} <script>alert(1)</script> " + "word " * 200 + TAIL


class Sent(NamedTuple):
    rows: list[UsageRecord]  # the usage rows, as stored
    everything: str  # every row of every table, as text
    page: str  # the dashboard's Recent requests page


async def _dump(session: AsyncSession) -> str:
    out = []
    for table in Base.metadata.sorted_tables:
        out.extend(str(tuple(row)) for row in (await session.execute(select(table))).all())
    return "\n".join(out)


async def _send(
    settings_kw: dict[str, object], tmp_path: Path, sandbox: RunningSandbox, database_url: str
) -> Sent:
    settings = load_settings(
        auth={"api_keys": [KEY], "admin_keys": [f"ops:{ADMIN_KEY}"]},
        storage={
            "database_url": database_url,
            "flush_interval_s": 0.05,
            "spool_path": str(tmp_path / "spool.jsonl"),
        },
        **settings_kw,  # type: ignore[arg-type]
    )
    app = create_app(settings, catalog=make_catalog(sandbox.base_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            for model in ("auto", "sandbox/fast-small"):
                body = {
                    "model": model,
                    "messages": [
                        {"role": "user", "content": "an earlier turn"},
                        {"role": "assistant", "content": "ok"},
                        {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
                    ],
                }
                r = await client.post("/v1/chat/completions", json=body, headers=AUTH)
                assert r.status_code == 200, r.text
            await app.state.gateway.tracker.flush()
            async with app.state.gateway.tracker._sessions() as session:
                rows = list((await session.scalars(select(UsageRecord))).all())
                everything = await _dump(session)
            login = {"key": ADMIN_KEY, "next": "/dashboard/requests"}
            page = await client.post("/dashboard/login", data=login, follow_redirects=True)
            assert page.status_code == 200
    return Sent(rows, everything, page.text)


async def test_off_by_default_no_prompt_text_is_stored_or_shown(
    upstream: RunningSandbox, tmp_path: Path, database_url: str
) -> None:
    assert load_settings().logging.store_prompts is False
    sent = await _send({}, tmp_path, upstream, database_url)
    assert len(sent.rows) == 2 and all(r.prompt_excerpt is None for r in sent.rows)
    assert "sandbox/fast-small" in sent.everything  # the dump does hold the rows
    assert MARKER not in sent.everything and "earlier turn" not in sent.everything
    if database_url.startswith("sqlite"):  # the file itself, free pages included
        assert MARKER.encode() not in (tmp_path / "gateway.db").read_bytes()
    assert MARKER not in sent.page and "prompts and answers are not shown" in sent.page


async def test_on_the_excerpt_is_stored_bounded_shown_escaped_and_never_logged(
    upstream: RunningSandbox,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    database_url: str,
) -> None:
    with caplog.at_level(logging.DEBUG):
        sent = await _send(
            {"logging": {"store_prompts": True}, "server": {"log_level": "debug"}},
            tmp_path,
            upstream,
            database_url,
        )
    rows, page = sent.rows, sent.page
    assert len(rows) == 2
    for row in rows:
        excerpt = row.prompt_excerpt
        assert excerpt is not None and excerpt.startswith(MARKER)  # the last user turn only
        assert len(excerpt) <= EXCERPT_CHARS and excerpt.endswith("…")
        assert TAIL not in excerpt and "earlier turn" not in excerpt
    assert MARKER in sent.everything and TAIL not in sent.everything
    assert page.count(MARKER) == 2  # one row per call on the Recent requests page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert MARKER not in caplog.text


def test_the_setting_is_strict_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANNAS_GIFT_LOGGING__STORE_PROMPTS", "true")
    assert load_settings().logging.store_prompts is True
    from annas_gift.settings import ConfigError

    with pytest.raises(ConfigError, match="store_prompt"):
        load_settings(logging={"store_prompt": True})
