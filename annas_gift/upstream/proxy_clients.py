"""Per-call egress proxies for LiteLLM: proxied clients passed as `client=`, never env variables.

LiteLLM reaches providers two ways, and each takes its own kind of client. The OpenAI SDK
route (openai and the OpenAI-compatible providers it serves) takes an `openai.AsyncOpenAI`;
the generic HTTP route (anthropic, gemini, groq, mistral, ...) takes an `AsyncHTTPHandler`.
A provider handed the wrong kind, or one that ignores `client=`, silently goes direct, so only
the providers below, each checked by tests/vpn against a logging proxy, may use a proxy;
the rest fail loudly with ProxyNotSupported instead of leaking the gateway's own address.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import httpx

from annas_gift.core import errors
from annas_gift.core.proxy_transport import proxy_transport

__all__ = [
    "HTTP_HANDLER_PROVIDERS",
    "OPENAI_SDK_PROVIDERS",
    "ProxyClients",
    "supports_proxy",
]

# Served by LiteLLM's OpenAI SDK handler: `client=` must be an openai.AsyncOpenAI.
OPENAI_SDK_PROVIDERS = frozenset(
    {
        "openai", "custom_openai", "text-completion-openai", "deepinfra", "perplexity",
        "cerebras", "nvidia_nim", "sambanova", "lm_studio", "github", "dashscope", "moonshot",
        "nebius", "novita", "codestral", "friendliai", "ai21_chat", "volcengine",
        "litellm_proxy", "llamafile", "featherless_ai", "nscale", "zai", "hyperbolic",
        "baseten", "meta_llama",
    }
)  # fmt: skip
# Served by LiteLLM's generic HTTP handlers: `client=` must be an AsyncHTTPHandler.
HTTP_HANDLER_PROVIDERS = frozenset(
    {
        "anthropic", "gemini", "groq", "mistral", "deepseek", "xai", "together_ai",
        "fireworks_ai", "openrouter", "hosted_vllm", "ollama", "ollama_chat", "huggingface",
        "databricks", "azure_ai", "minimax", "heroku",
    }
)  # fmt: skip
_OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"


def litellm_provider(model: str, kwargs: Mapping[str, Any] | None = None) -> str:
    """LiteLLM's provider for a model string, e.g. `anthropic/claude-x` -> anthropic."""
    import litellm

    kwargs = kwargs or {}
    _, provider, _, _ = litellm.get_llm_provider(
        model=model,
        custom_llm_provider=kwargs.get("custom_llm_provider"),
        api_base=kwargs.get("api_base"),
    )
    return str(provider)


def supports_proxy(model: str, kwargs: Mapping[str, Any] | None = None) -> bool:
    """Whether calls to this LiteLLM model can be sent through a proxy."""
    try:
        provider = litellm_provider(model, kwargs)
    except Exception:
        return False
    return provider in OPENAI_SDK_PROVIDERS or provider in HTTP_HANDLER_PROVIDERS


class ProxyClients:
    """Proxied LiteLLM clients, cached per proxy (and per base URL and key for the SDK route)."""

    def __init__(self, *, verify: bool = True) -> None:
        self._verify = verify
        self._transports: dict[str, httpx.AsyncBaseTransport] = {}
        self._clients: dict[tuple[str, ...], Any] = {}

    def _transport(self, proxy_url: str) -> httpx.AsyncBaseTransport:
        # One connection pool per proxy, shared by every client that uses it.
        transport = self._transports.get(proxy_url)
        if transport is None:
            transport = self._transports[proxy_url] = proxy_transport(
                proxy_url, verify=self._verify
            )
        return transport

    def kwargs_for(self, proxy_url: str, call_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The extra `litellm.acompletion` kwargs that send this call through `proxy_url`."""
        model = str(call_kwargs.get("model", ""))
        try:
            provider = litellm_provider(model, call_kwargs)
        except Exception:
            provider = "unknown"
        if provider in OPENAI_SDK_PROVIDERS:
            return {"client": self._openai_client(proxy_url, provider, call_kwargs)}
        if provider in HTTP_HANDLER_PROVIDERS:
            key = ("http", proxy_url)
            client = self._clients.get(key)
            if client is None:
                from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

                client = self._clients[key] = AsyncHTTPHandler(transport=self._transport(proxy_url))
            return {"client": client}
        raise errors.ProxyNotSupported(
            f"the {provider!r} provider of {model} cannot be routed through the VPN "
            "(see docs/vpn.md for the supported providers)"
        )

    def _openai_client(self, proxy_url: str, provider: str, kw: Mapping[str, Any]) -> Any:
        import litellm
        import openai

        # The SDK client carries base URL and key, so resolve them as LiteLLM would.
        _, _, dynamic_key, dynamic_base = litellm.get_llm_provider(
            model=str(kw.get("model", "")),
            custom_llm_provider=kw.get("custom_llm_provider"),
            api_base=kw.get("api_base"),
            api_key=kw.get("api_key"),
        )
        base = (
            kw.get("api_base")
            or dynamic_base
            or litellm.api_base
            or os.environ.get("OPENAI_BASE_URL")
            or os.environ.get("OPENAI_API_BASE")
            or _OPENAI_DEFAULT_BASE
        )
        api_key = (
            kw.get("api_key")
            or dynamic_key
            or litellm.api_key
            or litellm.openai_key
            or os.environ.get("OPENAI_API_KEY")
            or ""
        )
        digest = hashlib.sha256(str(api_key).encode()).hexdigest()
        key = ("openai", proxy_url, provider, str(base), digest)
        client = self._clients.get(key)
        if client is None:
            http_client = httpx.AsyncClient(
                transport=self._transport(proxy_url),
                trust_env=False,  # HTTP(S)_PROXY must not override the endpoint chosen
                follow_redirects=True,
                timeout=httpx.Timeout(600.0, connect=10.0),
            )
            client = self._clients[key] = openai.AsyncOpenAI(
                api_key=str(api_key), base_url=str(base), http_client=http_client, max_retries=0
            )
        return client

    async def aclose(self) -> None:
        """Close every pooled connection; the clients only wrap the shared transports."""
        transports, self._transports = self._transports, {}
        self._clients.clear()
        for transport in transports.values():
            await transport.aclose()
