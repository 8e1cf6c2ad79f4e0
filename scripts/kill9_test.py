"""kill -9 a gateway under load, restart it, and count the usage rows that survived.

Usage: .venv/bin/python scripts/kill9_test.py [--database-url URL] [--rate 50] [--seconds 5]

Starts the sandbox upstream, then `annas-gift serve` as a subprocess on a free port; sends
chats at --rate per second for --seconds, kills the gateway with SIGKILL while requests are
still flowing, starts it again (which replays whatever it can), stops it cleanly, and counts
the usage records of this run (its own client key name). Prints sent / recorded / lost and exits
1 if any answered request has no usage record. Without the journal (storage.journal) the usage
of the last flush interval is lost; with it, none. tests/integration/test_kill9.py runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from sqlalchemy import func, select

from annas_gift.catalog.demo import demo_model_list
from annas_gift.sandbox import start_in_thread
from annas_gift.storage import database
from annas_gift.storage.models import UsageRecord

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(workdir: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """`annas-gift serve` in `workdir`, logging to gateway-<port>.log; returns once healthy."""
    log_path = workdir / f"gateway-{port}.log"
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(  # noqa: S603  # our own interpreter and arguments
            [sys.executable, "-m", "annas_gift", "serve", "--port", str(port)],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gateway exited; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gateway did not start")


async def load(
    url: str, key: str, rate: float, seconds: float, kill: subprocess.Popen[bytes]
) -> int:
    """Send chats at `rate`/s; SIGKILL the gateway after `seconds`; how many got a 200."""
    ok = 0
    body = {"model": "sandbox/fast-small", "messages": [{"role": "user", "content": "hi"}]}

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal ok
        try:
            r = await client.post("/v1/chat/completions", json=body)
        except httpx.TransportError:
            return  # in flight at the kill: never answered, so not counted as sent
        if r.status_code == 200:
            ok += 1

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        tasks: list[asyncio.Task[None]] = []
        began = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - began) < seconds:
            target = int(elapsed * rate) + 1
            while n < target:
                tasks.append(asyncio.create_task(one(client)))
                n += 1
            await asyncio.sleep(1 / rate / 2)
        os.kill(kill.pid, signal.SIGKILL)  # while requests are still flowing
        await asyncio.gather(*tasks)
    kill.wait()
    return ok


async def count_rows(url: str, key_id: str) -> int:
    """Usage records written for this run's client key."""
    engine = database.create_engine(url)
    try:
        async with engine.connect() as conn:
            query = (
                select(func.count()).select_from(UsageRecord).where(UsageRecord.key_id == key_id)
            )
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def run_scenario(db_url: str | None, rate: float, seconds: float) -> tuple[int, int, Path]:
    """Load, SIGKILL, restart, stop; (answered 200, usage rows recorded, the logs folder)."""
    workdir = Path(tempfile.mkdtemp(prefix="kill9-"))
    db_url = db_url or f"sqlite+aiosqlite:///{workdir / 'usage.db'}"
    run = f"kill9-{secrets.token_hex(4)}"
    key = f"sk-{secrets.token_hex(12)}"
    with start_in_thread() as sandbox:
        catalog = workdir / "catalog.yaml"
        catalog.write_text(yaml.safe_dump({"model_list": demo_model_list(sandbox.base_url)}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANNAS_GIFT_")}
        env.pop("REDIS_URL", None)
        env.update(
            PYTHONPATH=str(ROOT),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            DATABASE_URL=db_url,
            ANNAS_GIFT_API_KEY=f"{run}:{key}",
            ANNAS_GIFT_LITELLM__CONFIG_PATH=str(catalog),
            ANNAS_GIFT_SERVER__ACCESS_LOG="false",
        )
        port = free_port()
        first = start_gateway(workdir, env, port)
        sent = asyncio.run(load(f"http://127.0.0.1:{port}", key, rate, seconds, first))
        second = start_gateway(workdir, env, free_port())  # start-up replays what it can
        second.send_signal(signal.SIGTERM)  # a clean stop flushes everything it holds
        second.wait(timeout=60)
    return sent, asyncio.run(count_rows(db_url, run)), workdir


def main() -> int:
    """Run the scenario once and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sent, recorded, workdir = run_scenario(args.database_url, args.rate, args.seconds)
    lost = max(0, sent - recorded)
    backend = "postgresql" if args.database_url and "postgresql" in args.database_url else "sqlite"
    print(f"{backend}: sent {sent} (answered 200), recorded {recorded}, lost {lost}")
    print(f"logs in {workdir}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
