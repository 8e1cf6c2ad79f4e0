"""The `annas-gift` command: serve, sandbox, db, models (and routing commands)."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn
from dotenv import load_dotenv

from annas_gift import (
    cli_keys,
    cli_models,
    cli_ops,
    cli_routing,
    cli_vpn,
    log_safety,
    startup_errors,
)
from annas_gift.settings import ConfigError, Settings, load_settings, load_settings_with_options

if TYPE_CHECKING:
    from fastapi import FastAPI

    from annas_gift.server import ServerLimits

app = typer.Typer(
    help="Anna's Gift: a self-hosted LLM gateway for academic work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


# Options given before the command (`annas-gift --log-level debug serve`).
_global_options: dict[str, str | None] = {"log_level": None}


@app.callback()
def _options(
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="debug, info, warning or error; debug also prints a start-up failure's details.",
        ),
    ] = None,
) -> None:
    _global_options["log_level"] = log_level


def _settings(options: dict[str, tuple[str, object]] | None = None) -> Settings:
    """The settings with command-line options applied, validated by the same rules."""
    log_level = ("--log-level", _global_options["log_level"])
    try:
        return load_settings_with_options({"server.log_level": log_level, **(options or {})})
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _setup_logging(level: str, *, log_prompts: bool = False) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    log_safety.install(log_prompts=log_prompts)  # no prompt in any log unless asked for


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Also start the sandbox upstream and serve its models.")
    ] = False,
    workers: Annotated[
        int, typer.Option(help="Processes serving the port (more than 1 needs REDIS_URL).")
    ] = 1,
) -> None:
    """Start the gateway (SQLite and in-process state unless DATABASE_URL/REDIS_URL are set)."""
    from annas_gift.api.app import create_app
    from annas_gift.catalog.registry import CatalogError, load_catalog_file
    from annas_gift.server import ServerLimits, build_config
    from annas_gift.server.workers import (
        migrate_once,
        serve_workers,
        without_start_migrations,
        worker_settings,
        workers_refusal,
    )

    settings = _settings({"server.host": ("--host", host), "server.port": ("--port", port)})
    if (refusal := workers_refusal(workers, settings)) is not None:
        raise _fail(refusal)
    _setup_logging(settings.server.log_level, log_prompts=settings.logging.log_prompts)
    try:
        catalog = None if demo else load_catalog_file(
            settings.litellm.config_path,
            explicit="config_path" in settings.litellm.model_fields_set,
            allow_empty=settings.litellm.allow_empty_catalog,
        )  # fmt: skip
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    if demo:
        from annas_gift.catalog.demo import demo_catalog
        from annas_gift.sandbox import start_in_thread

        sandbox = start_in_thread()
        catalog = demo_catalog(sandbox.base_url, embeddings=True)
        logging.getLogger("annas_gift").info("demo: sandbox upstream at %s", sandbox.url)
    try:  # migrated below, once, in a child process: Alembic stays out of the server
        gateway = create_app(without_start_migrations(settings), catalog=catalog, freeze_gc=True)
    except (ConfigError, CatalogError) as exc:
        raise _fail(str(exc)) from None
    limits = ServerLimits.from_settings(settings.server)
    migrate_once(settings)
    if workers > 1:  # the parent forks; each worker builds its own app

        def config_for(app: object) -> uvicorn.Config:
            return build_config(
                app,
                host=settings.server.host,
                port=settings.server.port,
                log_level=settings.server.log_level,
                limits=limits,
            )

        def worker_config(index: int) -> uvicorn.Config:
            app = create_app(worker_settings(settings, index), catalog=catalog, freeze_gc=True)
            return config_for(app)

        raise typer.Exit(code=serve_workers(config_for(gateway), worker_config, workers))
    _serve_one(gateway, settings, limits)


def _serve_one(gateway: FastAPI, settings: Settings, limits: ServerLimits) -> None:
    """One process: start-up failures become the one-line error and its exit code."""
    from annas_gift.server import serve as serve_http

    guard = startup_errors.LifespanGuard(gateway, where=_addresses(settings))
    try:
        started = serve_http(
            guard,
            host=settings.server.host,
            port=settings.server.port,
            log_level=settings.server.log_level,
            limits=limits,
        )
    except SystemExit:  # uvicorn exits after a failed start-up, or when it cannot bind
        started = False
    if guard.failure is not None:
        typer.echo(f"error: {guard.failure.message}", err=True)
        raise typer.Exit(code=guard.failure.code)
    if not started:  # uvicorn said why (a port in use) in one log line
        raise typer.Exit(code=startup_errors.EXIT_UNAVAILABLE)


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9100,
) -> None:
    """Run the sandbox upstream: an OpenAI-compatible fake provider with scripted behaviour."""
    from annas_gift.sandbox import run

    _setup_logging("info")
    run(host, port)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from annas_gift.storage import database, migrate

    url = database.normalize_url(_settings().storage.database_url)
    migrate.upgrade(url, revision)
    typer.echo(f"database at revision {migrate.current(url)} ({database.redact_url(url)})")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION (`base` removes every table)."""
    from annas_gift.storage import database, migrate

    url = database.normalize_url(_settings().storage.database_url)
    migrate.downgrade(url, revision)
    typer.echo(f"database at revision {migrate.current(url)} ({database.redact_url(url)})")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    from annas_gift.storage import database, migrate

    url = database.normalize_url(_settings().storage.database_url)
    typer.echo(migrate.current(url) or "empty (run: annas-gift db upgrade)")


cli_models.register(app)
cli_routing.register(app)
cli_vpn.register(app)
cli_ops.register(app)
cli_keys.register(app)


def main() -> None:
    """Entry point of the `annas-gift` command."""
    # `.env` supplies provider keys (os.environ/GROQ_API_KEY...), DATABASE_URL, REDIS_URL and
    # ANNAS_GIFT_API_KEY as well as settings; real environment variables win over it.
    load_dotenv(".env", override=False)
    try:
        app()
    except Exception as exc:  # the start-up error boundary: one line, exit 2 or 3
        failure = startup_errors.describe(exc, where=_addresses(None))
        if failure is None:
            raise  # a bug: the traceback is what a maintainer needs
        if (
            _global_options["log_level"] or os.environ.get("ANNAS_GIFT_SERVER__LOG_LEVEL")
        ) == "debug":
            traceback.print_exception(exc)
        typer.echo(f"error: {failure.message}", err=True)
        sys.exit(failure.code)


def _addresses(settings: Settings | None) -> dict[str, str]:
    """Redacted service addresses for error messages ({} when the settings do not load)."""
    from annas_gift.storage.database import redact_url

    try:
        settings = settings or load_settings()
    except ConfigError:
        return {}
    out = {"database": redact_url(settings.storage.database_url)}
    if settings.cache.redis_url:
        out["Redis"] = redact_url(settings.cache.redis_url)
    return out
