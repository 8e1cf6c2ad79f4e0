"""The set-up the live alert tests share: a loopback webhook receiver and gateway processes
that evaluate alerts every 0.2 s and deliver every message at once to that receiver."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.integration.gateways import GatewayProcess

# Rules that would fire on their own in these scenarios (a sandbox script's failures, a model
# of one tier); a test turns back on the one it is about.
QUIET_RULES = {
    "ANNAS_GIFT_ALERTS__ERROR_RATE__ENABLED": "false",
    "ANNAS_GIFT_ALERTS__MODEL_ERROR_RATE__ENABLED": "false",
    "ANNAS_GIFT_ALERTS__BREAKER_OPEN": "false",
    "ANNAS_GIFT_ALERTS__TIER_DOWN": "false",
}


class Receiver:
    """A webhook on 127.0.0.1 (its own thread) that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, status: str, count: int = 1, within: float = 30.0) -> None:
        """Wait until at least `count` messages of this status ("firing", "resolved") came."""
        deadline = time.monotonic() + within
        while sum(b["status"] == status for b in self.bodies) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {count} {status} messages; got {self.bodies}")
            time.sleep(0.1)

    def firing_subjects(self) -> list[str]:
        """The subjects of the `firing` messages, in the order they arrived."""
        return [b["subject"] for b in self.bodies if b["status"] == "firing"]


def alerting_gateways(
    count: int,
    tmp_path: Path,
    *,
    pg_url: str,
    redis_url: str,
    catalog: Path,
    hook: str,
    env: dict[str, str] | None = None,
) -> list[GatewayProcess]:
    """`count` gateways (not started) sharing PostgreSQL, Redis and one alert channel.

    Each has its own working directory and usage spool; `env` adds to or overrides the common
    settings (e.g. the one rule a test is about, with its thresholds).
    """
    common = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "ANNAS_GIFT_CACHE__NAMESPACE": f"al{uuid.uuid4().hex[:8]}",
        "ANNAS_GIFT_LITELLM__CONFIG_PATH": str(catalog),
        "ANNAS_GIFT_SERVER__ACCESS_LOG": "false",
        "ANNAS_GIFT_STORAGE__FLUSH_INTERVAL_S": "0.05",
        "ANNAS_GIFT_ALERTS__ENABLED": "true",
        "ANNAS_GIFT_ALERTS__INTERVAL_S": "0.2",
        "ANNAS_GIFT_ALERTS__CHANNELS": json.dumps([{"name": "hook", "url": hook}]),
        "ANNAS_GIFT_ALERTS__DELIVERY__MIN_INTERVAL_S": "0",
        **QUIET_RULES,
        **(env or {}),
    }
    gateways = []
    for i in range(count):
        workdir = tmp_path / f"gw{i}"
        workdir.mkdir()
        spool = {"ANNAS_GIFT_STORAGE__SPOOL_PATH": str(workdir / "spool.jsonl")}
        gateways.append(GatewayProcess(workdir, {**common, **spool}))
    return gateways
