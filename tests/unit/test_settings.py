"""Settings: defaults, JSON file with ${VAR} substitution, env overrides, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annas_gift.settings import ConfigError, load_settings, substitute_env


def test_defaults_need_no_setup() -> None:
    s = load_settings()
    assert s.server.port == 8000
    assert s.storage.database_url.startswith("sqlite+aiosqlite:///")
    assert s.cache.redis_url is None
    assert s.auth.api_keys == []


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("x${A:-d}y", {}, "xdy"),
        ("${A:-d}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("no vars", {}, "no vars"),
        ("$A {A}", {}, "$A {A}"),
    ],
)
def test_substitution(text: str, env: dict[str, str], expected: str) -> None:
    assert substitute_env(text, env) == expected


def test_missing_variable_names_it() -> None:
    with pytest.raises(ConfigError, match=r"\$\{NOPE\}.*NOPE is not set"):
        substitute_env("${NOPE}", {})


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_json_file_with_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(
        tmp_path,
        {
            "server": {"port": 9001, "cors_origins": ["http://localhost:3000"]},
            "auth": {"api_keys": ["${MY_KEY}"]},
            "storage": {"database_url": "${DB:-sqlite+aiosqlite:///./x.db}"},
            "cache": {"redis_url": "${REDIS:-}"},
        },
    )
    monkeypatch.setenv("ANNAS_GIFT_CONFIG", str(path))
    monkeypatch.setenv("MY_KEY", "sk-from-env")
    s = load_settings()
    assert s.server.port == 9001
    assert s.server.cors_origins == ["http://localhost:3000"]
    assert [k.get_secret_value() for k in s.auth.api_keys] == ["sk-from-env"]
    assert s.storage.database_url == "sqlite+aiosqlite:///./x.db"
    assert s.cache.redis_url is None
    assert "sk-from-env" not in repr(s)  # secrets stay out of reprs and logs


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNAS_GIFT_CONFIG", str(_write(tmp_path, {"server": {"port": 9001}})))
    monkeypatch.setenv("ANNAS_GIFT_SERVER__PORT", "9002")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("REDIS_URL", "redis://h:6379/0")
    monkeypatch.setenv("ANNAS_GIFT_API_KEY", "sk-a, bob:sk-b")
    s = load_settings()
    assert s.server.port == 9002
    assert s.storage.database_url == "postgresql://u@h/db"
    assert s.cache.redis_url == "redis://h:6379/0"
    assert [k.get_secret_value() for k in s.auth.api_keys] == ["sk-a", "bob:sk-b"]


def test_dotenv_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("ANNAS_GIFT_SERVER__PORT=9123\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().server.port == 9123


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"server": {"port": "not-a-port"}}, "server.port"),
        ({"server": {"port": 70000}}, "server.port"),
        ({"storage": {"batch_size": 0}}, "storage.batch_size"),
        ({"server": {"log_level": "loud"}}, "server.log_level"),
    ],
)
def test_invalid_value_is_one_line_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: object, key: str
) -> None:
    monkeypatch.setenv("ANNAS_GIFT_CONFIG", str(_write(tmp_path, data)))
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert key in message and "\n" not in message


def test_portkey_enabled_without_key_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNAS_GIFT_PORTKEY__ENABLED", "true")
    with pytest.raises(ConfigError, match=r"portkey\.api_key is required"):
        load_settings()


def test_unreadable_or_invalid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNAS_GIFT_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("ANNAS_GIFT_CONFIG", str(bad))
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_settings()


def test_example_config_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("ANNAS_GIFT_CONFIG", str(root / "config.example.json"))
    monkeypatch.setenv("ANNAS_GIFT_API_KEY", "sk-example")
    s = load_settings()
    assert s.litellm.config_path == Path("litellm_config.yaml")
