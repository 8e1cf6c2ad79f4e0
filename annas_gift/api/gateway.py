"""The composition root: every long-lived client and service, built once into one `Gateway`.

`open_gateway` builds them in order on an exit stack: if any step fails, everything
opened before it is closed again (in reverse order), and on shutdown the same stack closes
them all, each closing step bounded in time (core/shutdown.py: a stuck close is logged and
left behind, never keeps the process from exiting). Routes reach the parts through
`api/deps.py`, never through `app.state`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from annas_gift import log_safety
from annas_gift.api.auth import KeyRing
from annas_gift.api.key_parts import KeyParts, open_key_parts
from annas_gift.api.operations import Operations, open_operations
from annas_gift.catalog.rate_limits import ClientLimits
from annas_gift.catalog.registry import Catalog
from annas_gift.core.shutdown import ShutdownStack
from annas_gift.egress.admin import VPNAdmin
from annas_gift.egress.config import VPNConfig
from annas_gift.egress.manager import VPNManager
from annas_gift.monitoring.journal import JournaledRecorder, UsageJournal
from annas_gift.monitoring.metrics import GatewayMetrics, NoMetrics
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.services.chat import ChatService
from annas_gift.services.collaborators import (
    NO_EGRESS,
    ChatCollaborators,
    Egress,
    Planner,
    Recorder,
)
from annas_gift.services.embeddings import EmbeddingService
from annas_gift.services.limits import Limits
from annas_gift.services.model_probes import ModelProbes, probe_targets
from annas_gift.services.principals import PrincipalResolver
from annas_gift.services.prompt_excerpts import no_prompt_excerpt, prompt_excerpt
from annas_gift.services.response_cache import ResponseCache
from annas_gift.services.types import ChatConfig
from annas_gift.settings import Settings, StorageSettings
from annas_gift.state import GatewayState
from annas_gift.storage import database
from annas_gift.upstream.base import Upstream
from annas_gift.upstream.litellm_client import LiteLLMUpstream
from annas_gift.upstream.openai_wire import DispatchUpstream, OpenAIWireUpstream
from annas_gift.upstream.portkey_client import PortkeyTracer

log = logging.getLogger("annas_gift")


@dataclass(frozen=True, slots=True)
class Gateway:
    """Everything a running gateway holds; `app.state.gateway` is the only app state."""

    settings: Settings
    catalog: Catalog
    keys: KeyRing
    planner: Planner
    engine: AsyncEngine
    upstream: Upstream
    state: GatewayState
    tracer: PortkeyTracer
    tracker: UsageTracker
    limits: Limits
    vpn: VPNManager
    vpn_admin: VPNAdmin
    probes: ModelProbes
    chat: ChatService
    ops: Operations
    admin_keys: KeyRing
    key_parts: KeyParts
    embeddings: EmbeddingService
    principals: PrincipalResolver  # bearer token -> caller (admin, settings or virtual key)


@dataclass(frozen=True, slots=True)
class Blueprint:
    """What `create_app` settles before start-up (so bad config fails at once, not in the loop)."""

    settings: Settings
    catalog: Catalog
    keys: KeyRing
    planner: Planner
    vpn: VPNConfig
    upstream: Upstream | None = None  # tests pass their own; None: the configured paths
    admin_keys: KeyRing = field(default_factory=lambda: KeyRing([]))


def client_limits(settings: Settings) -> Callable[[str | None], ClientLimits]:
    """Each gateway key's rpm/tpm (a key without its own limits gets the default)."""
    default = ClientLimits(rpm=settings.auth.rpm, tpm=settings.auth.tpm)
    per_key = {
        key_id: ClientLimits(rpm=limits.rpm, tpm=limits.tpm)
        for key_id, limits in settings.auth.key_limits.items()
    }
    return lambda key_id: per_key.get(key_id or "", default)


def default_upstream(settings: Settings) -> Upstream:
    """The direct OpenAI-wire path (when enabled) with LiteLLM for everything else."""
    direct = OpenAIWireUpstream() if settings.litellm.direct_openai_wire else None
    return DispatchUpstream(direct, LiteLLMUpstream())


async def _start_recording(
    stack: AsyncExitStack,
    tracker: UsageTracker,
    storage: StorageSettings,
    sessions: async_sessionmaker[AsyncSession],
) -> Recorder:
    """Start the tracker, behind the crash-safe journal unless it is off; stopped by `stack`."""
    directory = storage.journal_path()
    if directory is None:
        stack.push_async_callback(tracker.stop)
        await tracker.start()
        return tracker
    journal = UsageJournal(directory, fsync_interval_s=storage.journal_fsync_interval_s)
    journaled = JournaledRecorder(tracker, journal, sessions, batch_size=storage.batch_size)
    stack.push_async_callback(journaled.stop)
    await journaled.start()  # also replays what a killed process left, skipping stored events
    return journaled


@asynccontextmanager
async def open_gateway(plan: Blueprint) -> AsyncIterator[Gateway]:
    """Build the gateway; close what was opened, in reverse order, on failure or shutdown."""
    settings = plan.settings
    # Also here, not only in the CLI: an app served by any ASGI server keeps prompts out of logs.
    log_safety.install(log_prompts=settings.logging.log_prompts)
    async with ShutdownStack() as stack:
        url = database.normalize_url(settings.storage.database_url)
        if settings.storage.migrate_on_start:
            # Imported here: `annas-gift serve` migrates in a child process and never loads
            # Alembic; only an app built without the CLI (tests, another ASGI server) does.
            from annas_gift.storage import migrate

            await asyncio.to_thread(migrate.upgrade, url)
        engine = database.create_engine(url)
        stack.push_async_callback(engine.dispose)
        upstream = plan.upstream or default_upstream(settings)
        stack.push_async_callback(upstream.aclose)
        state = await GatewayState.create(
            settings.cache.redis_url,
            namespace=settings.cache.namespace,
            cache_max_entries=settings.cache.max_entries,
        )
        stack.push_async_callback(state.aclose)
        tracer = PortkeyTracer(settings.portkey)
        stack.push_async_callback(tracer.stop)
        await tracer.start()
        storage = settings.storage
        tracker = UsageTracker(
            database.session_factory(engine),
            flush_interval=storage.flush_interval_s,
            batch_size=storage.batch_size,
            max_buffer=storage.max_buffer,
            spool_path=storage.spool_path,
        )
        recorder = await _start_recording(stack, tracker, storage, database.session_factory(engine))
        metrics = (  # off: the request path counts nothing, and /metrics answers 404
            GatewayMetrics(max_series=settings.metrics.max_series)
            if settings.metrics.enabled
            else NoMetrics()
        )
        vpn = VPNManager(database.session_factory(engine), plan.vpn)
        stack.push_async_callback(vpn.stop)
        await vpn.start()
        key_parts = await open_key_parts(stack, settings, engine)
        limits = Limits(
            state,
            key_parts.client_limits(client_limits(settings)),
            on_reject=metrics.observe_rejection,
        )
        stack.push_async_callback(limits.drain)
        health = settings.health
        probes = ModelProbes(
            probe_targets(plan.catalog, health.providers) if health.active_checks else [],
            upstream,
            state,
            interval_s=health.interval_s,
            timeout_s=health.timeout_s,
        )
        stack.push_async_callback(probes.stop)
        probes.start()
        ops = await stack.enter_async_context(
            open_operations(
                settings, metrics, plan.catalog, state, tracker,
                lambda: VPNAdmin(vpn).status().model_dump(), engine,
                budgets=key_parts.budget_watch(settings.budgets),
            )
        )  # fmt: skip
        egress: Egress = vpn if plan.vpn.enabled else NO_EGRESS
        parts = ChatCollaborators(
            recorder=recorder,
            planner=plan.planner,
            limits=limits,
            cache=ResponseCache(state, settings.cache.ttl_s),
            tracer=tracer,
            egress=egress,
            metrics=metrics,
            budgets=key_parts.budgets,
            prompt_excerpt=prompt_excerpt if settings.logging.store_prompts else no_prompt_excerpt,
        )
        config = ChatConfig(
            attempt_timeout_s=settings.litellm.timeout_s,
            request_timeout_s=settings.server.request_timeout_s,
            snapshot_max_age_s=settings.cache.snapshot_max_age_s,
        )
        chat = ChatService(plan.catalog, upstream, parts, config)
        gateway = Gateway(
            settings=settings,
            catalog=plan.catalog,
            keys=plan.keys,
            planner=plan.planner,
            engine=engine,
            upstream=upstream,
            state=state,
            tracer=tracer,
            tracker=tracker,
            limits=limits,
            vpn=vpn,
            vpn_admin=VPNAdmin(vpn),
            probes=probes,
            chat=chat,
            embeddings=EmbeddingService(chat),
            ops=ops,
            admin_keys=plan.admin_keys,
            key_parts=key_parts,
            principals=PrincipalResolver(
                plan.admin_keys.ids_by_digest(), plan.keys.ids_by_digest(), key_parts.cache
            ),
        )
        log.info(
            "gateway ready: %d models, database %s", len(plan.catalog), database.redact_url(url)
        )
        yield gateway
