"""Real gateway processes for integration tests: start, wait for health, stop gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import free_port

KEY = "sk-multi-instance"
# The checkout under test, not whatever annas_gift the virtualenv has installed.
REPO = Path(__file__).resolve().parents[2]


class GatewayProcess:
    """`python -m annas_gift serve` on a free port with the given environment."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("ANNAS_GIFT_")}
        base.pop("DATABASE_URL", None)
        base.pop("REDIS_URL", None)
        pythonpath = os.pathsep.join(p for p in (str(REPO), base.get("PYTHONPATH")) if p)
        self.env = {**base, "PYTHONPATH": pythonpath, "ANNAS_GIFT_API_KEY": KEY, **env}
        self.workdir = workdir
        self.log = workdir / f"gateway-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        """Launch and wait until it answers /health."""
        return self.launch().wait_ready()

    def launch(self) -> GatewayProcess:
        """Start the process without waiting for it."""
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "annas_gift", "serve", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self) -> GatewayProcess:
        """Wait until /health answers (or fail with the process log)."""
        assert self.proc is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("gateway did not start")

    def stop(self) -> str:
        """SIGTERM (graceful: usage is flushed) and return the process log."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()  # reaped: no zombie, no ResourceWarning in a later test
        return self.log.read_text()


def write_catalog(path: Path, base_url: str, models: dict[str, dict[str, object]]) -> Path:
    """A catalog of sandbox-backed models: name -> extra model_info."""
    lines = ["model_list:"]
    for name, info in models.items():
        short = name.split("/", 1)[1]
        extra = "".join(f", {k}: {v}" for k, v in info.items())
        lines += [
            f"  - model_name: {name}",
            f"    litellm_params: {{model: openai/{short}, api_base: {base_url!r},"
            " api_key: sk-sb}",
            f"    model_info: {{provider: shared, tier: fast, categories: [chat]{extra}}}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path
