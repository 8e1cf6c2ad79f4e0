"""`annas-gift usage`, `annas-gift status` and `annas-gift alerts test`: the operator's commands.

`usage` reads the settings' database directly; `status` asks a running gateway (its live state
is in its memory or Redis); `alerts test` sends a test message to the configured channels.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from annas_gift.cli_client import cli_settings, gateway_key, server_url
from annas_gift.settings import Settings
from annas_gift.settings_ops import AlertsSettings

GROUPS = ("model", "provider", "day", "key", "category", "tier")
_SINCE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """'30m', '12h', '7d', '2w' before now, or an ISO 8601 time; ValueError otherwise."""
    now = now or datetime.now(UTC)
    match = _SINCE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _alerts_settings(settings: Settings) -> AlertsSettings:
    # Until Settings has an `alerts` field (see settings_ops), read it from the environment.
    current = getattr(settings, "alerts", None)
    return current if isinstance(current, AlertsSettings) else AlertsSettings()


async def _usage(url: str, since: datetime, group_by: str | None) -> dict[str, Any]:
    from sqlalchemy.pool import NullPool

    from annas_gift.storage import database
    from annas_gift.storage.repositories import UsageRepository

    engine = database.create_engine(url, poolclass=NullPool)
    try:
        async with database.session_factory(engine)() as session:
            repo = UsageRepository(session)
            totals = await repo.stats(since=since)
            groups = await repo.stats(since=since, group_by=group_by) if group_by else []  # type: ignore[arg-type]
    finally:
        await engine.dispose()

    def row(stat: Any) -> dict[str, Any]:
        return {
            "key": stat.key, "requests": stat.requests, "prompt_tokens": stat.prompt_tokens,
            "completion_tokens": stat.completion_tokens, "total_tokens": stat.total_tokens,
            "errors": stat.errors, "cost_usd": round(stat.cost_usd, 6),
            "saved_cost_usd": round(stat.saved_cost_usd, 6),
            "avg_latency_ms": (
                None if stat.avg_latency_ms is None else round(stat.avg_latency_ms, 1)
            ),
        }  # fmt: skip

    empty = {"key": None, "requests": 0, "prompt_tokens": 0, "completion_tokens": 0,
             "total_tokens": 0, "errors": 0, "cost_usd": 0.0, "saved_cost_usd": 0.0,
             "avg_latency_ms": None}  # fmt: skip
    return {
        "since": since.isoformat(),
        "group_by": group_by,
        "totals": row(totals[0]) if totals else empty,
        "groups": [row(g) for g in groups],
    }


def _print_usage(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    group = report["group_by"] or "all"
    table = Table(title=f"Usage since {report['since']}", show_footer=True)
    totals = report["totals"]
    columns = [
        (group.upper(), "key", "TOTAL"),
        ("REQUESTS", "requests", None),
        ("ERRORS", "errors", None),
        ("PROMPT TOK", "prompt_tokens", None),
        ("COMPL TOK", "completion_tokens", None),
        ("COST USD", "cost_usd", None),
        ("SAVED USD", "saved_cost_usd", None),
    ]
    for title, field, footer in columns:
        shown = footer if footer is not None else _cell(field, totals[field])
        table.add_column(title, footer=shown, justify="left" if field == "key" else "right")
    for g in report["groups"] or ([] if report["group_by"] else [totals]):
        table.add_row(*(_cell(f, g[f]) if f != "key" else str(g[f] or "-") for _, f, _ in columns))
    Console(width=120).print(table)


def _cell(field: str, value: Any) -> str:
    if field.endswith("usd"):
        return f"{value:.4f}"
    return str(value)


def _get(path: str, server: str | None, key: str | None) -> tuple[int, Any]:
    import httpx

    settings = cli_settings()
    url = server_url(settings, server) + path
    headers = {"Authorization": f"Bearer {gateway_key(settings, key)}"}
    try:
        response = httpx.get(url, headers=headers, timeout=15)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the gateway at {url}: {type(exc).__name__}", 1) from None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error": {"message": response.text[:200]}}


def _print_status(
    providers: list[dict[str, Any]], vpn: dict[str, Any] | None, vpn_note: str = "not running"
) -> None:
    from rich.console import Console
    from rich.table import Table

    now = datetime.now(UTC)
    models = Table(title="Models")
    for title in ("PROVIDER", "MODEL", "AVAILABLE", "HEALTHY", "BREAKER", "COOLDOWN", "REMAINING"):
        models.add_column(title)
    for provider in providers:
        for m in provider["model_status"]:
            until = m.get("cooled_down_until")
            left = (datetime.fromisoformat(until) - now).total_seconds() if until else 0
            remaining = ", ".join(
                f"{k} {v}" for k, v in sorted((m.get("remaining") or {}).items()) if v is not None
            )
            models.add_row(
                provider["provider"], m["name"], "yes" if m["available"] else "no (needs key)",
                "yes" if m["healthy"] else "no", m["breaker"],
                f"{left:.0f}s" if left > 0 else "-", remaining or "-",
            )  # fmt: skip
    console = Console(width=140)
    console.print(models)
    if vpn is None:
        console.print(f"VPN: {vpn_note}")
        return
    state = "enabled" if vpn["enabled"] else "disabled"
    current = vpn.get("current") or "-"
    table = Table(title=f"VPN ({state}, current {current}, failovers {vpn['failovers']})")
    for title in ("ENDPOINT", "STATE", "LATENCY MS", "FAILURES", "CARRIED", "URL"):
        table.add_column(title)
    for e in vpn["endpoints"]:
        latency = "-" if e.get("latency_ms") is None else f"{e['latency_ms']:.0f}"
        table.add_row(
            e["name"], e["state"], latency, str(e["failure_count"]), str(e["requests_carried"]),
            e["url"],
        )  # fmt: skip
    console.print(table)


async def _send_tests(alerts: AlertsSettings, only: str | None) -> list[tuple[str, str, bool, str]]:
    import socket

    from annas_gift.monitoring.notify import AlertMessage, Notifier, build_channel, now_utc

    specs = [c for c in alerts.channels if only is None or c.name == only]
    channels = [build_channel(spec, alerts.delivery.timeout_s) for spec in specs]
    notifier = Notifier(channels, alerts.delivery)
    message = AlertMessage(
        status="test", rule="test", subject="all", severity="info",
        summary="Test message from `annas-gift alerts test`: this channel works.",
        instance=alerts.instance or socket.gethostname(), incident_id="test",
        started_at=now_utc(),
    )  # fmt: skip
    try:
        results = await asyncio.gather(*(notifier.deliver(c, message) for c in channels))
    finally:
        await notifier.stop()
    return [
        (c.name, c.masked_url, ok, notifier.stats[c.name].last_error or "")
        for c, ok in zip(channels, results, strict=True)
    ]


Server = Annotated[str | None, typer.Option(help="The running gateway, e.g. http://host:8000.")]
Key = Annotated[str | None, typer.Option(help="A gateway key (default: settings or key file).")]


def register(app: typer.Typer) -> None:  # noqa: C901 - counts every nested sub-command
    """Add `usage`, `status` and `alerts test` to the CLI."""

    @app.command()
    def usage(
        since: Annotated[str, typer.Option(help="7d, 12h, 30m, 2w or an ISO time.")] = "7d",
        group_by: Annotated[
            str | None, typer.Option("--group-by", help=f"One of: {', '.join(GROUPS)}.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Requests, tokens, cost and cache savings from the usage database."""
        from annas_gift.storage import database

        if group_by is not None and group_by not in GROUPS:
            raise _fail(f"--group-by must be one of {', '.join(GROUPS)}, not {group_by!r}")
        try:
            start = parse_since(since)
        except ValueError:
            raise _fail(f"--since: {since!r} is not like 7d, 12h, 30m or an ISO time") from None
        url = database.normalize_url(cli_settings().storage.database_url)
        try:
            report = asyncio.run(_usage(url, start, group_by))
        except Exception as exc:
            detail = f"{type(exc).__name__} (run: annas-gift db upgrade?)"
            raise _fail(f"cannot read usage from {database.redact_url(url)}: {detail}", 1) from None
        if as_json:
            typer.echo(json.dumps(report, indent=2))
        else:
            _print_usage(report)

    @app.command()
    def status(
        server: Server = None,
        key: Key = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Providers, breakers, cooldowns and VPN endpoints of a running gateway."""
        code, providers = _get("/api/v1/providers/status", server, key)
        if code >= 400:
            message = (providers.get("error") or {}).get("message", f"HTTP {code}")
            raise _fail(message, 1)
        vpn_code, vpn = _get("/api/v1/vpn/status", server, key)
        vpn_body = vpn if vpn_code < 400 else None  # 503: not running; 403: not an admin key
        vpn_note = "needs an admin key" if vpn_code == 403 else "not running"
        if as_json:
            typer.echo(json.dumps({"providers": providers, "vpn": vpn_body}, indent=2))
        else:
            _print_status(providers, vpn_body, vpn_note)

    alerts_app = typer.Typer(help="Alert channels and rules.", no_args_is_help=True)
    app.add_typer(alerts_app, name="alerts")

    @alerts_app.command("test")
    def alerts_test(
        channel: Annotated[str | None, typer.Option(help="Only this channel (by name).")] = None,
    ) -> None:
        """Send a test message to every configured channel (or one); exit 1 if any failed."""
        alerts = _alerts_settings(cli_settings())
        if not alerts.channels:
            raise _fail("no alert channels configured (alerts.channels)")
        names = [c.name for c in alerts.channels]
        if channel is not None and channel not in names:
            raise _fail(f"no alert channel {channel!r} (configured: {', '.join(names)})")
        try:
            results = asyncio.run(_send_tests(alerts, channel))
        except ValueError as exc:
            raise _fail(str(exc)) from None
        for name, masked, ok, error in results:
            typer.echo(f"{name}  {masked}  {'sent' if ok else 'FAILED: ' + error}")
        if not all(ok for _, _, ok, _ in results):
            raise typer.Exit(1)
