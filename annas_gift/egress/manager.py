"""The VPN manager: which egress proxy a call uses, failover between proxies, health probes.

Endpoints live in the database (declared ones are seeded from settings at start); choosing
one is synchronous and in memory; writes and probes run in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from annas_gift.core import errors
from annas_gift.egress.config import VPNConfig
from annas_gift.egress.log_guard import LogGuard, scrub
from annas_gift.egress.policies import EndpointState, ProxyChoice, Rotation, candidates
from annas_gift.egress.probe import ProbeResult, probe
from annas_gift.egress.store import VPNStore

log = logging.getLogger(__name__)
T = TypeVar("T")

TICK_S = 1.0  # how often the background loop wakes to flush counters and probe what is due


class VPNManager:
    """Chooses egress proxies per call, fails over between them, probes and persists them.

    Administration (CRUD, status) is `VPNAdmin`, which works through the public methods here.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: VPNConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.log_guard = LogGuard()
        self.store = VPNStore(sessions, self.log_guard)
        self._clock = clock
        self.rotation = Rotation(
            self.config.rotation, every_s=self.config.rotate_every_minutes * 60, clock=clock
        )
        self.states: dict[str, EndpointState] = {}
        self._limited: dict[tuple[str, str], float] = {}  # (endpoint, provider) -> until
        self._probing: dict[str, asyncio.Task[ProbeResult]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._next_probe = 0.0
        self._unloaded = False  # start() could not read the endpoints (database down)
        self.failovers = 0  # requests moved to another endpoint after a proxy failure
        self.exhausted = 0  # requests for which every endpoint tried failed

    # -- life cycle ---------------------------------------------------------------------------

    async def load(self, *, seed: bool = True) -> None:
        """Seed declared endpoints (settings win for the fields they name), then read them all."""
        self.log_guard.install()
        if seed and self.config.endpoints:
            await self.store.seed(self.config.endpoints)
        await self.reload()

    async def start(self) -> None:
        """Load endpoints and start the background loop (reloads always; probes when enabled).

        A database that is down does not stop the gateway: the loop loads the endpoints once
        it answers. Reloading while the VPN is disabled is what makes `vpn add` on another
        instance (or the CLI) visible here within one probe interval.
        """
        try:
            await self.load()
        except Exception as exc:
            self._unloaded = True
            log.warning(
                "vpn endpoints not loaded (%s); retrying every %.0f s",
                scrub(str(exc), self._secrets()).splitlines()[0][:200] if str(exc) else
                type(exc).__name__,
                self.config.probe_interval_s,
            )  # fmt: skip
        if self._loop_task is None:
            self._stopping.clear()
            # Enabled: the first probe now; disabled: the next reload after one interval.
            later = self._clock() + self.config.probe_interval_s
            self._next_probe = 0.0 if self.config.enabled else later
            self._loop_task = asyncio.create_task(self._run(), name="vpn-manager")
        log.info(
            "vpn %s: %d endpoints, rotation %s",
            "enabled" if self.config.enabled else "disabled",
            len(self.states),
            self.rotation.policy,
        )

    async def stop(self) -> None:
        """Stop probing, let running checks finish their writes, save the pending counters."""
        self._stopping.set()
        # Waiting, not cancelling: a task cancelled inside a transaction can keep SQLite locked.
        grace = self.config.probe_timeout_s + 5
        running = [t for t in (self._loop_task, *self._tasks, *self._probing.values()) if t]
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._loop_task = None
        try:
            await self._flush()
        except Exception as exc:
            log.warning("vpn: request counts not saved at shutdown: %s", type(exc).__name__)
        finally:
            self.log_guard.uninstall()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._clock() >= self._next_probe:
                    self._next_probe = self._clock() + self.config.probe_interval_s
                    if self._unloaded:
                        await self.load()  # seeds the declared endpoints too
                        self._unloaded = False
                    else:
                        await self.reload()
                    if self.config.enabled:
                        await self.probe_all()
                await self._flush()
            except Exception as exc:  # the loop must outlive a database hiccup
                log.warning("vpn background check failed: %s", scrub(str(exc), self._secrets()))
            with contextlib.suppress(TimeoutError):
                tick = min(TICK_S, self.config.probe_interval_s)
                await asyncio.wait_for(self._stopping.wait(), tick)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def state(self, name: str) -> EndpointState:
        """The endpoint called `name`; NotFound when there is none."""
        state = self.states.get(name)
        if state is None:
            raise errors.NotFound(f"no VPN endpoint named {name!r}", param="name")
        return state

    def _secrets(self) -> list[str]:
        return [s.url for s in self.states.values()]

    # -- choosing -----------------------------------------------------------------------------

    def routes(self, provider: str) -> bool:
        """Whether calls to `provider` go through the VPN at all."""
        allowed = self.config.providers
        return self.config.enabled and (allowed is None or provider in allowed)

    def get_proxy_config(self, provider: str, exclude: Collection[str] = ()) -> ProxyChoice | None:
        """The endpoint for the next call to `provider`; None means go direct (VPN not used).

        Raises VPNUnavailable when the provider must use the VPN but no endpoint is left
        (unless fail_open). When all are down, the one that failed longest ago is tried.
        """
        if not self.routes(provider):
            return None
        found = candidates(self.states.values(), provider, exclude, self.config.countries)
        usable = [s for s in found if s.usable]
        if not usable and found and not self.config.fail_open:
            usable = [min(found, key=lambda s: (s.failed_at, s.name))]  # may have recovered
        if not usable:
            if self.config.fail_open:
                return None
            raise errors.VPNUnavailable(
                f"no VPN endpoint is available for provider {provider!r}", provider=provider
            )
        now = self._clock()
        fresh = [s for s in usable if self._limited.get((s.name, provider), 0.0) <= now]
        names = sorted(s.name for s in (fresh or usable))
        name = self.rotation.choose(provider, names, lambda n: self.states[n].requests_carried)
        state = self.states[name]
        state.requests_carried += 1
        state.pending_carried += 1
        state.last_used = datetime.now(UTC)
        return ProxyChoice(name, state.url, state.masked_url)

    async def call_with_failover(
        self, provider: str, call: Callable[[ProxyChoice | None], Awaitable[T]]
    ) -> tuple[T, int]:
        """Run `call` through the chosen endpoint, moving to the next on a connection failure.

        Returns the result and how many endpoints failed first (proxy failovers, counted
        apart from model fallbacks). Errors other than connection failures pass through.
        """
        tried: list[str] = []
        last: errors.GatewayError | None = None
        while True:
            try:
                choice = self.get_proxy_config(provider, exclude=tried)
            except errors.VPNUnavailable:
                if last is None:
                    raise
                self.exhausted += 1
                raise last from None
            began = self._clock()
            try:
                result = await call(choice)
            except errors.UpstreamConnectionError as exc:
                if choice is None:
                    raise
                await self.report_failure(choice.name, exc.message)
                if len(tried) >= self.config.max_failovers:
                    self.exhausted += 1
                    raise
                tried.append(choice.name)
                self.failovers += 1
                last = exc
                continue
            except errors.RateLimited:
                if choice is not None:
                    await self.report_rate_limited(choice.name, provider)
                raise
            if choice is not None:
                await self.report_success(choice.name, (self._clock() - began) * 1000)
            return result, len(tried)

    # -- outcomes -----------------------------------------------------------------------------

    async def report_failure(self, name: str, error: str) -> None:
        """A connection or proxy error through `name`: take it out of rotation, probe it now."""
        state = self.states.get(name)
        if state is None:
            return
        text = scrub(error, self._secrets())
        state.note_failure(text, self._clock(), self.config.failure_threshold, suspend=True)
        self.rotation.release(name)
        log.warning("vpn endpoint %s failed (%s); requests move on", name, state.last_error)
        self._spawn(self._persist_health(state, ok=False))
        if self.config.enabled and name not in self._probing:
            self.schedule_probe(state)

    async def report_success(self, name: str, latency_ms: float) -> None:
        """A call through `name` succeeded in `latency_ms` (only probes end a suspension)."""
        if (state := self.states.get(name)) is not None:
            state.note_latency(latency_ms)

    async def report_rate_limited(self, name: str, provider: str | None = None) -> None:
        """`provider` answered 429 through `name`: rotate away from it for a while (if enabled)."""
        state = self.states.get(name)
        if state is None:
            return
        state.rate_limited_total += 1
        if self.config.rotate_on_429:
            self.rotation.release(name, provider)
            if provider is not None:
                until = self._clock() + self.config.rate_limit_cooldown_s
                self._limited[(name, provider)] = until

    # -- probes ---------------------------------------------------------------------------------

    def schedule_probe(self, state: EndpointState) -> asyncio.Task[ProbeResult]:
        """Probe `state` in the background now; the task's result is the probe's."""
        task = asyncio.create_task(self._probe(state))
        self._probing[state.name] = task
        task.add_done_callback(lambda _t: self._probing.pop(state.name, None))
        return task

    async def test_endpoint(self, name: str) -> ProbeResult:
        """Probe `name` now through its proxy and record the outcome."""
        state = self.state(name)
        running = self._probing.get(name)
        return await (running if running is not None else self.schedule_probe(state))

    async def probe_all(self) -> list[ProbeResult]:
        """Probe every active endpoint concurrently."""
        states = [s for s in self.states.values() if s.active]
        return list(await asyncio.gather(*(self.test_endpoint(s.name) for s in states)))

    async def _probe(self, state: EndpointState) -> ProbeResult:
        cfg = self.config
        result = await probe(state.name, state.url, cfg.probe_url, cfg.probe_timeout_s)
        state.last_checked = result.checked_at
        if result.ok:
            if state.note_good_probe(result.latency_ms, result.egress_ip, result.egress_country):
                log.info("vpn endpoint %s is back up", state.name)
        else:
            result.error = scrub(result.error or "probe failed", [state.url])
            threshold = cfg.failure_threshold
            if state.note_failure(result.error, self._clock(), threshold, suspend=False):
                log.warning("vpn endpoint %s is down (%s)", state.name, result.error)
        await self._persist_health(state, ok=result.ok)
        return result

    async def _persist_health(self, state: EndpointState, *, ok: bool) -> None:
        try:
            await self.store.save_health(state, ok=ok)
        except Exception as exc:
            log.warning("vpn: could not save the health of %s: %s", state.name, type(exc).__name__)

    async def _flush(self) -> None:
        await self.store.flush_carried(self.states)

    async def reload(self) -> None:
        """Refresh the endpoints from the database (other instances and the CLI write there)."""
        for name in await self.store.merge_into(self.states):
            self.rotation.forget(name)
