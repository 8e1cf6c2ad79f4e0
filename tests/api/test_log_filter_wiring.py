"""Issue 10 item 17: the prompt filter is on wherever the gateway runs, not only under the CLI."""

from __future__ import annotations

import logging

import httpx
import pytest

from annas_gift import log_safety
from tests.api.conftest import AUTH


async def test_a_started_gateway_drops_body_debug_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        r = await client.post(
            "/v1/chat/completions",
            headers=AUTH,
            json={
                "model": "sandbox/fast-small",
                "messages": [{"role": "user", "content": "SECRET-PROMPT-17"}],
            },
        )
        logging.getLogger("openai._base_client").debug("Request options: SECRET-PROMPT-17")
    assert r.status_code == 200
    assert "SECRET-PROMPT-17" not in caplog.text
    assert log_safety.PROMPT_FILTER in logging.getLogger("openai").filters
