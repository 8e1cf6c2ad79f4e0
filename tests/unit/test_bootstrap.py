"""scripts/bootstrap: checks the Python version first and rebuilds a .venv of another Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_310 = """#!/bin/sh
# Answers like a Python 3.10 would to the version probes; anything else fails like pip would.
case "$*" in
  *version_info*) echo 3.10 ;;
  *sys.version.split*) echo "3.10.12 /usr" ;;
  *) echo "No matching distribution found for annotated-doc==0.0.7" >&2; exit 1 ;;
esac
"""


def _project(tmp_path: Path) -> Path:
    """A copy of the bootstrap script beside a tiny installable project and an empty lock."""
    (tmp_path / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "bootstrap-probe"\nversion = "0"\n'
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        "[tool.setuptools]\npy-modules = []\n"
    )
    return tmp_path


def _fake_python(tmp_path: Path) -> Path:
    shim = tmp_path / "fake-bin" / "python3"
    shim.parent.mkdir()
    shim.write_text(FAKE_310)
    shim.chmod(0o755)
    return shim


def _bootstrap(project: Path, python: str | Path) -> subprocess.CompletedProcess[str]:
    # No build isolation: the probe project builds with the venv's own setuptools, offline.
    env = {**os.environ, "PYTHON": str(python), "PIP_NO_BUILD_ISOLATION": "1"}
    return subprocess.run(
        [str(project / "scripts" / "bootstrap")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_old_python_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    began = time.monotonic()
    result = _bootstrap(project, _fake_python(tmp_path))
    assert time.monotonic() - began < 5
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"bootstrap: needs Python 3.11+; found 3.10 ({tmp_path / 'fake-bin' / 'python3'}); "
        "set PYTHON=/path/to/python3.11 (or newer)"
    )
    assert not (project / ".venv").exists()


@pytest.mark.slow
def test_missing_interpreter_names_the_fix(tmp_path: Path) -> None:
    result = _bootstrap(_project(tmp_path / "p"), tmp_path / "no-such-python")
    assert result.returncode == 2
    assert "cannot run" in result.stderr and "set PYTHON=" in result.stderr


@pytest.mark.slow
def test_venv_of_another_python_is_rebuilt_and_a_good_one_reused(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    # A .venv left by a 3.10 run: its python answers as 3.10.
    stale = project / ".venv" / "bin"
    stale.mkdir(parents=True)
    (stale / "python").write_text(FAKE_310)
    (stale / "python").chmod(0o755)

    first = _bootstrap(project, sys.executable)
    assert first.returncode == 0, first.stderr
    assert "bootstrap: .venv was made by another Python (3.10.12 /usr); rebuilding" in first.stderr
    probe = "import sys; print(sys.version_info[:2])"
    version = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", probe],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert version == str(tuple(sys.version_info[:2]))
    assert list((project / ".venv").glob(".installed-requirements-*"))

    second = _bootstrap(project, sys.executable)  # same interpreter: kept, nothing reinstalled
    assert second.returncode == 0, second.stderr
    assert "rebuilding" not in second.stderr
