"""Prompts never reach logs unless `logging.log_prompts` says so (issue 10, item 17)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from annas_gift import log_safety
from annas_gift.catalog.demo import demo_model_list
from annas_gift.sandbox import RunningSandbox, start_in_thread
from tests.api.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-log-safety"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Body loggers at their defaults during the test, as other tests left them afterwards."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in log_safety.BODY_LOGGERS)]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers[1:]:
        lg.setLevel(logging.NOTSET)
        lg.disabled = False
    yield
    log_safety.install(log_prompts=True)  # undo the filters
    for lg, level, disabled in saved:
        lg.setLevel(level)
        lg.disabled = disabled


def test_debug_records_of_body_loggers_are_dropped(clean_logging: None) -> None:
    logging.getLogger().setLevel(logging.DEBUG)
    log_safety.install(log_prompts=False)
    capture = _Capture()  # added after install: the raised levels must hold for it too
    logging.getLogger().addHandler(capture)
    try:
        logging.getLogger("openai._base_client").debug("Request options: SECRET-PROMPT")
        logging.getLogger("httpcore.http11").debug("send_request_body SECRET-PROMPT")
        logging.getLogger("LiteLLM").debug("POST Request Sent: SECRET-PROMPT")
        logging.getLogger("httpx").info("HTTP Request: POST http://x 200")
        logging.getLogger("annas_gift.api").debug("gateway debug line")
    finally:
        logging.getLogger().removeHandler(capture)
    assert not [line for line in capture.lines if "SECRET-PROMPT" in line]
    assert "httpx HTTP Request: POST http://x 200" in capture.lines  # INFO still logged
    assert "annas_gift.api gateway debug line" in capture.lines  # our own debug stays


def test_a_library_lowering_its_level_later_is_still_filtered(clean_logging: None) -> None:
    capture = _Capture()
    logging.getLogger().addHandler(capture)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        log_safety.install(log_prompts=False)
        logging.getLogger("LiteLLM").setLevel(logging.DEBUG)  # what LITELLM_LOG=DEBUG does
        logging.getLogger("LiteLLM").debug("SECRET-PROMPT")
    finally:
        logging.getLogger().removeHandler(capture)
    assert capture.lines == []


def test_log_prompts_on_lets_them_through(clean_logging: None) -> None:
    capture = _Capture()
    logging.getLogger().addHandler(capture)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        log_safety.install(log_prompts=False)
        log_safety.install(log_prompts=True)
        logging.getLogger("openai._base_client").debug("Request options: PROMPT")
    finally:
        logging.getLogger().removeHandler(capture)
    assert capture.lines == ["openai._base_client Request options: PROMPT"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with start_in_thread() as sb:
        yield sb


def _serve_and_chat(tmp_path: Path, sandbox: RunningSandbox, prompt: str, log_prompts: bool) -> str:
    """Run `serve` at log_level=debug on the LiteLLM path, send one chat; the process output."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"model_list": demo_model_list(sandbox.base_url)}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNAS_GIFT_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        PYTHONPATH=str(ROOT),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        ANNAS_GIFT_API_KEY=KEY,
        ANNAS_GIFT_SERVER__LOG_LEVEL="debug",
        ANNAS_GIFT_LITELLM__DIRECT_OPENAI_WIRE="false",
        ANNAS_GIFT_LITELLM__CONFIG_PATH=str(catalog),
        ANNAS_GIFT_LOGGING__LOG_PROMPTS=str(log_prompts).lower(),
    )
    out = tmp_path / f"gateway-{log_prompts}.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "annas_gift", "serve", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, "gateway did not start"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        r = httpx.post(
            f"{url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"model": "sandbox/fast-small", "messages": [{"role": "user", "content": prompt}]},
            timeout=90,  # the first LiteLLM call imports and warms LiteLLM: slow on a busy host
        )
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return out.read_text()


@pytest.mark.slow
def test_litellm_path_at_debug_keeps_the_prompt_out_of_the_log(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    prompt = "zebra-quartz-prompt-7731"
    log = _serve_and_chat(tmp_path, sandbox, prompt, log_prompts=False)
    assert " DEBUG " in log  # debug logging really was on
    assert prompt not in log


@pytest.mark.slow
def test_log_prompts_setting_lets_the_sdk_log_bodies(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    # The control: the same run with the setting on shows the prompt, so the check above can fail.
    prompt = "zebra-quartz-prompt-8842"
    assert prompt in _serve_and_chat(tmp_path, sandbox, prompt, log_prompts=True)
