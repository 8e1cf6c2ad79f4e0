"""Proxied httpx transports (HTTP, HTTPS, SOCKS5); proxy URLs are checked in `proxy_urls`.

Shared plumbing: upstream builds its per-proxy LiteLLM clients on these transports and egress
probes endpoints through the very same ones, so a probe takes the path a call would take.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

# Sockets opened while the current request was still getting its connection ready.
_opened: ContextVar[list[httpcore.AsyncNetworkStream] | None] = ContextVar(
    "proxy_opened", default=None
)


class _TrackingBackend(httpcore.AsyncNetworkBackend):
    """Remembers the sockets a request opens, so a failed handshake can close them.

    httpcore 1.0.9 leaves a socket open when a SOCKS handshake (or a CONNECT) fails or is
    cancelled; it would stay open until the garbage collector found it.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(*args, **kwargs)
        opened = _opened.get()
        if opened is not None:
            opened.append(stream)
        return stream

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(*args, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _HandshakeBound(httpx.AsyncBaseTransport):
    """Bounds getting a connection ready (TCP, proxy handshake, TLS) by the connect timeout.

    httpcore sets no timeout on the SOCKS handshake: a proxy that accepts and then stays
    silent would hold a call forever. Past the bound this raises ConnectError, a proxy failure.
    """

    def __init__(self, inner: httpx.AsyncHTTPTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limits = request.extensions.get("timeout") or {}
        bound = (limits.get("connect") or 10.0) + (limits.get("pool") or 0.0)
        outer = request.extensions.get("trace")
        opened: list[httpcore.AsyncNetworkStream] = []
        ready = False
        token = _opened.set(opened)
        try:
            async with asyncio.timeout(bound) as timer:

                async def trace(name: str, info: dict[str, Any]) -> None:
                    nonlocal ready
                    if name.endswith("send_request_headers.started"):
                        ready = True
                        timer.reschedule(None)  # connected: httpx's own timeouts take over
                    if outer is not None:
                        await outer(name, info)

                request.extensions = {**request.extensions, "trace": trace}
                return await self._inner.handle_async_request(request)
        except TimeoutError:
            if ready:
                raise
            raise httpx.ConnectError("proxy handshake timed out", request=request) from None
        finally:
            _opened.reset(token)
            if not ready:
                for stream in opened:
                    with contextlib.suppress(Exception):
                        await stream.aclose()

    async def aclose(self) -> None:
        await self._inner.aclose()


def proxy_transport(proxy_url: str, *, verify: bool = True) -> httpx.AsyncBaseTransport:
    """An httpx transport that sends everything through `proxy_url` (SOCKS needs socksio)."""
    inner = httpx.AsyncHTTPTransport(
        proxy=httpx.Proxy(proxy_url),
        verify=verify,
        retries=0,
        # httpx's default of 100 would cap concurrent calls (long streams) through one proxy.
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
    )
    pool: Any = inner._pool  # httpx exposes no hook for the network backend
    pool._network_backend = _TrackingBackend(pool._network_backend)
    return _HandshakeBound(inner)
