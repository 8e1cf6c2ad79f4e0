"""Start-up migrations in a short-lived child process, so Alembic never loads into a server.

Alembic, Mako and the migration scripts add ~11 MB to a process, and dropping their modules
after use gives none of it back (CPython keeps freed module memory); a child that exits takes
it along. The child reports a failure as one JSON line on stdout; the parent raises it again
as `DatabaseUnavailable` (a `ConnectionError` the start-up error boundary prints as one line,
exit 3) or `MigrationFailed` (a bug: its message carries the child's traceback).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import traceback

# The URL (maybe with a password) goes through the environment: argv is visible in `ps`.
URL_VARIABLE = "ANNAS_GIFT_MIGRATE_URL"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class DatabaseUnavailable(ConnectionError):
    """The child could not reach the database (refused, unknown database, bad password)."""


class MigrationFailed(RuntimeError):
    """The migrations failed in the child for another reason."""


def upgrade_in_child(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` in a child Python process."""
    level = str(logging.getLogger().getEffectiveLevel())
    result = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-m", __name__, revision, level],
        env={**os.environ, URL_VARIABLE: url},
        stdout=subprocess.PIPE,  # stderr passes through: the child's log lines reach the user
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        report = {"unavailable": False, "reason": "", "traceback": result.stdout}
    # The first line is what the one-line error shows; the child's traceback follows it, for
    # `--log-level debug` and for the traceback of a bug.
    message = f"{report['reason']}\n\nIn the migration process:\n{report['traceback']}"
    if report["unavailable"]:
        raise DatabaseUnavailable(message)
    raise MigrationFailed(f"migrations failed (exit {result.returncode}): {message}")


def _unavailable_cause(exc: BaseException) -> BaseException | None:
    """The exception in `exc`'s chain that says the database is unreachable, if any."""
    from sqlalchemy.exc import DBAPIError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | TimeoutError | DBAPIError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _child(revision: str, level: str) -> int:
    from annas_gift.storage import migrate

    # The format of the server's own log lines (cli._setup_logging), so the two read as one log.
    logging.basicConfig(level=int(level), format=LOG_FORMAT, stream=sys.stderr)
    try:
        migrate.upgrade(os.environ.pop(URL_VARIABLE), revision)
    except Exception as exc:
        cause = _unavailable_cause(exc)
        report = {
            "unavailable": cause is not None,
            "reason": str(cause if cause is not None else exc) or type(exc).__name__,
            "traceback": traceback.format_exc(),
        }
        print(json.dumps(report), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:3]))
