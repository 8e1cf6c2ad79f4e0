"""Typed settings: a JSON config file with ${VAR} substitution, environment overrides and `.env`.

Precedence, highest first: explicit keyword arguments, environment variables
(`ANNAS_GIFT_<SECTION>__<KEY>`, plus the conventional `DATABASE_URL`, `REDIS_URL`,
`ANNAS_GIFT_API_KEY`), `.env`, the JSON file named by `ANNAS_GIFT_CONFIG`, defaults.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from annas_gift import settings_checks
from annas_gift.settings_keys import (
    AdminKeySettings,
    BudgetSettings,
    VirtualKeySettings,
    admin_keys_from_env,
)
from annas_gift.settings_ops import AlertsSettings, DashboardSettings, MetricsSettings

CONFIG_ENV = "ANNAS_GIFT_CONFIG"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """Bad configuration; the message names the offending key and fits on one line."""


def substitute_env(text: str, env: dict[str, str] | None = None) -> str:
    """Replace `${VAR}` and `${VAR:-default}` with values from the environment."""
    source = os.environ if env is None else env

    def _sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = source.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise ConfigError(f"config references ${{{name}}} but {name} is not set")

    return _VAR.sub(_sub, text)


# Settings that hold file paths: relative ones in a config file mean "next to that file".
PATH_SETTINGS = (
    ("auth", "key_file"),
    ("litellm", "config_path"),
    ("storage", "spool_path"),
    ("storage", "journal_dir"),
    ("storage", "database_url"),
)
# ANNAS_GIFT_* names read by something other than the settings sections.
# Our variables that are not settings paths: the config file, the conventional key variables,
# the evaluation data folder, and two read by scripts (dashboard screenshots, container test).
OTHER_ENV_NAMES = frozenset(
    {
        CONFIG_ENV,
        "ANNAS_GIFT_API_KEY",
        "ANNAS_GIFT_ADMIN_KEY",
        "ANNAS_GIFT_ROUTING_DATA",
        "ANNAS_GIFT_SCREENSHOTS",
        "ANNAS_GIFT_CONTAINER_TEST",
    }
)
TEST_ENV_PREFIX = "ANNAS_GIFT_TEST_"  # the test suite's own variables (database, Redis)


class _Section(BaseModel):
    """A settings section: a misspelled key is an error, not silently a default."""

    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    request_timeout_s: float = Field(default=120.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    # Connection limits of the HTTP server (annas_gift/server, docs/server-limits.md).
    max_header_bytes: int = Field(default=64 * 1024, gt=0)
    header_timeout_s: float = Field(default=30.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    body_min_rate: int = Field(default=1024, gt=0)  # bytes/s, averaged per body window
    keepalive_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1024, gt=0)
    linger_s: float = Field(default=2.0, gt=0)


class KeyLimits(_Section):
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class AuthSettings(AdminKeySettings):
    # Keys may be given bare ("sk-...") or named ("alice:sk-..."); the name is what usage records.
    api_keys: list[SecretStr] = Field(default_factory=list)
    # Limits on the gateway's own clients: a default for every key, overridable per key id
    # (the name before ':' in "alice:sk-...", or the "key-xxxxxxxx" id of a bare key).
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    key_limits: dict[str, KeyLimits] = Field(default_factory=dict)

    # Without configured keys the gateway generates one into this file (mode 0600).
    key_file: Path = Path("annas_gift.key")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):  # `${KEY:-}` in a config file yields "": no key
            return [v for v in value if not (isinstance(v, str) and not v.strip())]
        return value


class LiteLLMSettings(_Section):
    config_path: Path = Path("litellm_config.yaml")
    timeout_s: float = Field(default=60.0, gt=0)
    # Call OpenAI-wire providers (openai, groq, cerebras, openrouter, mistral) over a pooled
    # HTTP client instead of litellm.acompletion; everything else always goes through LiteLLM.
    direct_openai_wire: bool = True
    # A catalog without models is a mistake (a misspelled `model_list`, an empty file) unless
    # this says it is intended, e.g. a gateway that only serves the --demo sandbox.
    allow_empty_catalog: bool = False


class PortkeySettings(_Section):
    enabled: bool = False
    api_key: SecretStr | None = None
    base_url: str = "https://api.portkey.ai/v1"
    send_prompts: bool = False  # privacy: prompt/answer text goes to Portkey only if true
    metadata: dict[str, str] = Field(default_factory=dict)  # added to every entry
    batch_size: int = Field(default=50, gt=0, le=1000)
    flush_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=5.0, gt=0)
    max_queue: int = Field(default=10_000, gt=0)
    max_retries: int = Field(default=5, ge=0)

    @model_validator(mode="after")
    def _key_when_enabled(self) -> PortkeySettings:
        if self.enabled and not (self.api_key and self.api_key.get_secret_value()):
            raise ValueError("portkey.api_key is required when portkey.enabled is true")
        return self


class AcademicSettings(_Section):
    # None: the classifier's calibrated threshold (docs/routing.md); else score >= this → powerful.
    powerful_threshold: float | None = Field(default=None, ge=0, le=1)
    # Selector weights by component (benchmark_rank, benchmark_score, headroom, cost, latency,
    # health); unset ones keep their defaults, and all are normalised to sum to 1.
    weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _known_components(cls, value: dict[str, float]) -> dict[str, float]:
        from annas_gift.core.names import COMPONENTS

        for name in value:
            if name not in COMPONENTS:
                hint = settings_checks.did_you_mean(name, COMPONENTS)
                raise ValueError(
                    f"unknown weight {name!r}{hint}; valid names: {', '.join(COMPONENTS)}"
                )
        return value


class VPNSettings(_Section):
    """Egress proxies (a VPN service's or a local VPN client's); see docs/vpn.md."""

    enabled: bool = False
    # round_robin | random | least_used | timed (new endpoint every rotate_every_minutes) | sticky
    rotation: str = "round_robin"
    rotate_every_minutes: float = Field(default=10.0, gt=0)
    rotate_on_429: bool = True  # a provider 429 moves that provider to another endpoint
    rate_limit_cooldown_s: float = Field(default=60.0, ge=0)
    failure_threshold: int = Field(default=3, ge=1)  # consecutive failures before "down"
    max_failovers: int = Field(default=3, ge=0)  # other endpoints one request may try
    probe_interval_s: float = Field(default=30.0, gt=0)
    probe_timeout_s: float = Field(default=10.0, gt=0)
    probe_url: str = "https://cloudflare.com/cdn-cgi/trace"
    providers: list[str] | None = None  # only these providers go through the VPN (None: all)
    countries: list[str] | None = None  # only endpoints in these countries (None: any)
    fail_open: bool = False  # go direct when no endpoint is left (reveals the real address)
    # Key ids (the name in "alice:sk-...") allowed to change endpoints; None: any gateway key.
    admin_keys: list[str] | None = None
    # Seeded into the database on start: {name, url, country, provider_label, allowed_providers}
    endpoints: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("rotation")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        # The rotation module owns the names and aliases; checked here so that every command
        # (not only `serve`) refuses a bad value at settings load.
        from annas_gift.core.names import normalize_policy

        normalize_policy(value)
        return value


class HealthSettings(_Section):
    # Active probes (a one-token completion per model per interval); passive health from live
    # traffic is always on. Off by default: probes cost tokens on paid providers.
    active_checks: bool = False
    interval_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    # Providers to probe; None = every provider whose models are all free (or local Ollama).
    providers: list[str] | None = None


class StorageSettings(_Section):
    database_url: str = "sqlite+aiosqlite:///./annas_gift.db"
    flush_interval_s: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=500, gt=0)
    max_buffer: int = Field(default=100_000, gt=0)
    spool_path: Path | None = Path("./annas_gift.usage-spool.jsonl")
    migrate_on_start: bool = True
    # Crash safety (monitoring/journal.py): each finished request's usage is appended to a local
    # journal before the response, so `kill -9` loses none. None: a folder next to the spool.
    journal: bool = True
    journal_dir: Path | None = None
    journal_fsync_interval_s: float = Field(default=0.05, gt=0)

    def journal_path(self) -> Path | None:
        """The journal folder, or None when the journal is off (or has nowhere to go)."""
        if not self.journal:
            return None
        if self.journal_dir is not None:
            return self.journal_dir
        return None if self.spool_path is None else self.spool_path.with_suffix(".journal")

    @field_validator("database_url")
    @classmethod
    def _supported_url(cls, value: str) -> str:
        settings_checks.check_database_url(value)
        return value

    @field_validator("spool_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        # ANNAS_GIFT_STORAGE__SPOOL_PATH= (empty) turns the spool off rather than meaning ".".
        return None if isinstance(value, str) and not value.strip() else value


class LoggingSettings(_Section):
    # Off: third-party debug loggers that print request bodies (the OpenAI SDK, httpx, LiteLLM)
    # are silenced, so no prompt reaches a log even at log_level=debug. See log_safety.py.
    log_prompts: bool = False
    # On: usage rows keep the first 500 characters of the last user message, shown on the
    # dashboard's Recent requests page (services/prompt_excerpts.py). Prompts are personal data:
    # off by default, and never written to a log either way.
    store_prompts: bool = False


class CacheSettings(_Section):
    # Shared state (rate limits, cooldowns, health, response cache); in-process when unset.
    redis_url: str | None = None
    # Prefix of every Redis key: deployments sharing one Redis stay apart by namespace.
    namespace: str = Field(default="annas", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    ttl_s: int = Field(default=3600, ge=0)  # response-cache lifetime; 0 turns the cache off
    max_entries: int = Field(default=10_000, ge=1)  # in-process LRU bound
    # How stale the router's view of model health/headroom may be (admission stays exact).
    snapshot_max_age_s: float = Field(default=0.05, ge=0)

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `${REDIS_URL:-}` in a config file yields "", which means "no Redis".
        return value or None


class _JsonFileSource(PydanticBaseSettingsSource):
    """Reads the JSON config file named by ANNAS_GIFT_CONFIG, after ${VAR} substitution."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        super().__init__(settings_cls)
        self._path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        if not self._path:
            return {}
        path = Path(self._path)
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{CONFIG_ENV}: cannot read {path}: {exc.strerror}") from exc
        try:
            data = json.loads(substitute_env(raw))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONFIG_ENV}: {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{CONFIG_ENV}: {path} must hold a JSON object")
        bad = settings_checks.unknown_key(data, Settings)
        if bad is not None:
            raise ConfigError(f"unknown setting {bad} in {path}")
        settings_checks.resolve_paths(data, path.resolve().parent, PATH_SETTINGS)
        return data


class _ConventionalEnvSource(PydanticBaseSettingsSource):
    """The un-prefixed names operators already use: DATABASE_URL, REDIS_URL, ANNAS_GIFT_API_KEY."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if url := os.environ.get("DATABASE_URL"):
            out["storage"] = {"database_url": url}
        if url := os.environ.get("REDIS_URL"):
            out["cache"] = {"redis_url": url}
        if keys := os.environ.get("ANNAS_GIFT_API_KEY"):
            out["auth"] = {"api_keys": keys}
        if admin := admin_keys_from_env():
            out.setdefault("auth", {}).update(admin)
        return out


class Settings(BaseSettings):
    """Every setting of the gateway, one typed object passed to whatever needs it."""

    model_config = SettingsConfigDict(
        env_prefix="ANNAS_GIFT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    litellm: LiteLLMSettings = Field(default_factory=LiteLLMSettings)
    portkey: PortkeySettings = Field(default_factory=PortkeySettings)
    academic: AcademicSettings = Field(default_factory=AcademicSettings)
    vpn: VPNSettings = Field(default_factory=VPNSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    keys: VirtualKeySettings = Field(default_factory=VirtualKeySettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _ConventionalEnvSource(settings_cls),
            env_settings,
            dotenv_settings,
            _JsonFileSource(settings_cls, os.environ.get(CONFIG_ENV)),
        )


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning any validation failure into one line that names the key."""
    bad = settings_checks.unknown_key(overrides, Settings)
    if bad is not None:
        raise ConfigError(f"unknown setting {bad}")
    _check_env_names()
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        note = " (from DATABASE_URL)" if os.environ.get("DATABASE_URL") else ""
        notes = {"storage.database_url": note}
        raise ConfigError(settings_checks.explain_validation_error(exc, Settings, notes)) from None
    except SettingsError as exc:
        raise ConfigError(
            settings_checks.explain_env_error(str(exc), os.environ, Settings)
        ) from None


def load_settings_with_options(options: dict[str, tuple[str, Any]]) -> Settings:
    """Settings with command-line options applied: {"server.port": ("--port", 8001)}.

    The options go through the same validation as the settings; a bad one is reported by its
    option name. Options whose value is None are left out.
    """
    overrides: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    for key, (option, value) in options.items():
        if value is None:
            continue
        section, _, field = key.partition(".")
        overrides.setdefault(section, {})[field] = value
        names[key] = option
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        message = str(exc)
        for key, option in names.items():
            prefix = f"invalid setting {key}:"
            if message.startswith(prefix):
                raise ConfigError(f"invalid option {option}:{message[len(prefix) :]}") from None
        raise


def _check_env_names() -> None:
    """Refuse `ANNAS_GIFT_*` variables (environment or .env) that no setting reads."""
    names = set(os.environ)
    env_file = Path(".env")
    if env_file.is_file():
        names.update(name for name in dotenv_values(env_file) if name)
    allowed = set(OTHER_ENV_NAMES) | {
        n.upper() for n in names if n.upper().startswith(TEST_ENV_PREFIX)
    }
    allowed |= settings_checks.substituted_names(os.environ.get(CONFIG_ENV), _VAR)
    problem = settings_checks.unknown_env_var(names, Settings, allowed)
    if problem is not None:
        raise ConfigError(problem)
