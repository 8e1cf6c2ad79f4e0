"""Helpers shared by the state tests (imported by name: the test directories are not packages)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from annas_gift.catalog.registry import CatalogModel
from annas_gift.state import GatewayState


class FakeClock:
    """A settable clock for the memory backend (epoch seconds)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StateFactory(Protocol):
    """Creates GatewayStates on one backend; on Redis they share a namespace (= instances)."""

    backend: str

    def __call__(self, **kwargs: Any) -> Awaitable[GatewayState]: ...

    async def advance(self, seconds: float) -> None:
        """Let time pass: move the fake clock (memory) or sleep (Redis uses its own clock)."""


def make_model(name: str = "m", **limits: Any) -> CatalogModel:
    """A catalog model with the given rpm/tpm/rpd/tpd."""
    return CatalogModel(
        name=name, provider="test", litellm_model=f"test/{name}", params={}, **limits
    )


async def eventually(check: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait until check() is true (polling), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
