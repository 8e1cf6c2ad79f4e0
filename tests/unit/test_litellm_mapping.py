"""LiteLLM exceptions map to our error types with the right status, code and Retry-After."""

from __future__ import annotations

import httpx
import litellm
import pytest

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.upstream.base import UpstreamCall
from annas_gift.upstream.litellm_client import map_exception

CALL = UpstreamCall(
    model=CatalogModel(name="m", provider="p", litellm_model="openai/m", params={}),
    messages=[],
    params={},
    timeout_s=3,
    request_id="r",
)


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://x"))


@pytest.mark.parametrize(
    ("exc", "kind", "status"),
    [
        (
            litellm.RateLimitError(
                "slow down", "p", "m", response=_response(429, {"retry-after": "9"})
            ),
            errors.RateLimited,
            429,
        ),
        (
            litellm.ContextWindowExceededError("too long", "m", "p"),
            errors.ContextWindowExceeded,
            400,
        ),
        (litellm.BadRequestError("bad", "m", "p"), errors.InvalidRequest, 400),
        (litellm.AuthenticationError("no", "p", "m"), errors.ProviderAuthFailed, 502),
        (litellm.Timeout("slow", "m", "p"), errors.UpstreamTimeout, 504),
        (litellm.APIConnectionError("down", "p", "m"), errors.UpstreamConnectionError, 502),
        (litellm.InternalServerError("boom", "p", "m"), errors.UpstreamServerError, 502),
        (litellm.ServiceUnavailableError("busy", "p", "m"), errors.UpstreamServerError, 502),
        (RuntimeError("weird"), errors.UpstreamServerError, 502),
    ],
)
def test_mapping(exc: Exception, kind: type[errors.GatewayError], status: int) -> None:
    mapped = map_exception(exc, CALL)
    assert type(mapped) is kind
    assert mapped.status == status
    assert mapped.body()["error"]["message"]


def test_rate_limit_keeps_retry_after() -> None:
    exc = litellm.RateLimitError("slow", "p", "m", response=_response(429, {"retry-after": "9"}))
    mapped = map_exception(exc, CALL)
    assert mapped.retry_after == 9.0
    assert mapped.headers() == {"Retry-After": "9"}
    assert mapped.retryable


def test_client_errors_are_not_retryable() -> None:
    assert not map_exception(litellm.BadRequestError("bad", "m", "p"), CALL).retryable
