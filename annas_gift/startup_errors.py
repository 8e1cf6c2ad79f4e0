"""Start-up failures as one line and an exit code: 2 for configuration, 3 for a service.

The command line's error boundary uses `describe`; `LifespanGuard` does the same for failures
inside the ASGI start-up (migrations, Redis), which uvicorn would otherwise log as a traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from annas_gift.catalog.registry import CatalogError
from annas_gift.settings import ConfigError

EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3

log = logging.getLogger("annas_gift.startup")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StartupFailure:
    """What to print (one line, no secrets) and the process exit code."""

    code: int
    message: str


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def _service_of(exc: BaseException) -> str | None:
    """ "Redis" or "database" by the modules the failure passed through, else None."""
    names = [type(exc).__module__]
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        names.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    for name in reversed(names):  # the innermost frames know best
        root = name.split(".", 1)[0]
        if root == "redis" or name.startswith("annas_gift.state"):
            return "Redis"
        if root in ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "alembic") or name.startswith(
            "annas_gift.storage"
        ):
            return "database"
    return None


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError):  # refused, unknown host, unreachable, timed out
        return True
    module = type(exc).__module__.split(".", 1)[0]
    if module == "redis":
        return type(exc).__name__ in ("ConnectionError", "TimeoutError", "BusyLoadingError")
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError)  # e.g. no such database, authentication failed


def _reason(exc: BaseException) -> str:
    text = _first_line(str(exc))
    if text.startswith("(") and ") " in text:  # SQLAlchemy's "(driver.Error) message"
        text = text.split(") ", 1)[1]
    return text or type(exc).__name__


def describe(exc: BaseException, *, where: dict[str, str] | None = None) -> StartupFailure | None:
    """The one-line failure for a configuration or service error; None for a bug.

    `where` maps a service ("database", "Redis") to a redacted address for the message.
    """
    if isinstance(exc, ConfigError | CatalogError):
        return StartupFailure(EXIT_CONFIG, str(exc).replace("\n", " "))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # the cause may be the real one
        seen.add(id(current))
        if _is_unavailable(current):
            service = _service_of(exc) or _service_of(current) or "a required service"
            address = (where or {}).get(service)
            at = f" at {address}" if address else ""
            return StartupFailure(
                EXIT_UNAVAILABLE, f"{service} unavailable{at}: {_reason(current)}"
            )
        current = current.__cause__ or current.__context__
    return None


def log_details(exc: BaseException) -> None:
    """The traceback, for `--log-level debug`."""
    log.debug(
        "start-up failure details:\n%s",
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )


class _QuietUvicorn(logging.Filter):
    """Drops uvicorn's own "Application startup failed" once the guard has reported it."""

    def __init__(self, guard: LifespanGuard) -> None:
        super().__init__()
        self._guard = guard

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self._guard.failure and record.getMessage().startswith("Application startup"))


class LifespanGuard:
    """ASGI wrapper: a start-up failure becomes `self.failure` instead of a logged traceback."""

    def __init__(self, app: ASGIApp, *, where: dict[str, str] | None = None) -> None:
        self.app = app
        self.where = where
        self.failure: StartupFailure | None = None
        logging.getLogger("uvicorn.error").addFilter(_QuietUvicorn(self))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through; rewrite a lifespan start-up failure message."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def guarded_send(message: Message) -> None:
            if message.get("type") == "lifespan.startup.failed":
                # Starlette sends this from inside its `except`: the exception is current here.
                exc = sys.exc_info()[1]
                if exc is not None:
                    log_details(exc)
                    self.failure = describe(exc, where=self.where)
                if self.failure is not None:
                    message = {**message, "message": ""}  # reported once, by the command
            await send(message)

        await self.app(scope, receive, guarded_send)
