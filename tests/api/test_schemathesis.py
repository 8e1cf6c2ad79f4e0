"""Issue 10 item 5: property-based run of every operation against a live gateway (slow).

Fails on any 5xx or a response that does not match the OpenAPI document. The VPN probe route
(`POST /api/v1/vpn/endpoints/{name}/test`) is left out: it connects to the endpoint itself.
Not checked: that every schema-valid body is accepted. Pass-through fields are free-form in
the schema, yet an integer beyond 64 bits in them is refused (issue 10 item 1) and a valid
request may name a model the catalog lacks (404) or hit a limit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import ADMIN_AUTH, LiveGateway

EXAMPLES = int(os.environ.get("ANNAS_GIFT_TEST_SCHEMATHESIS_EXAMPLES", "200"))


@pytest.fixture
def live(app: FastAPI) -> Iterator[LiveGateway]:
    with LiveGateway(app) as gateway:
        yield gateway


@pytest.mark.slow
def test_every_operation_matches_its_schema(live: LiveGateway) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    schema = schema.exclude(path_regex=r"/endpoints/\{name\}/test$")
    failures: dict[str, str] = {}
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=live.url, headers=ADMIN_AUTH, excluded_checks=[positive_data_acceptance]
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every failing operation, in one run
            failures[operation.label] = " ".join(str(exc).split())[:600]
        ran += 1
    assert ran >= 15  # every documented operation but the probe
    assert failures == {}
