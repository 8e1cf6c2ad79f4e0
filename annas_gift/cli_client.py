"""What every CLI command that talks to a running gateway needs: its URL and a key."""

from __future__ import annotations

import typer

from annas_gift.api.auth import key_id_for
from annas_gift.settings import ConfigError, Settings, load_settings


def cli_settings() -> Settings:
    """The settings, or exit 2 with the configuration error on stderr."""
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def server_url(settings: Settings, server: str | None) -> str:
    """The running gateway's base URL: --server, else the configured listen address."""
    if server:
        return server.rstrip("/")
    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a listen address
    return f"http://{host}:{settings.server.port}"


def gateway_key(settings: Settings, key: str | None) -> str:
    """A gateway key: --key, else the first configured key, else the gateway's key file."""
    if key:
        return key
    if settings.auth.api_keys:
        return key_id_for(settings.auth.api_keys[0].get_secret_value())[1]
    key_file = settings.auth.key_file
    if key_file.exists():  # the file the gateway reads (and creates) when no key is set
        return key_file.read_text(encoding="utf-8").strip()
    typer.echo("error: no gateway key: pass --key or set ANNAS_GIFT_API_KEY", err=True)
    raise typer.Exit(2)
