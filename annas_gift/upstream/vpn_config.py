"""VPN settings as the manager uses them, endpoint validation, and scrubbing secrets from text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import unquote, urlsplit

from annas_gift.settings import ConfigError
from annas_gift.storage.repositories.vpn import MASK
from annas_gift.upstream import errors
from annas_gift.upstream.proxy_clients import validate_proxy_url
from annas_gift.upstream.vpn_policies import normalize_policy

# Returns the egress IP and country (ip=..., loc=...), which the probe reports.
DEFAULT_PROBE_URL = "https://cloudflare.com/cdn-cgi/trace"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ALIASES = {
    "provider": "provider_label",
    "label": "provider_label",
    "providers": "allowed_providers",
}
ENDPOINT_FIELDS = ("name", "url", "country", "provider_label", "allowed_providers", "active")


class EndpointError(ValueError):
    """An invalid endpoint field; `field` names it, the message never repeats a URL."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _names(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(v, str) for v in value
    ):
        raise EndpointError(field, f"{field} must be a list of provider names")
    names = [v.strip() for v in value if v.strip()]
    return names or None


def validate_endpoint(spec: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """A clean endpoint dict (aliases resolved); EndpointError names the bad field."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        key = _ALIASES.get(key, key)
        if key not in ENDPOINT_FIELDS:
            raise EndpointError(key, f"unknown endpoint field {key!r}")
        if value is None and key in ("name", "url", "active"):
            continue
        out[key] = value
    name = out.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise EndpointError("name", "name must be 1-128 letters, digits, '.', '_' or '-'")
    if "url" in out or not partial:
        try:
            out["url"] = validate_proxy_url(out.get("url", ""), what="url")
        except ValueError as exc:
            raise EndpointError("url", str(exc)) from None
    for key in ("country", "provider_label"):
        if key in out and out[key] is not None:
            if not isinstance(out[key], str) or not 0 < len(out[key].strip()) <= 64:
                raise EndpointError(key, f"{key} must be a short text")
            out[key] = out[key].strip()
    if "allowed_providers" in out:
        out["allowed_providers"] = _names(out["allowed_providers"], "allowed_providers")
    if "active" in out and not isinstance(out["active"], bool):
        raise EndpointError("active", "active must be true or false")
    return out


def validated(spec: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """validate_endpoint for API input: a bad field becomes an OpenAI-shaped 400."""
    try:
        return validate_endpoint(spec, partial=partial)
    except EndpointError as exc:
        raise errors.InvalidRequest(str(exc), param=exc.field) from None


def scrub(text: str, urls: Iterable[str]) -> str:
    """`text` with every credential (and whole URL) of `urls` replaced by ***."""
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        secrets = [url]
        if parts.password:
            secrets += [parts.password, unquote(parts.password)]
        if parts.username:
            secrets += [parts.username, unquote(parts.username)]
        for secret in sorted(secrets, key=len, reverse=True):
            # Very short secrets would blot out ordinary words; URLs mask them anyway.
            if len(secret) >= 4:
                text = text.replace(secret, MASK)
    return text


# Libraries that, at DEBUG, log what would reveal a proxy's credentials: SQL parameters,
# SOCKS handshakes (httpcore traces its `auth` argument), client settings.
LEAKY_LOGGERS = (
    "aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.engine.Engine", "httpcore.socks",
    "httpcore.proxy", "httpcore.connection", "httpcore.http11", "httpx", "openai",
    "openai._base_client", "LiteLLM", "annas_gift",
)  # fmt: skip


class SecretFilter(logging.Filter):
    """Rewrites log records that mention a registered proxy URL or credential."""

    def __init__(self) -> None:
        super().__init__("vpn-secrets")
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.urls:
            return True
        message = record.getMessage()
        clean = scrub(message, self.urls)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = scrub(text, self.urls), None
        return True


SECRET_FILTER = SecretFilter()


def guard_logs(urls: Iterable[str]) -> None:
    """Keep these proxy URLs (and their credentials) out of every log line."""
    SECRET_FILTER.urls.update(urls)
    for name in LEAKY_LOGGERS:
        logger = logging.getLogger(name)
        if SECRET_FILTER not in logger.filters:
            logger.addFilter(SECRET_FILTER)


@dataclass(frozen=True, slots=True)
class VPNConfig:
    """Everything the manager reads from the `vpn` settings section, validated."""

    enabled: bool = False
    rotation: str = "round_robin"
    rotate_every_minutes: float = 10.0  # the `timed` policy's period
    rotate_on_429: bool = True
    rate_limit_cooldown_s: float = 60.0  # avoid an endpoint for a provider after its 429
    failure_threshold: int = 3  # consecutive failures before an endpoint is marked down
    max_failovers: int = 3  # other endpoints one request may try after a proxy failure
    probe_interval_s: float = 30.0
    probe_timeout_s: float = 10.0
    probe_url: str = DEFAULT_PROBE_URL
    providers: frozenset[str] | None = None  # only these providers use the VPN (None: all)
    countries: frozenset[str] | None = None  # only endpoints in these countries (None: any)
    fail_open: bool = False  # True: go direct when no endpoint is left (leaks the real IP)
    endpoints: tuple[dict[str, Any], ...] = ()

    @classmethod
    def of(cls, settings: Any) -> VPNConfig:
        """Build from VPNSettings (or any object or mapping with these names), or ConfigError."""
        if isinstance(settings, cls):
            return settings
        if settings is None:
            return cls()
        get: Callable[[str], Any] = (
            settings.get if isinstance(settings, Mapping) else lambda k: getattr(settings, k, None)
        )
        raw: dict[str, Any] = {f.name: get(f.name) for f in fields(cls) if get(f.name) is not None}
        try:
            if "rotation" in raw:
                raw["rotation"] = normalize_policy(str(raw["rotation"]))
        except ValueError as exc:
            raise ConfigError(f"invalid setting vpn.rotation: {exc}") from None
        for key in ("providers", "countries"):
            if key in raw:
                try:
                    names = _names(raw[key], key) or []
                except EndpointError as exc:
                    raise ConfigError(f"invalid setting vpn.{key}: {exc}") from None
                raw[key] = frozenset(n.upper() if key == "countries" else n for n in names)
        for key in ("rotate_every_minutes", "probe_interval_s", "probe_timeout_s"):
            if key in raw and not float(raw[key]) > 0:
                raise ConfigError(f"invalid setting vpn.{key}: must be greater than 0")
        if "failure_threshold" in raw and int(raw["failure_threshold"]) < 1:
            raise ConfigError("invalid setting vpn.failure_threshold: must be at least 1")
        specs = []
        for i, entry in enumerate(raw.pop("endpoints", None) or ()):
            item = entry if isinstance(entry, Mapping) else getattr(entry, "model_dump", dict)()
            try:
                specs.append(validate_endpoint(item))
            except EndpointError as exc:
                raise ConfigError(
                    f"invalid setting vpn.endpoints[{i}].{exc.field}: {exc}"
                ) from None
        names = [s["name"] for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError("invalid setting vpn.endpoints: endpoint names must be unique")
        return cls(**raw, endpoints=tuple(specs))
