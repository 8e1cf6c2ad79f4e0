"""ServerLimits validation and the uvicorn configuration built from it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from annas_gift.server import ServerLimits, build_config
from annas_gift.server.protocol import GuardedHttpToolsProtocol
from tests.server.apps import tiny_app


def test_defaults_are_the_documented_ones() -> None:
    limits = ServerLimits()
    assert limits.max_header_bytes == 64 * 1024
    assert limits.header_timeout_s == 30.0
    assert limits.body_timeout_s == 30.0
    assert limits.body_min_rate == 1024
    assert limits.keepalive_timeout_s == 5.0
    assert limits.max_connections == 1024


@pytest.mark.parametrize(
    "field", ["max_header_bytes", "header_timeout_s", "keepalive_timeout_s", "max_connections"]
)
@pytest.mark.parametrize("value", [0, -1, True])
def test_non_positive_limits_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        ServerLimits(**{field: value})  # type: ignore[arg-type]


def test_byte_and_count_limits_must_be_integers() -> None:
    with pytest.raises(ValueError, match="max_header_bytes must be a positive integer"):
        ServerLimits(max_header_bytes=1.5)  # type: ignore[arg-type]
    assert ServerLimits(header_timeout_s=1).header_timeout_s == 1


def test_limits_from_a_settings_section_take_its_values_and_default_the_rest() -> None:
    section = SimpleNamespace(max_connections=10, header_timeout_s=2.5, port=8000)
    limits = ServerLimits.from_settings(section)
    assert limits.max_connections == 10
    assert limits.header_timeout_s == 2.5
    assert limits.max_header_bytes == 64 * 1024


def test_build_config_serves_the_guarded_protocol_with_the_limits() -> None:
    limits = ServerLimits(keepalive_timeout_s=3.0, max_connections=7)
    config = build_config(tiny_app, host="127.0.0.1", port=0, log_level="warning", limits=limits)
    config.load()
    protocol = config.http_protocol_class
    assert isinstance(protocol, type) and issubclass(protocol, GuardedHttpToolsProtocol)
    assert protocol.limits is limits
    assert config.timeout_keep_alive == 3.0
    assert config.limit_concurrency is None
    assert not config.access_log
