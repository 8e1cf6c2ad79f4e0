"""Settings: defaults, JSON file with ${VAR} substitution, env overrides, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annas_gift.settings import (
    ConfigError,
    load_settings,
    load_settings_with_options,
    substitute_env,
)


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
    # Relative paths in a config file mean "next to that file", wherever the gateway runs.
    assert s.storage.database_url == f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
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
    assert s.litellm.config_path == root / "litellm_config.yaml"  # next to the file
    assert s.logging.log_prompts is False


def _fails(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"server": {"prot": 18002}}, "unknown setting server.prot (did you mean `port`?)"),
        ({"sevrer": {"port": 1}}, "unknown setting sevrer (did you mean `server`?)"),
        ({"auth": {"key_limits": {"alice": {"rmp": 5}}}}, "auth.key_limits.alice.rmp"),
        ({"storage": {"zzz": 1}}, "unknown setting storage.zzz in "),
    ],
)
def test_unknown_key_in_file_names_it_and_the_nearest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: object, expected: str
) -> None:
    path = _write(tmp_path, data)
    message = _fails(monkeypatch, {"ANNAS_GIFT_CONFIG": str(path)})
    assert expected in message and str(path) in message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "ANNAS_GIFT_SEVRER__PORT",
            "ANNAS_GIFT_SEVRER__PORT (did you mean `ANNAS_GIFT_SERVER__PORT`?)",
        ),
        ("ANNAS_GIFT_SERVER__PROT", "(did you mean `ANNAS_GIFT_SERVER__PORT`?)"),
        ("ANNAS_GIFT_SERVER_PORT", "(did you mean `ANNAS_GIFT_SERVER__PORT`?)"),
        ("ANNAS_GIFT_STORAGE__SPOOL_PATH__X", "unknown environment variable"),
        ("ANNAS_GIFT_NOTHING_LIKE_IT", "unknown environment variable ANNAS_GIFT_NOTHING_LIKE_IT"),
    ],
)
def test_unknown_env_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, expected: str
) -> None:
    assert expected in _fails(monkeypatch, {name: "1"})


def test_unknown_variable_in_dotenv_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("GROQ_API_KEY=gsk-x\nANNAS_GIFT_SERVER__PROT=1\n")
    monkeypatch.chdir(tmp_path)
    assert "ANNAS_GIFT_SERVER__PROT" in _fails(monkeypatch, {})


def test_variables_we_do_not_own_or_read_elsewhere_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GROQ_API_KEY", "ANNAS_GIFT_API_KEY", "ANNAS_GIFT_TEST_WHATEVER"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("ANNAS_GIFT_AUTH__KEY_LIMITS__ALICE__RPM", "5")  # a user-named key
    # A variable the config file substitutes belongs to the file, not to the settings.
    monkeypatch.setenv("ANNAS_GIFT_HOST", "0.0.0.0")
    monkeypatch.setenv(
        "ANNAS_GIFT_CONFIG", str(_write(tmp_path, {"server": {"host": "${ANNAS_GIFT_HOST}"}}))
    )
    s = load_settings()
    assert s.server.host == "0.0.0.0"
    assert s.auth.key_limits["alice"].rpm == 5


def test_unknown_keyword_override_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown setting server\.prot \(did you mean `port`\?\)"
    ):
        load_settings(server={"prot": 1})


def test_unknown_key_in_a_json_section_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _fails(monkeypatch, {"ANNAS_GIFT_SERVER": '{"prot": 1}'})
    assert message == "unknown setting server.prot (did you mean `port`?)"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "notaurl",
            "not a database URL; supported: sqlite+aiosqlite://, postgresql+asyncpg://, postgresql://",
        ),
        (
            "mysql://root:hunter2@db/x",
            "unsupported scheme mysql://; supported: sqlite+aiosqlite://",
        ),
        ("postgresql://u:hunter2@h:notaport/x", "cannot be parsed"),
    ],
)
def test_database_url_is_checked_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    message = _fails(monkeypatch, {"DATABASE_URL": url})
    assert message.startswith("invalid setting storage.database_url (from DATABASE_URL): ")
    assert expected in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///x.db",
        "sqlite+aiosqlite:///:memory:",
        "postgresql://u@h/db",
        "postgres://u@h:5432/db",
        "postgresql+asyncpg://u@h/db",
    ],
)
def test_supported_database_urls_pass(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings().storage.database_url == url


def test_bad_rotation_fails_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _fails(monkeypatch, {"ANNAS_GIFT_VPN__ROTATION": "bogus"})
    assert message.startswith("invalid setting vpn.rotation: unknown rotation policy 'bogus'")
    assert "round_robin" in message
    monkeypatch.setenv("ANNAS_GIFT_VPN__ROTATION", "rr")  # aliases still work
    assert load_settings().vpn.rotation == "rr"


def test_unknown_weight_lists_the_valid_names(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _fails(monkeypatch, {"ANNAS_GIFT_ACADEMIC__WEIGHTS": '{"cots": 1}'})
    assert "unknown weight 'cots' (did you mean `cost`?)" in message
    assert (
        "valid names: benchmark_rank, benchmark_score, headroom, cost, latency, health" in message
    )


def test_relative_paths_in_file_resolve_next_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    path = conf / "config.json"
    path.write_text(
        json.dumps(
            {
                "auth": {"key_file": "keys/gw.key"},
                "litellm": {"config_path": "catalog.yaml"},
                "storage": {
                    "database_url": "sqlite:///data/gw.db",
                    "spool_path": "spool.jsonl",
                },
            }
        )
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("ANNAS_GIFT_CONFIG", "../conf/config.json")
    s = load_settings()
    assert s.auth.key_file == conf / "keys/gw.key"
    assert s.litellm.config_path == conf / "catalog.yaml"
    assert s.storage.spool_path == conf / "spool.jsonl"
    assert s.storage.database_url == f"sqlite:///{conf / 'data/gw.db'}"
    assert "config_path" in s.litellm.model_fields_set  # explicit: a missing file is an error


def test_absolute_and_env_paths_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "ANNAS_GIFT_CONFIG", str(_write(tmp_path, {"auth": {"key_file": "/srv/gw.key"}}))
    )
    monkeypatch.setenv("ANNAS_GIFT_STORAGE__SPOOL_PATH", "rel/spool.jsonl")
    s = load_settings()
    assert s.auth.key_file == Path("/srv/gw.key")
    assert s.storage.spool_path == Path("rel/spool.jsonl")  # the environment is the cwd's
    assert s.litellm.config_path == Path("litellm_config.yaml")
    assert "config_path" not in s.litellm.model_fields_set


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"server.port": ("--port", 83540)},
            "invalid option --port: Input should be less than or equal to 65535",
        ),
        (
            {"server.port": ("--port", -1)},
            "invalid option --port: Input should be greater than or equal to 0",
        ),
    ],
)
def test_cli_options_use_the_settings_rules(
    options: dict[str, tuple[str, object]], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings_with_options(options)
    assert str(info.value) == expected


def test_cli_options_override_and_none_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNAS_GIFT_SERVER__HOST", "0.0.0.0")
    s = load_settings_with_options(
        {"server.port": ("--port", 18004), "server.host": ("--host", None)}
    )
    assert (s.server.host, s.server.port) == ("0.0.0.0", 18004)
