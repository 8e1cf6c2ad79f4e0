"""Fixtures for the sandbox upstream tests: a live server on a random loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from annas_gift.sandbox import SandboxServer

Chat = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    """A running sandbox with no defaults and no API key."""
    async with SandboxServer() as server:
        yield server


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client aimed at the sandbox's root URL."""
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=5) as http:
        yield http


@pytest.fixture
def chat(client: httpx.AsyncClient) -> Chat:
    """POST a chat completion; keyword arguments beyond the named ones go into the body."""

    async def post(
        content: str = "hello there",
        *,
        model: str = "gpt-test",
        behavior: str | None = None,
        headers: dict[str, str] | None = None,
        client_timeout: httpx.Timeout | float = 5,
        **extra: Any,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if behavior is not None:
            sent["x-sandbox-behavior"] = behavior
        body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
        return await client.post(
            "/v1/chat/completions", json=body, headers=sent, timeout=client_timeout
        )

    return post


def _sse_events(text: str) -> list[Any]:
    events: list[Any] = []
    for block in text.split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: "), block
        payload = block.removeprefix("data: ")
        events.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return events


@pytest.fixture
def sse() -> Callable[[str], list[Any]]:
    """Parse an SSE body into its `data:` payloads: JSON objects, or the string "[DONE]"."""
    return _sse_events
