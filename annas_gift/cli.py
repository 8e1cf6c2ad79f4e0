"""The `annas-gift` command: serve, sandbox, db, models (and routing commands)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from dotenv import load_dotenv

from annas_gift import cli_routing, cli_vpn
from annas_gift.settings import ConfigError, Settings, load_settings

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


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


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
    from annas_gift.catalog.registry import CatalogError
    from annas_gift.server import ServerLimits, build_config
    from annas_gift.server.workers import (
        migrate_once,
        serve_workers,
        worker_settings,
        workers_refusal,
    )

    settings = _settings()
    if (refusal := workers_refusal(workers, settings)) is not None:
        raise _fail(refusal)
    _setup_logging(settings.server.log_level)
    catalog = None
    if demo:
        from annas_gift.catalog.demo import demo_catalog
        from annas_gift.sandbox import start_in_thread

        sandbox = start_in_thread()
        catalog = demo_catalog(sandbox.base_url)
        logging.getLogger("annas_gift").info("demo: sandbox upstream at %s", sandbox.url)
    try:
        gateway = create_app(settings, catalog=catalog, freeze_gc=True)
    except (ConfigError, CatalogError) as exc:
        raise _fail(str(exc)) from None

    def config_for(app: object) -> uvicorn.Config:
        return build_config(
            app,
            host=host or settings.server.host,
            port=port if port is not None else settings.server.port,
            log_level=settings.server.log_level,
            limits=ServerLimits.from_settings(settings.server),
        )

    if workers == 1:
        uvicorn.Server(config_for(gateway)).run()
        return
    migrate_once(settings)

    def worker_config(index: int) -> uvicorn.Config:
        app = create_app(worker_settings(settings, index), catalog=catalog, freeze_gc=True)
        return config_for(app)

    raise typer.Exit(code=serve_workers(config_for(gateway), worker_config, workers))


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


@app.command()
def models(
    config: Annotated[Path | None, typer.Option(help="Catalog file (litellm_config.yaml).")] = None,
) -> None:
    """List the catalog: name, provider, tier, availability (and the env vars still needed)."""
    from annas_gift.catalog.registry import Catalog, CatalogError

    path = config or _settings().litellm.config_path
    try:
        catalog = Catalog.from_yaml(path, price=False)
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    rows = [("MODEL", "PROVIDER", "TIER", "STATUS")]
    for m in catalog.all():
        missing = m.missing_env()
        rows.append(
            (m.name, m.provider, m.tier, f"needs {', '.join(missing)}" if missing else "ok")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        typer.echo(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")


cli_routing.register(app)
cli_vpn.register(app)


def main() -> None:
    """Entry point of the `annas-gift` command."""
    # `.env` supplies provider keys (os.environ/GROQ_API_KEY...), DATABASE_URL, REDIS_URL and
    # ANNAS_GIFT_API_KEY as well as settings; real environment variables win over it.
    load_dotenv(".env", override=False)
    app()
