"""Running the sandbox outside the test's event loop: in a thread, and as a foreground command."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from annas_gift.sandbox import start_in_thread


def test_start_in_thread_serves_synchronous_clients() -> None:
    with start_in_thread(defaults={"flaky": "status=503"}) as sandbox:
        assert sandbox.url == f"http://127.0.0.1:{sandbox.port}"
        assert sandbox.base_url == sandbox.url + "/v1"
        with httpx.Client(base_url=sandbox.base_url, timeout=5) as http:
            sandbox.script("m", ["status=429;retry_after=1"])
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            assert http.post("/chat/completions", json=body).status_code == 429
            ok = http.post("/chat/completions", json=body)
            assert ok.json()["choices"][0]["message"]["content"] == "[sandbox m] hi"
            assert (
                http.post("/chat/completions", json={**body, "model": "flaky"}).status_code == 503
            )
        assert [r["model"] for r in sandbox.requests()] == ["m", "m", "flaky"]
        sandbox.clear()
        assert sandbox.requests() == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(sandbox.url + "/health", timeout=2)


def test_stop_is_idempotent_and_prompt_with_a_held_request() -> None:
    sandbox = start_in_thread()
    sandbox.script("m", ["timeout"])
    with httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as http, pytest.raises(httpx.ReadTimeout):
        http.post(sandbox.base_url + "/chat/completions", json={"model": "m", "messages": []})
    started = time.monotonic()
    sandbox.stop()
    sandbox.stop()
    assert time.monotonic() - started < 2


def test_start_in_thread_reports_a_taken_port() -> None:
    with start_in_thread() as first, pytest.raises(OSError):
        start_in_thread(port=first.port)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_logs_its_url_and_stops_on_signal(sig: signal.Signals) -> None:
    code = "from annas_gift.sandbox import run; run('127.0.0.1', 0)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        assert httpx.get(match.group() + "/health", timeout=5).json() == {"status": "ok"}
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
