"""Issue 10 item 9: `kill -9` under load, restart, count: no answered request loses its usage."""

from __future__ import annotations

import shutil
from types import ModuleType

import pytest

from tests.scripts import load_script


def _scenario() -> ModuleType:
    return load_script("kill9_test.py")


@pytest.mark.slow
def test_kill_9_under_load_loses_no_usage(database_url: str) -> None:
    sent, recorded, workdir = _scenario().run_scenario(database_url, rate=40.0, seconds=3.0)
    assert sent > 20  # the load ran and the gateway answered before the kill
    assert recorded == sent, f"lost {sent - recorded} of {sent} usage rows; logs in {workdir}"
    shutil.rmtree(workdir, ignore_errors=True)
