"""VPN settings as the manager uses them, and endpoint validation (messages never repeat a URL)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from annas_gift.core import errors
from annas_gift.core.proxy_urls import validate_proxy_url
from annas_gift.egress.policies import normalize_policy
from annas_gift.settings import ConfigError, VPNSettings

# Returns the egress IP and country (ip=..., loc=...), which the probe reports.
DEFAULT_PROBE_URL = "https://cloudflare.com/cdn-cgi/trace"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # the API schema publishes it too
_NAME = re.compile(NAME_PATTERN)
_ALIASES = {
    "provider": "provider_label",
    "label": "provider_label",
    "providers": "allowed_providers",
}
ENDPOINT_FIELDS = ("name", "url", "country", "provider_label", "allowed_providers", "active")


class EndpointFields(TypedDict, total=False):
    """Validated endpoint fields; a partial update holds only the fields it changes."""

    name: str
    url: str
    country: str | None
    provider_label: str | None
    allowed_providers: list[str] | None
    active: bool


class EndpointError(ValueError):
    """An invalid endpoint field; `field` names it, the message never repeats a URL."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def provider_names(value: object, field: str) -> list[str] | None:
    """A list of names from a list (or a comma-separated text); None when empty or absent."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(v, str) for v in value
    ):
        raise EndpointError(field, f"{field} must be a list of provider names")
    names = [v.strip() for v in value if v.strip()]
    return names or None


def _short_text(value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 64:
        raise EndpointError(key, f"{key} must be a short text")
    return value.strip()


def _known_fields(spec: Mapping[str, object]) -> dict[str, object]:
    """The fields by their canonical names; None for name, url or active means "not given"."""
    raw: dict[str, object] = {}
    for key, value in spec.items():
        key = _ALIASES.get(key, key)
        if key not in ENDPOINT_FIELDS:
            raise EndpointError(key, f"unknown endpoint field {key!r}")
        if value is not None or key not in ("name", "url", "active"):
            raw[key] = value
    return raw


def validate_endpoint(spec: Mapping[str, object], *, partial: bool = False) -> EndpointFields:
    """Clean endpoint fields (aliases resolved); EndpointError names the bad field."""
    raw = _known_fields(spec)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise EndpointError("name", "name must be 1-128 letters, digits, '.', '_' or '-'")
    out = EndpointFields(name=name)
    if "url" in raw or not partial:
        url = raw.get("url", "")
        try:
            out["url"] = validate_proxy_url(url if isinstance(url, str) else "", what="url")
        except ValueError as exc:
            raise EndpointError("url", str(exc)) from None
    if "country" in raw:
        out["country"] = _short_text(raw["country"], "country")
    if "provider_label" in raw:
        out["provider_label"] = _short_text(raw["provider_label"], "provider_label")
    if "allowed_providers" in raw:
        out["allowed_providers"] = provider_names(raw["allowed_providers"], "allowed_providers")
    if "active" in raw:
        if not isinstance(raw["active"], bool):
            raise EndpointError("active", "active must be true or false")
        out["active"] = raw["active"]
    return out


def validated(spec: Mapping[str, object], *, partial: bool = False) -> EndpointFields:
    """validate_endpoint for API input: a bad field becomes an OpenAI-shaped 400."""
    try:
        return validate_endpoint(spec, partial=partial)
    except EndpointError as exc:
        raise errors.InvalidRequest(str(exc), param=exc.field) from None


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
    endpoints: tuple[EndpointFields, ...] = ()

    @classmethod
    def from_settings(cls, settings: VPNSettings) -> VPNConfig:
        """Build from the `vpn` settings section; ConfigError names the bad key."""
        try:
            rotation = normalize_policy(settings.rotation)
        except ValueError as exc:
            raise ConfigError(f"invalid setting vpn.rotation: {exc}") from None
        providers = _name_set(settings.providers, "providers")
        countries = _name_set(settings.countries, "countries")
        if countries is not None:
            countries = frozenset(c.upper() for c in countries)
        specs: list[EndpointFields] = []
        for i, entry in enumerate(settings.endpoints):
            try:
                specs.append(validate_endpoint(entry))
            except EndpointError as exc:
                raise ConfigError(
                    f"invalid setting vpn.endpoints[{i}].{exc.field}: {exc}"
                ) from None
        names = [s["name"] for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError("invalid setting vpn.endpoints: endpoint names must be unique")
        return cls(
            enabled=settings.enabled,
            rotation=rotation,
            rotate_every_minutes=settings.rotate_every_minutes,
            rotate_on_429=settings.rotate_on_429,
            rate_limit_cooldown_s=settings.rate_limit_cooldown_s,
            failure_threshold=settings.failure_threshold,
            max_failovers=settings.max_failovers,
            probe_interval_s=settings.probe_interval_s,
            probe_timeout_s=settings.probe_timeout_s,
            probe_url=settings.probe_url,
            providers=providers,
            countries=countries,
            fail_open=settings.fail_open,
            endpoints=tuple(specs),
        )


def _name_set(value: list[str] | None, key: str) -> frozenset[str] | None:
    if value is None:
        return None
    try:
        return frozenset(provider_names(value, key) or [])
    except EndpointError as exc:
        raise ConfigError(f"invalid setting vpn.{key}: {exc}") from None
