"""Proxy URL validation, apart from the transports so that checking settings loads no httpx.

The server imports this at start-up (egress settings); httpx, httpcore and, through httpx's
command-line module, rich and pygments load only once a proxy is actually used.
"""

from __future__ import annotations

from urllib.parse import urlsplit

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


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
