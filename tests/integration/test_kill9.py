"""Issue 10 item 9: `kill -9` under load, restart, count: no answered request loses its usage."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _scenario() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kill9", ROOT / "scripts" / "kill9_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_kill_9_under_load_loses_no_usage(database_url: str) -> None:
    sent, recorded, workdir = _scenario().run_scenario(database_url, rate=40.0, seconds=3.0)
    assert sent > 20  # the load ran and the gateway answered before the kill
    assert recorded == sent, f"lost {sent - recorded} of {sent} usage rows; logs in {workdir}"
    shutil.rmtree(workdir, ignore_errors=True)
