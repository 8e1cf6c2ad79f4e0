"""Active model probes: call models in the background and share the outcome via state.

Passive health (every live call's outcome) already drives the circuit breaker; probing adds
recovery detection for models nobody is calling and early warning for ones about to be. A
probe is a one-token completion, so it costs money on paid providers: only providers whose
models are all free (or local) are probed unless `health.providers` names others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.core import errors
from annas_gift.state import GatewayState
from annas_gift.upstream.base import Upstream, UpstreamCall

log = logging.getLogger(__name__)
PROBE_MESSAGES = [{"role": "user", "content": "ping"}]


def is_free(model: CatalogModel) -> bool:
    """A model that costs nothing to call (a free tier, or a local model)."""
    return model.provider == "ollama" or (
        model.input_cost_per_token == 0 and model.output_cost_per_token == 0
    )


def probe_targets(catalog: Catalog, providers: list[str] | None) -> list[CatalogModel]:
    """The chat models to probe: those of the named providers, else those of all-free providers.

    A probe is a tiny chat, so embedding models are left out.
    """
    catalog = Catalog([m for m in catalog.all() if m.mode == "chat"])
    if providers is not None:
        wanted = set(providers)
        return [m for m in catalog.all() if m.provider in wanted and not m.missing_env()]
    free_providers = {
        p for p in catalog.providers() if all(is_free(m) for m in catalog.by_provider(p))
    }
    return [m for m in catalog.all() if m.provider in free_providers and not m.missing_env()]


class ModelProbes:
    """Probes each target model every `interval_s` and reports the result to the state."""

    def __init__(
        self,
        models: list[CatalogModel],
        upstream: Upstream,
        state: GatewayState,
        *,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        self.models = models
        self.upstream = upstream
        self.state = state
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.probes = 0
        self._task: asyncio.Task[None] | None = None

    async def probe(self, model: CatalogModel) -> bool:
        """One probe of one model; the outcome goes to the shared health state."""
        call = UpstreamCall(
            model=model,
            messages=PROBE_MESSAGES,
            params={"max_tokens": 1},
            timeout_s=self.timeout_s,
            request_id=f"probe_{uuid.uuid4().hex[:12]}",
        )
        began = time.perf_counter()
        try:
            await self.upstream.complete(call)
        except errors.GatewayError as exc:
            took = (time.perf_counter() - began) * 1000
            await self.state.report(
                model, ok=False, latency_ms=took, error=f"probe: {exc.code}",
                status=exc.health_status(), retry_after=exc.retry_after,
            )  # fmt: skip
            return False
        finally:
            self.probes += 1
        await self.state.report(model, ok=True, latency_ms=(time.perf_counter() - began) * 1000)
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.gather(*(self.probe(m) for m in self.models), return_exceptions=True)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        """Start probing in the background (no-op without targets)."""
        if self.models and self._task is None:
            log.info("active health checks: %d models every %gs", len(self.models), self.interval_s)
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
