"""The LiteLLM upstream: `litellm.acompletion` with per-call credentials, timeout and proxy."""

from __future__ import annotations

import base64
import contextlib
import logging
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

from annas_gift.core import errors
from annas_gift.core.headers import parse_retry_after
from annas_gift.upstream.base import Completion, UpstreamCall, Usage
from annas_gift.upstream.sse import SSEFilter, chunk_events

log = logging.getLogger(__name__)


def _configure_litellm() -> Any:
    import litellm

    # Quiet and private: no debug banners, no callbacks that could log prompts or keys.
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    litellm.telemetry = False
    litellm.drop_params = False
    # Retries are ours (fallbacks span models). LiteLLM's OpenAI embedding path reads
    # `max_retries or litellm.DEFAULT_MAX_RETRIES`, so a per-call 0 would still retry twice.
    litellm.DEFAULT_MAX_RETRIES = 0  # type: ignore[misc]  # Final in LiteLLM, read at call time
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    return litellm


def _retry_after(exc: Exception) -> float | None:
    # LiteLLM keeps the provider's headers on `litellm_response_headers`; `response` is rebuilt.
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    return parse_retry_after(headers) if isinstance(headers, Mapping) else None


def _provider_message(exc: Exception) -> str:
    # LiteLLM prefixes messages with its own class path; clients want the provider's words.
    text = str(getattr(exc, "message", None) or exc)
    for prefix in ("litellm.", "LiteLLM."):
        if text.startswith(prefix):
            text = text.split(": ", 1)[-1]
    return text[:500]


def _status_of(exc: Exception, litellm: Any) -> tuple[int | None, str | None]:
    """The HTTP status (and error code) a LiteLLM exception stands for."""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return 400, "context_length_exceeded"
    if isinstance(exc, litellm.RateLimitError):
        return 429, None
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
        return 401, None
    # OpenAI-compatible providers' 401/403 reach us as BadRequestError with the status kept.
    if status in (401, 403, 429):
        return status, None
    if isinstance(exc, (litellm.BadRequestError, litellm.UnprocessableEntityError)):
        return 400, None
    if isinstance(exc, litellm.NotFoundError):
        return 404, None
    return None, None  # any other failure is the provider's


def map_exception(exc: Exception, call: UpstreamCall) -> errors.GatewayError:
    """Translate a LiteLLM/OpenAI exception into our error type for this model."""
    import litellm

    p, m = call.model.provider, call.model.name
    msg = _provider_message(exc)
    status, code = _status_of(exc, litellm)
    if status is None:
        if isinstance(exc, litellm.Timeout):
            return errors.UpstreamTimeout(
                f"{m} did not answer within {call.timeout_s:g}s", provider=p, model=m
            )
        # LiteLLM reports a refused connection to an OpenAI-compatible provider as a 500.
        if isinstance(exc, litellm.APIConnectionError) or "connection error" in msg.lower():
            return errors.UpstreamConnectionError(
                f"could not reach {p} for {m}: {msg}", provider=p, model=m
            )
    return errors.error_for_status(
        status, msg, provider=p, model=m, upstream_model=call.model.litellm_model, code=code,
        retry_after=_retry_after(exc) if status == 429 else None,
    )  # fmt: skip


def _usage_of(obj: Any) -> Usage:
    usage = obj.get("usage") if isinstance(obj, dict) else getattr(obj, "usage", None)
    if not usage:
        return Usage()
    get = usage.get if isinstance(usage, dict) else lambda k, d=0: getattr(usage, k, d)
    return Usage(int(get("prompt_tokens", 0) or 0), int(get("completion_tokens", 0) or 0))


def _openai_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    """A LiteLLM stream chunk in OpenAI's shape.

    LiteLLM gives the closing usage chunk an empty choice where OpenAI sends `choices: []`;
    clients read a choice after `finish_reason` as the answer going on (and, with usage
    hidden, it would be sent as one).
    """
    choices = chunk.get("choices")
    if chunk.get("usage") and choices and all(_is_empty(c) for c in choices):
        chunk["choices"] = []
    return chunk


def _is_empty(choice: Any) -> bool:
    return isinstance(choice, dict) and not choice.get("delta") and not choice.get("finish_reason")


def _base64_floats(vector: list[float]) -> str:
    """A vector as OpenAI's base64 encoding: little-endian float32s."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _headers_of(response: Any) -> dict[str, str]:
    """The provider's response headers LiteLLM kept (rate-limit headers feed the limits)."""
    hidden = getattr(response, "_hidden_params", {}) or {}
    return {
        k.removeprefix("llm_provider-"): str(v)
        for k, v in (hidden.get("additional_headers") or {}).items()
    }


class LiteLLMUpstream:
    """Calls any LiteLLM-supported provider; one instance per app."""

    def __init__(self) -> None:
        self._module: Any = None
        self._proxies: Any = None  # ProxyClients, created on the first proxied call

    @property
    def _litellm(self) -> Any:
        # Imported on first use: a catalog served wholly by the direct path never loads it.
        if self._module is None:
            self._module = _configure_litellm()
        return self._module

    def _kwargs(self, call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(call.params)
        kwargs.update(call.model.resolved_params())
        kwargs.update(
            model=call.model.litellm_model,
            messages=call.messages,
            timeout=call.timeout_s,
            num_retries=0,  # fallbacks are ours: they span models, not one provider
            stream=stream,
            # With `tools`, LiteLLM otherwise imports its proxy's MCP gateway (needing the
            # `mcp` package) to look for MCP tools; the gateway passes function tools only.
            _skip_mcp_handler=True,
        )
        if stream:
            # Always ask for usage so it can be recorded; the caller hides it if unasked.
            kwargs["stream_options"] = {"include_usage": True}
        if call.proxy_url:
            kwargs.update(self._proxy_kwargs(call.proxy_url, kwargs))
        return kwargs

    def _proxy_kwargs(self, proxy_url: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        # A per-call client through the chosen egress proxy, never process-wide env vars,
        # so concurrent requests can leave through different endpoints.
        if self._proxies is None:
            from annas_gift.upstream.proxy_clients import ProxyClients

            self._proxies = ProxyClients()
        extra: dict[str, Any] = self._proxies.kwargs_for(proxy_url, kwargs)
        return extra

    async def complete(self, call: UpstreamCall) -> Completion:
        """One whole completion."""
        try:
            response = await self._litellm.acompletion(**self._kwargs(call, stream=False))
        except errors.GatewayError:
            raise
        except Exception as exc:
            raise map_exception(exc, call) from None
        body = response.model_dump(exclude_none=True)
        body.pop("_hidden_params", None)
        return Completion(body=body, usage=_usage_of(body), provider_headers=_headers_of(response))

    async def embed(self, call: UpstreamCall) -> Completion:
        """Embeddings through `litellm.aembedding` (the call's params are OpenAI's fields)."""
        kwargs: dict[str, Any] = dict(call.params)
        # Floats from every provider (not all speak base64); encoded below if base64 was asked.
        as_base64 = kwargs.pop("encoding_format", None) == "base64"
        kwargs.update(call.model.resolved_params())
        kwargs.update(model=call.model.litellm_model, timeout=call.timeout_s, num_retries=0)
        if "dimensions" in kwargs and call.model.litellm_model.startswith("openai/"):
            # LiteLLM allows `dimensions` on OpenAI's own text-embedding-3 names only; for an
            # OpenAI-compatible server it is the server's to accept or refuse.
            kwargs["allowed_openai_params"] = ["dimensions"]
        if call.proxy_url:
            kwargs.update(self._proxy_kwargs(call.proxy_url, kwargs))
        try:
            response = await self._litellm.aembedding(**kwargs)
        except errors.GatewayError:
            raise
        except Exception as exc:
            raise map_exception(exc, call) from None
        body = response.model_dump(exclude_none=True)
        body.pop("_hidden_params", None)
        if as_base64:
            for item in body.get("data") or []:
                item["embedding"] = _base64_floats(item.get("embedding") or [])
        return Completion(body=body, usage=_usage_of(body), provider_headers=_headers_of(response))

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[dict[str, Any], None]:
        """Chunks as they arrive; errors before or during the stream are mapped."""
        try:
            response = await self._litellm.acompletion(**self._kwargs(call, stream=True))
            # Closed however the stream ends: a consumer that stops early (a client that left)
            # releases the provider's connection now, not whenever the garbage collector
            # reaches LiteLLM's wrapper (which nothing else closes).
            async with contextlib.aclosing(response):
                async for chunk in response:
                    yield _openai_chunk(chunk.model_dump(exclude_none=True))
        except errors.GatewayError:
            raise
        except Exception as exc:
            raise map_exception(exc, call) from None

    def relay(self, call: UpstreamCall, view: SSEFilter) -> AsyncIterator[bytes]:
        """The stream's chunks as the client's SSE bytes."""
        return chunk_events(self.stream(call), view)

    async def aclose(self) -> None:
        """Close the per-proxy clients (LiteLLM manages its own default clients)."""
        if self._proxies is not None:
            await self._proxies.aclose()
