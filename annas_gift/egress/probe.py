"""Endpoint health probes: one request through a proxy to the probe URL, on a fresh connection."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

_TRACE_LINE = re.compile(r"^(ip|loc)=(\S+)$", re.MULTILINE)


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

    def to_dict(self) -> dict[str, object]:
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
    # Imported at the first probe: a gateway with no VPN endpoints never loads httpx (and the
    # rich and pygments its command-line module pulls in), ~4 MB.
    import httpx

    from annas_gift.core.proxy_transport import proxy_transport

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
