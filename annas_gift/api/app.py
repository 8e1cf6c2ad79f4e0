"""The FastAPI app factory: checks the configuration, mounts the routes, runs the gateway."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from annas_gift import __version__
from annas_gift.api import errors
from annas_gift.api.auth import KeyRing, ensure_key_file
from annas_gift.api.gateway import Blueprint, open_gateway
from annas_gift.api.gc_tuning import freeze_startup_heap
from annas_gift.api.hot_routes import HotRoutes
from annas_gift.api.middleware import GatewayMiddleware
from annas_gift.api.routes import (
    classify,
    dashboard,
    decisions,
    embeddings,
    keys,
    liveness,
    native,
    openai,
    operations,
)
from annas_gift.api.routes import vpn as vpn_routes
from annas_gift.catalog.registry import Catalog
from annas_gift.egress.config import VPNConfig
from annas_gift.services.auto_routing import AutoRouter
from annas_gift.services.collaborators import Planner
from annas_gift.settings import ConfigError, Settings
from annas_gift.upstream.base import Upstream

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

    from annas_gift.api.openapi import match_behaviour
    from annas_gift.api.schemas.embeddings import EmbeddingRequest
    from annas_gift.api.schemas.native import ChatRequest
    from annas_gift.api.schemas.openai import ChatCompletionRequest

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in (ChatCompletionRequest, ChatRequest, EmbeddingRequest):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = match_behaviour(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
    planner: Planner | None = None,
    freeze_gc: bool = False,
) -> FastAPI:
    """Build the gateway app; tests pass their own catalog/upstream, production reads settings.

    Configuration is checked here, so a bad setting fails before the server starts; the
    clients themselves are built by `open_gateway` when the app starts. `freeze_gc` (the
    server sets it) moves everything alive after start-up out of the collector's reach.
    """
    if planner is None:
        try:
            planner = AutoRouter.from_settings(
                settings.academic.weights, settings.academic.powerful_threshold
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    blueprint = Blueprint(
        settings=settings,
        catalog=catalog if catalog is not None else load_catalog(settings),
        keys=_client_keys(settings),
        planner=planner,
        vpn=VPNConfig.from_settings(settings.vpn),
        upstream=upstream,
        admin_keys=KeyRing([key.get_secret_value() for key in settings.auth.admin_keys]),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_gateway(blueprint) as gateway:
            app.state.gateway = gateway
            if freeze_gc:
                freeze_startup_heap()
            try:
                yield
            finally:
                del app.state.gateway

    app = FastAPI(
        title="Anna's Gift",
        version=__version__,
        summary="A self-hosted LLM gateway for academic work (OpenAI-compatible).",
        lifespan=lifespan,
        docs_url=None,  # served offline by the dashboard (vendored Swagger UI / ReDoc)
        redoc_url=None,
        # FastAPI's native OpenTelemetry is unused here (the gateway has its own metrics); off,
        # it no longer looks up the global OTel providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    _openapi_with_request_schemas(app)
    for module in (
        liveness,
        openai,
        embeddings,
        native,
        classify,
        vpn_routes,
        operations,
        keys,
        decisions,
    ):
        app.include_router(module.routes)
    dashboard.install(app)
    # Added first, so innermost: CORS and GatewayMiddleware (request id, body limit, access
    # log, 500s) wrap the chat routes' direct dispatch as they wrap the router.
    app.add_middleware(HotRoutes)
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
