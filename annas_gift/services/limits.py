"""Rate limits and health around each attempt, through the shared state (memory or Redis).

Admission is exact and happens before a provider is called; outcomes feed the health and
cooldown state every instance sees. Success bookkeeping runs in the background: the client
should not wait for it, and a lost update only makes the next snapshot slightly stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from annas_gift.catalog.rate_limits import ClientLimits
from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.state import GatewayState, ModelLiveState
from annas_gift.upstream.base import Usage

log = logging.getLogger(__name__)
DEFAULT_COMPLETION_ESTIMATE = 256  # tokens assumed when a request sets no max_tokens


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """A cheap estimate of prompt tokens (about 4 characters a token, as OpenAI suggests)."""
    chars = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    chars += len(part["text"])
    return chars // 4 + 4 * len(messages)


def estimate_request_tokens(messages: list[dict[str, Any]], params: Mapping[str, Any]) -> int:
    """Prompt estimate plus the completion budget the request allows."""
    budget = params.get("max_tokens") or params.get("max_completion_tokens")
    completion = budget if isinstance(budget, int) else DEFAULT_COMPLETION_ESTIMATE
    return estimate_prompt_tokens(messages) + completion


class Limits:
    """The state-backed checks the chat service makes around every request and attempt."""

    def __init__(
        self,
        state: GatewayState,
        client_limits: Callable[[str | None], ClientLimits],
        on_reject: Callable[[str, str | None, str | None], None] | None = None,
    ) -> None:
        self.state = state
        self._client_limits = client_limits
        # (reason, limit, key id) for each refused request: the rejection metric.
        self._on_reject = on_reject
        self._background: set[asyncio.Task[None]] = set()

    async def admit_client(self, key_id: str | None, est_tokens: int) -> None:
        """Count the request against its gateway key's rpm/tpm; 429 when over."""
        limits = self._client_limits(key_id)
        if key_id is None or (limits.rpm is None and limits.tpm is None):
            return
        admission = await self.state.admit_client(key_id, limits, est_tokens)
        if not admission.ok:
            if self._on_reject is not None:
                self._on_reject("client_limit", admission.limit, key_id)
            raise errors.RateLimited(
                f"this API key is over its {admission.limit} limit on the gateway",
                code="client_rate_limit_exceeded",
                retry_after=admission.retry_after,
            )

    async def snapshot(
        self, models: Sequence[CatalogModel], max_age_s: float
    ) -> Mapping[str, ModelLiveState] | None:
        """Every model's shared health/headroom snapshot, at most `max_age_s` old."""
        return await self.state.snapshot(models, max_age_s=max_age_s)

    async def admit_model(
        self, model: CatalogModel, est_tokens: int
    ) -> tuple[str | None, errors.GatewayError | None]:
        """Reserve the model's budget: (ticket, None) if admitted, (None, the 429/503) if not."""
        admission = await self.state.admit(model, est_tokens)
        if admission.ok:
            return admission.ticket, None
        if admission.limit == "breaker":
            return None, errors.ModelUnavailable(
                f"{model.name} is failing repeatedly (circuit open); not sent to {model.provider}",
                retry_after=admission.retry_after,
                provider=model.provider,
                model=model.name,
            )
        reason = (
            "cooling down" if admission.limit == "cooldown" else f"at its {admission.limit} limit"
        )
        return None, errors.RateLimited(
            f"{model.name} is {reason}; not sent to {model.provider}",
            code="model_rate_limited",
            retry_after=admission.retry_after,
            provider=model.provider,
            model=model.name,
        )

    def succeeded(
        self,
        model: CatalogModel,
        *,
        est_tokens: int,
        usage: Usage,
        headers: Mapping[str, str],
        latency_ms: float,
        ticket: str | None,
    ) -> None:
        """Settle the token estimate and report health, off the request path."""

        async def bookkeeping() -> None:
            actual = usage.prompt_tokens + usage.completion_tokens
            await self.state.settle(model, est_tokens, actual, headers, ticket=ticket)
            await self.state.report(model, ok=True, latency_ms=latency_ms)

        task = asyncio.create_task(bookkeeping())
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("state bookkeeping failed: %r", task.exception())

    async def failed(
        self, model: CatalogModel, exc: errors.GatewayError, latency_ms: float
    ) -> None:
        """Report a failed call at once: a 429's cooldown must steer the very next attempt."""
        await self.state.report(
            model,
            ok=False,
            latency_ms=latency_ms,
            error=exc.code,
            status=exc.health_status(),
            retry_after=exc.retry_after,
        )

    async def drain(self) -> None:
        """Wait for pending background bookkeeping (shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
