"""`annas-gift serve --workers N`: one port, N processes; refused without Redis (issue 14)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.server.conftest import REPO, connect, read_reply

CONNECTIONS = 16


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNAS_GIFT_")}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env.update(
        PYTHONPATH=str(REPO),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        ANNAS_GIFT_API_KEY="sk-workers",
        DATABASE_URL=f"sqlite:///{tmp_path / 'usage.db'}",
        **extra,
    )
    return env


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from annas_gift.cli import main; main()", "serve", *args],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_more_than_one_worker_without_redis_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = _serve(tmp_path, "--workers", "2", "--port", str(_free_port()))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = out.decode().strip().splitlines()
    assert lines == [
        "error: --workers 2 needs REDIS_URL: rate limits, budgets, model health and the "
        "response cache must be shared by the worker processes to stay exact (set REDIS_URL "
        "or use --workers 1)"
    ]
    assert not (tmp_path / "usage.db").exists()  # refused before touching anything


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of established connections whose local end is `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":
            inodes.add(fields[9])
    return inodes


def _sockets_of(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[len("socket:[") : -1])
    return out


@pytest.mark.slow
def test_two_workers_answer_on_one_port_and_share_the_usage_database(
    tmp_path: Path, redis_url: str
) -> None:
    port = _free_port()
    namespace = f"workers-{uuid.uuid4().hex[:8]}"
    proc = _serve(
        tmp_path, "--demo", "--workers", "2", "--port", str(port),
        REDIS_URL=redis_url, ANNAS_GIFT_CACHE__NAMESPACE=namespace,
    )  # fmt: skip
    socks = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with connect(port, timeout=5) as sock:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                    if read_reply(sock).status == 200 and len(_children(proc.pid)) == 2:
                        break
            except OSError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) == 2 and proc.pid not in workers

        body = b'{"model":"sandbox/fast-small","messages":[{"role":"user","content":"hi"}]}'
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sk-workers"
            b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        ) % (len(body), body)
        # The kernel hands each new connection to one waiting worker, and it may favour one
        # for a while: open batches (all kept open) until both hold some, at most 8 batches.
        served_by: dict[int, int] = {}
        for _ in range(8):
            batch = [connect(port, timeout=30) for _ in range(CONNECTIONS)]
            socks += batch
            for sock in batch:  # all connections stay open: each is held by the worker serving it
                sock.sendall(request)
            replies = [read_reply(sock) for sock in batch]
            assert [r.status for r in replies] == [200] * CONNECTIONS
            assert all(r.headers["x-annas-provider"] == "sandbox" for r in replies)
            open_here = _established_inodes(port)
            served_by = {pid: len(_sockets_of(pid) & open_here) for pid in workers}
            assert sum(served_by.values()) == len(socks)
            if all(n > 0 for n in served_by.values()):
                break
        assert all(n > 0 for n in served_by.values()), served_by  # both workers took some
    finally:
        for sock in socks:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()[-2000:]
    assert "2 workers serving" in out.decode()
    # Both workers flushed their usage into the one SQLite file (WAL) on the way out.
    with sqlite3.connect(tmp_path / "usage.db") as db:
        (rows,) = db.execute("select count(*) from usage_records").fetchone()
        (mode,) = db.execute("pragma journal_mode").fetchone()
    assert rows == len(socks)
    assert mode == "wal"
