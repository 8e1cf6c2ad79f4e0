"""`serve --workers`: with PROMETHEUS_MULTIPROC_DIR, one scrape adds up every worker's values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
from annas_gift.monitoring.metrics import GatewayMetrics
m = GatewayMetrics()
assert m.multiprocess
for _ in range({n}):
    m.observe_request(route="openai", provider="groq", model="groq/llama", status=200,
                      latency_s=0.3, prompt_tokens=7, key_alias="alice", cache="miss")
"""
SCRAPE = """
import sys
from annas_gift.monitoring.metrics import GatewayMetrics
sys.stdout.write(GatewayMetrics().render()[0].decode())
"""


def _run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_scrape_sums_every_worker(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    _run(WORKER.format(n=2), env)
    _run(WORKER.format(n=3), env)
    text = _run(SCRAPE, env)
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }

    def total(name: str, **labels: str) -> float:
        return sum(
            v for (n, ls), v in found.items() if n == name and labels.items() <= dict(ls).items()
        )

    assert total("annas_gift_requests_total", model="groq/llama") == 5
    assert total("annas_gift_request_duration_seconds_count") == 5
    assert total("annas_gift_tokens_total", direction="prompt") == 35
    assert total("annas_gift_key_requests_total", key="alice") == 5
