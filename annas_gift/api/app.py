"""The FastAPI app factory and its lifespan: clients are created here and reached via app.state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from annas_gift import __version__
from annas_gift.api import errors
from annas_gift.api.auth import KeyRing, ensure_key_file
from annas_gift.api.middleware import GatewayMiddleware
from annas_gift.api.routes import dashboard, health, native, openai, routing
from annas_gift.api.routes import vpn as vpn_routes
from annas_gift.catalog.rate_limits import ClientLimits
from annas_gift.catalog.registry import Catalog
from annas_gift.monitoring.health import HealthChecker, probe_targets
from annas_gift.monitoring.tracker import UsageTracker
from annas_gift.routing.router import AutoRouter
from annas_gift.services.chat import ChatService
from annas_gift.services.limits import Limits
from annas_gift.services.response_cache import ResponseCache
from annas_gift.services.types import Router
from annas_gift.settings import ConfigError, Settings
from annas_gift.state import GatewayState
from annas_gift.storage import database, migrate
from annas_gift.upstream.base import Upstream
from annas_gift.upstream.litellm_client import LiteLLMUpstream
from annas_gift.upstream.openai_wire import DispatchUpstream, OpenAIWireUpstream
from annas_gift.upstream.portkey_client import PortkeyTracer
from annas_gift.upstream.vpn_manager import VPNManager

log = logging.getLogger("annas_gift")
# Browser clients (CORS) may read the gateway's decision headers too.
EXPOSED_HEADERS = [
    "x-request-id",
    "retry-after",
    *(f"x-annas-{name}" for name in ("model", "provider", "tier", "category", "cost-usd")),
    *(f"x-annas-{name}" for name in ("latency-ms", "attempts", "request-id", "trace-id", "cache")),
]


def load_catalog(settings: Settings) -> Catalog:
    """The catalog named in settings; an absent default file gives an empty catalog, loudly."""
    path = settings.litellm.config_path
    if not path.exists():
        log.warning("catalog %s not found: no models configured", path)
        return Catalog([])
    return Catalog.from_yaml(path)


def _openapi_with_request_schemas(app: FastAPI) -> None:
    """Chat routes parse their bodies themselves; publish those schemas in the OpenAPI doc."""
    from fastapi.openapi.utils import get_openapi

    from annas_gift.api.schemas.native import ChatRequest
    from annas_gift.api.schemas.openai import ChatCompletionRequest

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in (ChatCompletionRequest, ChatRequest):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _client_limits(settings: Settings) -> Callable[[str | None], ClientLimits]:
    default = ClientLimits(rpm=settings.auth.rpm, tpm=settings.auth.tpm)
    per_key = {
        key_id: ClientLimits(rpm=limits.rpm, tpm=limits.tpm)
        for key_id, limits in settings.auth.key_limits.items()
    }
    return lambda key_id: per_key.get(key_id or "", default)


def _client_keys(settings: Settings) -> KeyRing:
    specs = [key.get_secret_value() for key in settings.auth.api_keys]
    if not specs:
        specs = [ensure_key_file(settings.auth.key_file)]
    return KeyRing(specs)


def create_app(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    upstream: Upstream | None = None,
    router: Router | None = None,
) -> FastAPI:
    """Build the gateway app; tests pass their own catalog/upstream, production reads settings."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database.normalize_url(settings.storage.database_url)
        if settings.storage.migrate_on_start:
            await asyncio.to_thread(migrate.upgrade, url)
        engine = database.create_engine(url)
        tracker = UsageTracker(
            database.session_factory(engine),
            flush_interval=settings.storage.flush_interval_s,
            batch_size=settings.storage.batch_size,
            max_buffer=settings.storage.max_buffer,
            spool_path=settings.storage.spool_path,
        )
        await tracker.start()
        tracer = PortkeyTracer(settings.portkey)
        await tracer.start()
        app.state.portkey = tracer
        state = await GatewayState.create(
            settings.cache.redis_url,
            namespace=settings.cache.namespace,
            cache_max_entries=settings.cache.max_entries,
        )
        app.state.gateway_state = state
        limits = Limits(state, _client_limits(settings))
        the_upstream = upstream or DispatchUpstream(
            OpenAIWireUpstream() if settings.litellm.direct_openai_wire else None,
            LiteLLMUpstream(),
        )
        app.state.engine = engine
        app.state.tracker = tracker
        vpn = VPNManager(database.session_factory(engine), settings.vpn)
        await vpn.start()
        app.state.vpn = vpn
        checker = HealthChecker(
            probe_targets(app.state.catalog, settings.health.providers)
            if settings.health.active_checks
            else [],
            the_upstream,
            state,
            interval_s=settings.health.interval_s,
            timeout_s=settings.health.timeout_s,
        )
        checker.start()
        app.state.health_checker = checker
        app.state.chat = ChatService(
            app.state.catalog,
            the_upstream,
            tracker,
            router=router,
            attempt_timeout_s=settings.litellm.timeout_s,
            request_timeout_s=settings.server.request_timeout_s,
            tracer=tracer,
            limits=limits,
            cache=ResponseCache(state, settings.cache.ttl_s),
            vpn=vpn if settings.vpn.enabled else None,
            snapshot_max_age_s=settings.cache.snapshot_max_age_s,
        )
        log.info(
            "gateway ready: %d models, database %s",
            len(app.state.catalog),
            database.redact_url(url),
        )
        try:
            yield
        finally:
            await checker.stop()
            await vpn.stop()
            await limits.drain()
            await tracker.stop()
            await tracer.stop()
            await state.aclose()
            await the_upstream.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Anna's Gift",
        version=__version__,
        summary="A self-hosted LLM gateway for academic work (OpenAI-compatible).",
        lifespan=lifespan,
        docs_url=None,  # served offline by the dashboard (vendored Swagger UI / ReDoc)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.catalog = catalog if catalog is not None else load_catalog(settings)
    app.state.keys = _client_keys(settings)
    if router is None:
        try:
            router = AutoRouter.from_settings(
                settings.academic.weights, settings.academic.powerful_threshold
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    app.state.router = router
    errors.install(app)
    _openapi_with_request_schemas(app)
    app.include_router(health.router)
    app.include_router(openai.router)
    app.include_router(native.router)
    app.include_router(routing.router)
    app.include_router(vpn_routes.router)
    dashboard.install(app)
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=EXPOSED_HEADERS,
        )
    app.add_middleware(
        GatewayMiddleware,
        max_body_bytes=settings.server.max_body_bytes,
        log_requests=settings.server.access_log,
    )
    return app
