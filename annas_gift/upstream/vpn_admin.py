"""The VPN manager's administration half: endpoint CRUD and the status view (masked)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from annas_gift.upstream import errors
from annas_gift.upstream.proxy_clients import ProbeResult
from annas_gift.upstream.vpn_config import VPNConfig, validated
from annas_gift.upstream.vpn_policies import EndpointState, ProxyChoice, Rotation
from annas_gift.upstream.vpn_store import VPNStore

log = logging.getLogger("annas_gift.upstream.vpn_manager")


class VPNAdmin:
    """CRUD and status over the manager's endpoint states; VPNManager provides the rest."""

    config: VPNConfig
    failovers: int
    exhausted: int
    _store: VPNStore
    _states: dict[str, EndpointState]
    _rotation: Rotation

    async def _reload(self) -> None:
        raise NotImplementedError

    def _schedule_probe(self, state: EndpointState) -> asyncio.Task[ProbeResult]:
        raise NotImplementedError

    def _state(self, name: str) -> EndpointState:
        raise NotImplementedError

    # -- CRUD and status ------------------------------------------------------------------------

    async def add(self, name: str, url: str, **fields: Any) -> dict[str, Any]:
        """Store a new endpoint; InvalidRequest on a bad or duplicate one."""
        spec = validated({"name": name, "url": url, **fields})
        await self._store.add(spec)
        await self._reload()
        state = self._states[name]
        log.info("vpn endpoint %s added (%s)", name, state.masked_url)
        if self.config.enabled:
            self._schedule_probe(state)
        return state.view()

    async def update(self, name: str, **fields: Any) -> dict[str, Any]:
        """Change an endpoint's url, country, provider_label, allowed_providers or active."""
        spec = validated({**fields, "name": name}, partial=True)
        values = {k: v for k, v in spec.items() if k != "name"}
        if not await self._store.update(name, values):
            raise errors.NotFound(f"no VPN endpoint named {name!r}", param="name")
        await self._reload()
        log.info("vpn endpoint %s updated (%s)", name, ", ".join(sorted(values)) or "nothing")
        state = self._states[name]
        if self.config.enabled and "url" in values:
            self._schedule_probe(state)
        return state.view()

    async def remove(self, name: str) -> None:
        """Delete an endpoint; NotFound if there is none by that name."""
        if not await self._store.delete(name):
            raise errors.NotFound(f"no VPN endpoint named {name!r}", param="name")
        await self._reload()
        log.info("vpn endpoint %s removed", name)

    async def rotate(self, to: str | None = None) -> ProxyChoice | None:
        """Move to endpoint `to` (or the next healthy one) now; None when there is none."""
        if to is not None:
            state = self._states.get(to)
            if state is None:
                raise errors.NotFound(f"no VPN endpoint named {to!r}", param="to")
            if not state.active:
                raise errors.InvalidRequest(f"VPN endpoint {to!r} is inactive", param="to")
        names = sorted(s.name for s in self._states.values() if s.usable)
        name = self._rotation.rotate(names, to)
        if name is None:
            return None
        log.info("vpn rotated to %s", name)
        state = self._states[name]
        return ProxyChoice(name, state.url, state.masked_url)

    def list_endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint, credentials masked, by name."""
        return [self._states[n].view() for n in sorted(self._states)]

    def get_endpoint(self, name: str) -> dict[str, Any]:
        """One endpoint, credentials masked."""
        return self._state(name).view()

    def status(self) -> dict[str, Any]:
        """The policy, the current endpoint and every endpoint's health; nothing secret."""
        current = self._rotation.current
        return {
            "enabled": self.config.enabled,
            "rotation": self._rotation.policy,
            "current": current if current in self._states else None,
            "sticky": dict(self._rotation.sticky),
            "providers": list(self.config.providers) if self.config.providers else None,
            "countries": list(self.config.countries) if self.config.countries else None,
            "failovers": self.failovers,
            "exhausted": self.exhausted,
            "endpoints": self.list_endpoints(),
        }
