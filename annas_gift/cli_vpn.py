"""`annas-gift vpn add|remove|list|test|rotate|status`: egress proxies in the settings' database.

Credentials are masked in everything printed. `rotate` (and `status --server`) talk to the
running gateway, since the current endpoint lives in its memory.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import typer

from annas_gift.cli_client import cli_settings, gateway_key, server_url
from annas_gift.core.errors import GatewayError
from annas_gift.settings import ConfigError

if TYPE_CHECKING:
    from annas_gift.egress.admin import VPNAdmin

T = TypeVar("T")
COLUMNS = ("name", "url", "country", "state", "latency_ms", "failure_count", "requests_carried")


def _run(action: Callable[[VPNAdmin], Awaitable[T]], probe_url: str | None = None) -> T:
    """Run `action(admin)` against the configured database (migrated and seeded first)."""
    import dataclasses

    from sqlalchemy.pool import NullPool

    from annas_gift.egress import admin
    from annas_gift.egress.config import VPNConfig
    from annas_gift.egress.manager import VPNManager
    from annas_gift.storage import database, migrate

    settings = cli_settings()
    url = database.normalize_url(settings.storage.database_url)
    if settings.storage.migrate_on_start:
        migrate.upgrade(url)

    async def main() -> T:
        engine = database.create_engine(url, poolclass=NullPool)
        try:
            config = VPNConfig.from_settings(settings.vpn)
            if probe_url:
                config = dataclasses.replace(config, probe_url=probe_url)
            manager = VPNManager(database.session_factory(engine), config)
            try:
                await manager.load()
                return await action(admin.VPNAdmin(manager))
            finally:
                await manager.stop()
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except GatewayError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1 if exc.status >= 500 else 2) from None


def _table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        typer.echo("no VPN endpoints (add one: annas-gift vpn add NAME URL)")
        return
    cells = [[c.upper() for c in COLUMNS]]
    cells += [["" if r.get(c) is None else str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    for row in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _with_password(url: str, env_name: str) -> str:
    password = os.environ.get(env_name)
    if not password:
        typer.echo(f"error: {env_name} is not set", err=True)
        raise typer.Exit(2)
    parts = urlsplit(url)
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def _api(method: str, path: str, server: str | None, key: str | None, **kw: Any) -> Any:
    import httpx

    settings = cli_settings()
    url = server_url(settings, server) + path
    headers = {"Authorization": f"Bearer {gateway_key(settings, key)}"}
    try:
        response = httpx.request(method, url, headers=headers, timeout=15, **kw)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the gateway at {url}: {type(exc).__name__}", err=True)
        raise typer.Exit(1) from None
    body = response.json()
    if response.status_code >= 400:
        typer.echo(f"error: {body.get('error', {}).get('message', response.text)}", err=True)
        raise typer.Exit(1)
    return body


Server = Annotated[str | None, typer.Option(help="The running gateway, e.g. http://host:8000.")]
Key = Annotated[str | None, typer.Option(help="A gateway key (default: settings or key file).")]


def register(app: typer.Typer) -> None:  # noqa: C901 - counts every nested sub-command
    """Add the `vpn` command group to the CLI."""
    vpn = typer.Typer(help="VPN / egress proxy endpoints.", no_args_is_help=True)
    app.add_typer(vpn, name="vpn")

    @vpn.command("list")
    def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List the endpoints (credentials masked)."""

        async def action(m: VPNAdmin) -> list[dict[str, Any]]:
            return [e.model_dump() for e in m.list_endpoints()]

        rows = _run(action)
        typer.echo(json.dumps(rows, indent=2)) if as_json else _table(rows)

    @vpn.command()
    def add(
        name: Annotated[str, typer.Argument(help="A unique name, e.g. nl-1.")],
        url: Annotated[str, typer.Argument(help="http, https, socks5 or socks5h URL.")],
        country: Annotated[str | None, typer.Option(help="Exit country, e.g. NL.")] = None,
        label: Annotated[str | None, typer.Option(help="The VPN provider's name.")] = None,
        provider: Annotated[
            list[str] | None, typer.Option(help="An LLM provider allowed to use it (repeat).")
        ] = None,
        inactive: Annotated[bool, typer.Option("--inactive", help="Store it disabled.")] = False,
        password_env: Annotated[
            str | None, typer.Option(help="Read the proxy password from this variable.")
        ] = None,
    ) -> None:
        """Add an endpoint (kept out of shell history: use --password-env for the secret)."""
        if password_env:
            url = _with_password(url, password_env)

        async def action(m: VPNAdmin) -> dict[str, Any]:
            fields = {"country": country, "provider_label": label, "active": not inactive}
            return (
                await m.add(name, url, allowed_providers=provider or None, **fields)
            ).model_dump()

        made = _run(action)
        typer.echo(f"added {made['name']} ({made['url']})")

    @vpn.command()
    def remove(name: str) -> None:
        """Remove an endpoint."""

        async def action(m: VPNAdmin) -> None:
            await m.remove(name)

        _run(action)
        typer.echo(f"removed {name}")

    @vpn.command()
    def test(
        name: Annotated[str | None, typer.Argument(help="Default: every endpoint.")] = None,
        probe_url: Annotated[
            str | None, typer.Option(help="Fetch this URL instead of vpn.probe_url.")
        ] = None,
    ) -> None:
        """Probe endpoints through their proxies now and record the outcome."""

        async def action(m: VPNAdmin) -> list[dict[str, Any]]:
            if name:
                return [(await m.test_endpoint(name)).model_dump()]
            return [r.to_dict() for r in await m.manager.probe_all()]

        results = _run(action, probe_url)
        if not results:
            typer.echo("no VPN endpoints to test (add one: annas-gift vpn add NAME URL)", err=True)
            raise typer.Exit(1)
        for r in results:
            egress = f"{r['egress_ip']} {r['egress_country'] or ''}".strip()
            where = f" egress {egress}" if r["egress_ip"] else ""
            verdict = f"ok {r['latency_ms']} ms{where}" if r["ok"] else f"FAILED {r['error']}"
            typer.echo(f"{r['name']}: {verdict}")
        if any(not r["ok"] for r in results):
            raise typer.Exit(1)

    @vpn.command()
    def rotate(
        name: Annotated[str | None, typer.Argument(help="Default: the next endpoint.")] = None,
        server: Server = None,
        key: Key = None,
    ) -> None:
        """Make the running gateway move to NAME (or to its next endpoint)."""
        body = _api("POST", "/api/v1/vpn/rotate", server, key, json={"to": name})
        typer.echo(f"current: {body['current'] or 'none'}")

    @vpn.command()
    def status(
        server: Server = None,
        key: Key = None,
        live: Annotated[bool, typer.Option(help="Ask the running gateway.")] = False,
    ) -> None:
        """Health of every endpoint (with --live, the gateway's current endpoint too)."""
        if live or server:
            body = _api("GET", "/api/v1/vpn/status", server, key)
        else:

            async def action(m: VPNAdmin) -> dict[str, Any]:
                return m.status().model_dump()

            body = _run(action)
            body["current"] = "(see --live)"
        state = "enabled" if body["enabled"] else "disabled"
        current = body["current"] or "none"  # JSON null: no endpoint in use
        typer.echo(f"vpn {state}, rotation {body['rotation']}, current {current}")
        _table(body["endpoints"])
