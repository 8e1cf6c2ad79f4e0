"""`annas-gift keys create|list|show|revoke|rotate|team-budget`: virtual keys in the database.

Works on the settings' database directly; with Redis configured, every change is also
published so running gateways apply it within a second. A secret is printed once, at
creation or rotation, and never again.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer

from annas_gift.core.errors import GatewayError
from annas_gift.settings import ConfigError, load_settings

T = TypeVar("T")


class _Console:
    """Rich output to the current stdout; wide when piped, so tables never wrap in scripts."""

    def print(self, *objects: Any) -> None:
        import sys

        from rich.console import Console  # here: `annas-gift serve` never needs rich

        width = None if sys.stdout.isatty() else 160
        Console(highlight=False, width=width, file=sys.stdout).print(*objects)


console = _Console()


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _run(action: Callable[[Any], Awaitable[T]]) -> T:
    """Run `action(key_admin)` against the configured database (migrated first)."""
    from sqlalchemy.pool import NullPool

    from annas_gift.services.key_admin import KeyAdmin
    from annas_gift.storage import database, migrate

    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    url = database.normalize_url(settings.storage.database_url)
    if settings.storage.migrate_on_start:
        migrate.upgrade(url)

    async def main() -> T:
        engine = database.create_engine(url, poolclass=NullPool)
        redis = None
        try:
            admin = KeyAdmin(database.session_factory(engine))
            if settings.cache.redis_url:
                from redis.asyncio import Redis

                from annas_gift.state.key_events import RedisKeyEvents

                redis = Redis.from_url(settings.cache.redis_url, socket_timeout=2.0)
                events = RedisKeyEvents(redis, settings.cache.namespace)
                admin = KeyAdmin(database.session_factory(engine), notify=events.publish)
            return await action(admin)
        finally:
            if redis is not None:
                await redis.aclose()
            await engine.dispose()

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1 if exc.status >= 500 else 2) from None


def _expiry(days: float | None, until: str | None) -> datetime | None:
    if days is not None and until is not None:
        typer.echo("error: give --expires-in-days or --expires, not both", err=True)
        raise typer.Exit(2)
    if days is not None:
        return datetime.now(UTC) + timedelta(days=days)
    if until is None:
        return None
    try:
        parsed = datetime.fromisoformat(until)
    except ValueError:
        typer.echo(f"error: --expires {until!r} is not a date like 2027-06-30", err=True)
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _metadata(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            typer.echo(f"error: --meta {pair!r} must look like name=value", err=True)
            raise typer.Exit(2)
        out[name] = value
    return out


def _keys_table(views: list[Any]) -> None:
    if not views:
        console.print("no keys (create one: annas-gift keys create NAME)")
        return
    from rich.table import Table

    table = Table(
        "NAME", "ID", "PREFIX", "TEAM", "STATUS", "MODELS", "DAILY", "MONTHLY", "TOTAL", "EXPIRES"
    )
    for v in views:
        r = v.record
        models = "all" if r.allowed_models is None else ", ".join(r.allowed_models)
        table.add_row(
            r.name,
            r.id,
            v.prefix,
            r.team or "—",
            v.status,
            models,
            _money(r.budget_daily_usd),
            _money(r.budget_monthly_usd),
            _money(r.budget_total_usd),
            _when(r.expires_at),
        )
    console.print(table)


def _detail(view: Any, secret: str | None = None) -> None:
    from rich.table import Table

    r = view.record
    table = Table(show_header=False, box=None)
    rows: list[tuple[str, str]] = [
        ("name", r.name),
        ("id", r.id),
        ("prefix", view.prefix),
        ("team", r.team or "—"),
        ("status", view.status),
        ("created", _when(r.created_at)),
        ("expires", _when(r.expires_at)),
        ("revoked", _when(r.revoked_at)),
        ("models", "all" if r.allowed_models is None else ", ".join(r.allowed_models)),
        ("rpm / tpm", f"{r.rpm or '—'} / {r.tpm or '—'}"),
        (
            "budget day / month / total",
            " / ".join(
                _money(b) for b in (r.budget_daily_usd, r.budget_monthly_usd, r.budget_total_usd)
            ),
        ),
    ]
    if view.spend is not None:
        s = view.spend
        rows.append(
            (
                "spent day / month / total",
                f"${s.day_usd:.4f} / ${s.month_usd:.4f} / ${s.total_usd:.4f}",
            )
        )
    if r.metadata:
        rows.append(("metadata", json.dumps(dict(r.metadata))))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if secret is not None:
        # Plain echo, not rich: the secret must come out whole, unwrapped, copyable.
        typer.echo(f"\nsecret: {secret}")
        typer.echo("Store it now: it is not shown again (rotate the key if it is lost).")


def _finite_usd(value: float | None) -> float | None:
    # click's FloatRange lets "inf" and "nan" through; either would break the budget arithmetic.
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter("must be a finite amount of USD")
    return value


Usd = Annotated[
    float | None,
    typer.Option(min=0, callback=_finite_usd, help="USD (default: unlimited)."),
]
# The database stores rpm/tpm as 64-bit integers.
Limit = Annotated[int | None, typer.Option(min=1, max=2**63 - 1)]


def register(app: typer.Typer) -> None:  # noqa: C901 - one nested function per subcommand
    """Add the `keys` command group to the CLI."""
    keys = typer.Typer(
        help="Virtual keys: create, list, show, revoke, rotate.", no_args_is_help=True
    )
    app.add_typer(keys, name="keys")

    @keys.command()
    def create(  # noqa: PLR0913 - one parameter per CLI option
        name: Annotated[str, typer.Argument(help="A unique name, e.g. student-01.")],
        team: Annotated[str | None, typer.Option(help="Owner/team label, e.g. cs101.")] = None,
        model: Annotated[
            list[str] | None,
            typer.Option(
                "--model", help="Allowed model, glob (groq/*) or auto* (repeat; default: all)."
            ),
        ] = None,
        rpm: Limit = None,
        tpm: Limit = None,
        daily: Usd = None,
        monthly: Usd = None,
        total: Usd = None,
        expires_in_days: Annotated[float | None, typer.Option(min=0)] = None,
        expires: Annotated[str | None, typer.Option(help="Expiry date, e.g. 2027-06-30.")] = None,
        meta: Annotated[list[str] | None, typer.Option(help="name=value (repeat).")] = None,
    ) -> None:
        """Create a key and print its secret (once)."""
        from annas_gift.services.key_admin import KeySpec

        spec = KeySpec(
            name=name,
            team=team,
            expires_at=_expiry(expires_in_days, expires),
            allowed_models=model or None,
            rpm=rpm,
            tpm=tpm,
            budget_daily_usd=daily,
            budget_monthly_usd=monthly,
            budget_total_usd=total,
            metadata=_metadata(meta),
        )

        async def action(admin: Any) -> Any:
            return await admin.create(spec)

        issued = _run(action)
        _detail(issued.view, issued.secret)

    @keys.command("list")
    def list_(
        team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    ) -> None:
        """List keys (prefixes only, never secrets)."""

        async def action(admin: Any) -> Any:
            return await admin.list(include_revoked=all_, team=team)

        _keys_table(_run(action))

    @keys.command()
    def show(key: Annotated[str, typer.Argument(help="Key id or name.")]) -> None:
        """Show one key with its spend today, this month and in total."""

        async def action(admin: Any) -> Any:
            return await admin.show(key)

        _detail(_run(action))

    @keys.command()
    def revoke(key: Annotated[str, typer.Argument(help="Key id or name.")]) -> None:
        """Revoke a key for good (running gateways refuse it within a second with Redis)."""

        async def action(admin: Any) -> Any:
            return await admin.revoke(key)

        view = _run(action)
        console.print(f"revoked {view.record.name} ({view.prefix})")

    @keys.command()
    def rotate(key: Annotated[str, typer.Argument(help="Key id or name.")]) -> None:
        """Give a key a new secret (printed once); the old one stops working."""

        async def action(admin: Any) -> Any:
            return await admin.rotate(key)

        issued = _run(action)
        _detail(issued.view, issued.secret)

    @keys.command("team-budget")
    def team_budget(
        team: Annotated[str, typer.Argument(help="The team label keys carry.")],
        daily: Usd = None,
        monthly: Usd = None,
        total: Usd = None,
    ) -> None:
        """Set (replace) the budgets every key of a team shares."""
        from annas_gift.services.keys import TeamBudgets

        async def action(admin: Any) -> Any:
            return await admin.set_team_budget(TeamBudgets(team, daily, monthly, total))

        saved = _run(action)
        console.print(
            f"team {saved.team}: daily {_money(saved.daily_usd)}, monthly "
            f"{_money(saved.monthly_usd)}, total {_money(saved.total_usd)}"
        )
