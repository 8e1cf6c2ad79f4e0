"""Docker has no engine here: check what can be checked without one.

The image itself is built and run for real by scripts/container-test (podman; SETUP.md), and its
entry command (`annas-gift serve`) by tests/api/test_cli.py::test_serve_demo_answers_chat.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_parses_and_wires_the_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"gateway", "postgres", "redis"}
    gateway = services["gateway"]
    assert gateway["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert gateway["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]


def _dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_image_installs_the_hash_locked_set_and_runs_the_cli() -> None:
    lines = _dockerfile()
    runs = " ".join(line for line in lines if line.startswith("RUN "))
    assert "--require-hashes -r requirements.txt" in runs
    cmd = next(line for line in lines if line.startswith("CMD "))
    # No --port in the CMD: it would silently override ANNAS_GIFT_SERVER__PORT.
    assert shlex.split(cmd[4:].strip("[]").replace(",", " ")) == ["annas-gift", "serve"]
    env = " ".join(line for line in lines if line.startswith("ENV "))
    assert "ANNAS_GIFT_SERVER__PORT=8000" in env
    # Writable paths the non-root user owns: the database, the spool and the generated key.
    for setting in ("STORAGE__DATABASE_URL", "STORAGE__SPOOL_PATH", "AUTH__KEY_FILE"):
        assert f"ANNAS_GIFT_{setting}=" in env and "/app/data/" in env
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in env
    assert any(line.startswith("USER ") and "root" not in line for line in lines)


def test_image_copies_what_the_package_needs() -> None:
    copies = [line for line in _dockerfile() if line.startswith("COPY ")]
    for needed in ("requirements.txt", "pyproject.toml", "annas_gift", "litellm_config.yaml"):
        assert any(needed in line for line in copies), needed
