"""Proxied httpx transports (HTTP, HTTPS, SOCKS5), proxy URL validation and endpoint probes."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_TRACE_LINE = re.compile(r"^(ip|loc)=(\S+)$", re.MULTILINE)
# Sockets opened while the current request was still getting its connection ready.
_opened: ContextVar[list[httpcore.AsyncNetworkStream] | None] = ContextVar(
    "proxy_opened", default=None
)


def validate_proxy_url(url: str, *, what: str = "proxy url") -> str:
    """The URL, checked: scheme http/https/socks5/socks5h, a host and a port, nothing else.

    Messages never repeat the URL, which may hold credentials.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{what} is empty")
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError(f"{what} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{what} is not a valid URL (check the port)") from None
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        shown = scheme or "none"
        raise ValueError(
            f"{what}: scheme {shown!r} is not supported (use {', '.join(PROXY_SCHEMES)})"
        )
    if not parts.hostname:
        raise ValueError(f"{what} has no host")
    if port is None or not 0 < port < 65536:
        raise ValueError(f"{what} needs a port, e.g. {scheme}://host:8080")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a path, query or fragment")
    return scheme + url[len(parts.scheme) :]


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


@dataclass(slots=True)
class ProbeResult:
    """One health check of an endpoint: a request through it to the probe URL."""

    name: str
    ok: bool
    latency_ms: float | None = None
    status_code: int | None = None
    error: str | None = None
    egress_ip: str | None = None
    egress_country: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "ok": self.ok,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "status_code": self.status_code,
            "error": self.error,
            "egress_ip": self.egress_ip,
            "egress_country": self.egress_country,
            "checked_at": self.checked_at.isoformat(),
        }


# A proxy answers these itself when it cannot authenticate us or reach the target.
_PROXY_FAILURES = frozenset({407, 502, 503, 504})


async def probe(name: str, proxy_url: str, probe_url: str, timeout_s: float) -> ProbeResult:
    """GET `probe_url` through the proxy on a fresh connection; any real answer means up."""
    started = time.perf_counter()
    try:
        # An overall bound too: httpcore sets no timeout on the SOCKS handshake itself.
        async with (
            asyncio.timeout(timeout_s),
            httpx.AsyncClient(
                transport=proxy_transport(proxy_url), trust_env=False, timeout=timeout_s
            ) as client,
        ):
            response = await client.get(probe_url, headers={"user-agent": "annas-gift-vpn-probe"})
    except TimeoutError:
        return ProbeResult(name, ok=False, error="timed out")
    except httpx.HTTPError as exc:
        # The type only: some messages quote the proxy URL, credentials included.
        return ProbeResult(name, ok=False, error=type(exc).__name__ + _reason(exc))
    except Exception as exc:
        return ProbeResult(name, ok=False, error=type(exc).__name__)
    took = (time.perf_counter() - started) * 1000
    if response.status_code in _PROXY_FAILURES:
        return ProbeResult(
            name, ok=False, latency_ms=took, status_code=response.status_code,
            error=f"proxy answered {response.status_code}",
        )  # fmt: skip
    found = dict(_TRACE_LINE.findall(response.text[:4096]))
    return ProbeResult(
        name, ok=True, latency_ms=took, status_code=response.status_code,
        egress_ip=found.get("ip"), egress_country=found.get("loc"),
    )  # fmt: skip


def _reason(exc: Exception) -> str:
    # Only well-known, URL-free reasons are kept.
    text = str(exc).lower()
    for reason in ("connection refused", "timed out", "authentication", "reset", "unreachable"):
        if reason in text:
            return f": {reason}"
    return ""
