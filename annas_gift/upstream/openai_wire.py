"""The direct path: pooled aiohttp calls to providers that speak the OpenAI wire format.

`litellm.acompletion` costs milliseconds of CPU per call (its request and response
translation; README, Performance); for providers whose API *is* OpenAI's chat-completions
(and embeddings) protocol there is nothing to translate, so this path posts the request as-is
over a keep-alive pool. Parity with the LiteLLM path is tested (tests/upstream/test_parity.py,
tests/upstream/test_embed_parity.py): same bodies, same usage, same error mapping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from annas_gift.catalog.registry import CatalogModel
from annas_gift.core import errors
from annas_gift.core.headers import parse_retry_after
from annas_gift.upstream.base import Completion, UpstreamCall, Usage
from annas_gift.upstream.sse import DONE_EVENT, SSEFilter

# LiteLLM provider prefix -> the provider's OpenAI-compatible base URL.
OPENAI_WIRE_BASES: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "groq": "https://api.groq.com/openai/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "mistral": "https://api.mistral.ai/v1",
}
# litellm_params keys this path understands; any other key means "let LiteLLM handle it".
_KNOWN_PARAMS = frozenset(
    {"api_base", "api_key", "extra_headers", "timeout", "stream_timeout", "max_retries"}
)
_RATE_HEADER_PREFIXES = ("x-ratelimit-", "retry-after")


@dataclass(frozen=True, slots=True)
class WireTarget:
    url: str  # chat completions
    model_id: str
    headers: Mapping[str, str]
    embeddings_url: str = ""


def wire_target(model: CatalogModel, env: Mapping[str, str] | None = None) -> WireTarget | None:
    """Where to POST for this model, or None when it needs LiteLLM's translation."""
    prefix, _, model_id = model.litellm_model.partition("/")
    if prefix not in OPENAI_WIRE_BASES or not model_id:
        return None
    if any(key not in _KNOWN_PARAMS for key in model.params):
        return None
    params = model.resolved_params(env)
    base = str(params.get("api_base") or OPENAI_WIRE_BASES[prefix]).rstrip("/")
    headers = {"content-type": "application/json"}
    if api_key := params.get("api_key"):
        headers["authorization"] = f"Bearer {api_key}"
    extra = params.get("extra_headers") or {}
    if not isinstance(extra, dict):
        return None
    headers.update({str(k).lower(): str(v) for k, v in extra.items()})
    return WireTarget(
        url=f"{base}/chat/completions",
        model_id=model_id,
        headers=headers,
        embeddings_url=f"{base}/embeddings",
    )


def _provider_message(raw: bytes) -> tuple[str, str | None]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:300].decode("utf-8", "replace"), None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500], error.get("code")
    if isinstance(error, str):
        return error[:500], None
    return str(data)[:300], None


def map_status(
    status: int, raw: bytes, headers: Mapping[str, str], call: UpstreamCall
) -> errors.GatewayError:
    """The gateway error for a provider's non-2xx answer (the table both paths share)."""
    message, code = _provider_message(raw)
    return errors.error_for_status(
        status, message, provider=call.model.provider, model=call.model.name,
        upstream_model=call.model.litellm_model, code=code,
        retry_after=parse_retry_after(headers) if status == 429 else None,
    )  # fmt: skip


def _stream_failure(data: bytes, provider: str, model: str) -> errors.GatewayError:
    """The error for a stream event that is a provider's error, or not a JSON object at all."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        chunk = None
    if isinstance(chunk, dict):
        message, _ = _provider_message(data)
        return errors.UpstreamServerError(
            f"{provider} failed mid-stream for {model}: {message}", provider=provider, model=model
        )
    return errors.UpstreamServerError(
        f"{provider} sent an unreadable stream event for {model}", provider=provider, model=model
    )


def _rate_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith(_RATE_HEADER_PREFIXES)}


class OpenAIWireUpstream:
    """Calls OpenAI-wire providers over one pooled aiohttp session (created lazily, in-loop)."""

    def __init__(self, *, env: Mapping[str, str] | None = None, pool_size: int = 512) -> None:
        self._env = env
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._targets: dict[str, WireTarget | None] = {}

    def target(self, model: CatalogModel) -> WireTarget | None:
        """The cached wire target for a model (None: not an OpenAI-wire model)."""
        if model.name not in self._targets:
            self._targets[model.name] = wire_target(model, self._env)
        return self._targets[model.name]

    def supports(self, model: CatalogModel) -> bool:
        """Whether this path can call the model."""
        return self.target(model) is not None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: orjson.dumps(o).decode()
            )
        return self._session

    def _request(
        self, call: UpstreamCall, *, stream: bool, embed: bool = False
    ) -> tuple[str, Mapping[str, str], bytes]:
        target = self.target(call.model)
        if target is None:  # pragma: no cover - the dispatcher checks `supports` first
            raise errors.UpstreamServerError(f"{call.model.name} is not an OpenAI-wire model")
        body: dict[str, Any] = dict(call.params)
        headers: Mapping[str, str] = target.headers
        # `extra_headers` is a call option (as in LiteLLM and the openai SDK), not a body field.
        extra = body.pop("extra_headers", None)
        if isinstance(extra, dict) and extra:
            headers = {**headers, **{str(k).lower(): str(v) for k, v in extra.items()}}
        body["model"] = target.model_id
        if embed:
            return target.embeddings_url, headers, orjson.dumps(body)
        body["messages"] = call.messages
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return target.url, headers, orjson.dumps(body)

    def _connection_error(self, call: UpstreamCall, exc: BaseException) -> errors.GatewayError:
        p, m = call.model.provider, call.model.name
        if isinstance(exc, TimeoutError):
            return errors.UpstreamTimeout(
                f"{m} did not answer within {call.timeout_s:g}s", provider=p, model=m
            )
        return errors.UpstreamConnectionError(
            f"could not reach {p} for {m}: {type(exc).__name__}", provider=p, model=m
        )

    async def _post(
        self,
        call: UpstreamCall,
        url: str,
        headers: Mapping[str, str],
        payload: bytes,
        list_key: str,
    ) -> Completion:
        """POST one whole request; the answer must be a JSON object with a `list_key` list."""
        try:
            async with self._http().post(
                url,
                data=payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=call.timeout_s),
                proxy=call.proxy_url,
            ) as resp:
                raw = await resp.read()
                if resp.status >= 300:
                    raise map_status(resp.status, raw, resp.headers, call)
                rate_headers = _rate_headers(resp.headers)
        except errors.GatewayError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._connection_error(call, exc) from None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get(list_key), list):
            raise errors.UpstreamServerError(
                f"{call.model.provider} sent an unreadable response for {call.model.name}",
                provider=call.model.provider,
                model=call.model.name,
            )
        usage = body.get("usage") or {}
        return Completion(
            body=body,
            usage=Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            ),
            provider_headers=rate_headers,
        )

    async def complete(self, call: UpstreamCall) -> Completion:
        """One whole completion."""
        url, headers, payload = self._request(call, stream=False)
        return await self._post(call, url, headers, payload, "choices")

    async def embed(self, call: UpstreamCall) -> Completion:
        """Embeddings: the call's params posted as they are to the provider's /embeddings."""
        url, headers, payload = self._request(call, stream=False, embed=True)
        return await self._post(call, url, headers, payload, "data")

    async def relay(self, call: UpstreamCall, view: SSEFilter) -> AsyncIterator[bytes]:
        """The client's SSE bytes, a network read at a time; a stream without `[DONE]` fails."""
        url, headers, payload = self._request(call, stream=True)
        p, m = call.model.provider, call.model.name
        try:
            async with self._http().post(
                url,
                data=payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=call.timeout_s),
                proxy=call.proxy_url,
            ) as resp:
                if resp.status >= 300:
                    raise map_status(resp.status, await resp.read(), resp.headers, call)
                content = resp.content
                while not view.done and view.failed is None:
                    read = await content.readany()
                    out = view.feed(read) if read else view.end()  # b"": the stream's end
                    if view.done:
                        out += DONE_EVENT  # one write with the last events
                    if out:
                        yield out
                    if not read:
                        break
        except errors.GatewayError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._connection_error(call, exc) from None
        if view.failed is not None:
            raise _stream_failure(view.failed, p, m)
        if not view.done:
            raise errors.UpstreamServerError(
                f"{p} ended the stream for {m} before it finished", provider=p, model=m
            )

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class DispatchUpstream:
    """Sends OpenAI-wire models down the direct path and everything else through LiteLLM."""

    def __init__(self, direct: OpenAIWireUpstream | None, litellm: Any) -> None:
        self.direct = direct
        self.litellm = litellm

    def _pick(self, call: UpstreamCall) -> Any:
        # aiohttp speaks to plain HTTP proxies itself; SOCKS and HTTPS proxies need the
        # per-call httpx transport that the LiteLLM path builds (annas_gift.upstream.proxy_clients).
        proxied_elsewhere = call.proxy_url is not None and not call.proxy_url.startswith("http://")
        if self.direct is not None and not proxied_elsewhere and self.direct.supports(call.model):
            return self.direct
        return self.litellm

    async def complete(self, call: UpstreamCall) -> Completion:
        """One whole completion via the right path."""
        result: Completion = await self._pick(call).complete(call)
        return result

    async def embed(self, call: UpstreamCall) -> Completion:
        """Embeddings via the right path."""
        result: Completion = await self._pick(call).embed(call)
        return result

    def relay(self, call: UpstreamCall, view: SSEFilter) -> AsyncIterator[bytes]:
        """A stream's client bytes via the right path."""
        relay: AsyncIterator[bytes] = self._pick(call).relay(call, view)
        return relay

    async def aclose(self) -> None:
        """Close both paths."""
        if self.direct is not None:
            await self.direct.aclose()
        await self.litellm.aclose()
