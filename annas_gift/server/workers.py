"""`annas-gift serve --workers N`: N gateway processes answering on one listening socket.

The parent builds the app (so a bad configuration fails once, before any fork), binds the
socket, runs the database migrations once, then forks the workers; each runs its own event
loop, lifespan (database engine, upstream sessions, usage tracker) and uvicorn server on the
inherited socket, and the kernel spreads accepted connections over them. Limits, budgets,
health and the response cache are exact only in one shared store, so more than one worker
needs Redis; usage goes to the one database (SQLite in WAL mode takes concurrent writers).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn

from annas_gift.settings import Settings

log = logging.getLogger("annas_gift.server")

NEEDS_REDIS = (
    "--workers {n} needs REDIS_URL: rate limits, budgets, model health and the response cache "
    "must be shared by the worker processes to stay exact (set REDIS_URL or use --workers 1)"
)


def workers_refusal(workers: int, settings: Settings) -> str | None:
    """Why `workers` processes cannot serve with these settings, or None when they can."""
    if workers < 1:
        return f"--workers must be at least 1 (got {workers})"
    if workers > 1 and not settings.cache.redis_url:
        return NEEDS_REDIS.format(n=workers)
    return None


def migrate_once(settings: Settings) -> None:
    """Run the start-up migrations once, before any server starts, in a child process.

    The child keeps Alembic (~11 MB that stays once loaded) out of the serving processes;
    the apps they serve are built with `without_start_migrations`.
    """
    if settings.storage.migrate_on_start:
        from annas_gift.storage import database
        from annas_gift.storage.migrate_process import upgrade_in_child

        upgrade_in_child(database.normalize_url(settings.storage.database_url))


def without_start_migrations(settings: Settings) -> Settings:
    """The settings for an app whose database `migrate_once` has already migrated."""
    storage = settings.storage.model_copy(update={"migrate_on_start": False})
    return settings.model_copy(update={"storage": storage})


def worker_settings(settings: Settings, index: int) -> Settings:
    """One worker's settings: no migrations of its own, a usage spool file of its own."""
    settings = without_start_migrations(settings)  # N racing upgrades would fail
    spool = settings.storage.spool_path
    # The spool is safe across threads, not processes: one file per worker.
    storage = settings.storage.model_copy(
        update={"spool_path": None if spool is None else Path(f"{spool}.worker-{index}")}
    )
    return settings.model_copy(update={"storage": storage})


@dataclass
class _Supervisor:
    children: dict[int, int]  # pid -> worker index
    stopping: bool = False

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    def wait(self) -> int:
        """Reap the workers; the first unexpected exit stops the rest. The exit code to use."""
        code = 0
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            index = self.children.pop(pid, None)
            if index is None:
                continue
            child_code = os.waitstatus_to_exitcode(status)
            if not self.stopping:
                log.error("worker %d (pid %d) exited with %d; stopping the others", index, pid,
                          child_code)  # fmt: skip
                code = child_code or 1
                self.stop(signal.SIGTERM, None)
        return code


def _run_worker(
    make_config: Callable[[int], uvicorn.Config], index: int, sock: socket.socket
) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)  # uvicorn installs its own graceful handlers
    code = 0
    try:
        uvicorn.Server(make_config(index)).run(sockets=[sock])
    except BaseException:  # a worker must never return into the parent's code
        log.exception("worker failed")
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve_workers(
    bind: uvicorn.Config, make_config: Callable[[int], uvicorn.Config], workers: int
) -> int:
    """Bind `bind`'s address once, fork `workers` processes serving it; returns the exit code.

    `make_config(i)` runs in worker i after the fork, so each worker builds its own app (and
    event loop) while sharing the parent's imported modules copy-on-write.
    """
    sock = bind.bind_socket()
    supervisor = _Supervisor({})
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, supervisor.stop)
    for index in range(workers):
        pid = os.fork()
        if pid == 0:
            _run_worker(make_config, index, sock)
        supervisor.children[pid] = index
    sock.close()  # the workers hold it
    log.info("%d workers serving (pids %s)", workers, " ".join(map(str, supervisor.children)))
    return supervisor.wait()
