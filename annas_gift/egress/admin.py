"""VPN administration: endpoint CRUD and the status view (credentials always masked).

A thin layer over a running `VPNManager`, through its public methods only: the API routes and
the CLI both administer endpoints through this class.
"""

from __future__ import annotations

import logging
from datetime import datetime

from annas_gift.core import errors
from annas_gift.egress.config import validated
from annas_gift.egress.manager import VPNManager
from annas_gift.egress.policies import EndpointState, ProxyChoice
from annas_gift.egress.schemas import EndpointOut, ProbeOut, StatusOut

log = logging.getLogger("annas_gift.egress.manager")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def endpoint_out(state: EndpointState) -> EndpointOut:
    """The credential-free description of one endpoint."""
    return EndpointOut(
        name=state.name,
        url=state.masked_url,
        country=state.country,
        provider_label=state.provider_label,
        allowed_providers=list(state.allowed_providers) if state.allowed_providers else None,
        active=state.active,
        healthy=state.healthy,
        state=state.state,
        latency_ms=_round(state.latency_ms),
        request_latency_ms=_round(state.request_latency_ms),
        last_check=_iso(state.last_checked),
        last_used=_iso(state.last_used),
        last_error=state.last_error,
        failure_count=state.failure_count,
        failures_total=state.failures_total,
        rate_limited_total=state.rate_limited_total,
        requests_carried=state.requests_carried,
        egress_ip=state.egress_ip,
        egress_country=state.egress_country,
    )


class VPNAdmin:
    """CRUD and status over a manager's endpoints; every write goes to the database first."""

    def __init__(self, manager: VPNManager) -> None:
        self.manager = manager

    async def add(self, name: str, url: str, **fields: object) -> EndpointOut:
        """Store a new endpoint; InvalidRequest on a bad or duplicate one."""
        vpn = self.manager
        spec = validated({"name": name, "url": url, **fields})
        await vpn.store.add(spec)
        await vpn.reload()
        state = vpn.states[name]
        log.info("vpn endpoint %s added (%s)", name, state.masked_url)
        if vpn.config.enabled:
            vpn.schedule_probe(state)
        return endpoint_out(state)

    async def update(self, name: str, **fields: object) -> EndpointOut:
        """Change an endpoint's url, country, provider_label, allowed_providers or active."""
        vpn = self.manager
        changes = validated({**fields, "name": name}, partial=True)
        del changes["name"]
        if not await vpn.store.update(name, changes):
            raise errors.NotFound(f"no VPN endpoint named {name!r}", param="name")
        await vpn.reload()
        log.info("vpn endpoint %s updated (%s)", name, ", ".join(sorted(changes)) or "nothing")
        state = vpn.states[name]
        if vpn.config.enabled and "url" in changes:
            vpn.schedule_probe(state)
        return endpoint_out(state)

    async def remove(self, name: str) -> None:
        """Delete an endpoint; NotFound if there is none by that name."""
        if not await self.manager.store.delete(name):
            raise errors.NotFound(f"no VPN endpoint named {name!r}", param="name")
        await self.manager.reload()
        log.info("vpn endpoint %s removed", name)

    async def rotate(self, to: str | None = None) -> ProxyChoice | None:
        """Move to endpoint `to` (or the next healthy one) now; None when there is none."""
        states = self.manager.states
        if to is not None:
            target = states.get(to)
            if target is None:
                raise errors.NotFound(f"no VPN endpoint named {to!r}", param="to")
            if not target.active:
                raise errors.InvalidRequest(f"VPN endpoint {to!r} is inactive", param="to")
        names = sorted(s.name for s in states.values() if s.usable)
        name = self.manager.rotation.rotate(names, to)
        if name is None:
            return None
        log.info("vpn rotated to %s", name)
        state = states[name]
        return ProxyChoice(name, state.url, state.masked_url)

    async def test_endpoint(self, name: str) -> ProbeOut:
        """Probe `name` now through its proxy and record the outcome."""
        result = await self.manager.test_endpoint(name)
        return ProbeOut.model_validate(result.to_dict())

    def list_endpoints(self) -> list[EndpointOut]:
        """Every endpoint, credentials masked, by name."""
        states = self.manager.states
        return [endpoint_out(states[n]) for n in sorted(states)]

    def get_endpoint(self, name: str) -> EndpointOut:
        """One endpoint, credentials masked."""
        return endpoint_out(self.manager.state(name))

    def status(self) -> StatusOut:
        """The policy, the current endpoint and every endpoint's health; nothing secret."""
        vpn = self.manager
        current = vpn.rotation.current
        return StatusOut(
            enabled=vpn.config.enabled,
            rotation=vpn.rotation.policy,
            current=current if current in vpn.states else None,
            sticky=dict(vpn.rotation.sticky),
            providers=sorted(vpn.config.providers) if vpn.config.providers else None,
            countries=sorted(vpn.config.countries) if vpn.config.countries else None,
            failovers=vpn.failovers,
            exhausted=vpn.exhausted,
            endpoints=self.list_endpoints(),
        )
