"""VPN administration: endpoints CRUD, status, rotation and probes (credentials always masked).

Only these authenticated routes and the config file can name a proxy URL; chat requests cannot.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from annas_gift.api.deps import JsonBody, VPNAdminDep
from annas_gift.core import errors
from annas_gift.egress.schemas import (
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    ProbeOut,
    RotateIn,
    RotateOut,
    StatusOut,
)

routes = APIRouter(prefix="/api/v1/vpn", tags=["vpn"])


@routes.get("/status", response_model=StatusOut)
async def status(vpn: VPNAdminDep) -> StatusOut:
    """The current endpoint and every endpoint's health, latency and counters."""
    return vpn.status()


@routes.get("/endpoints", response_model=list[EndpointOut])
async def list_endpoints(vpn: VPNAdminDep) -> list[EndpointOut]:
    """All endpoints, by name."""
    return vpn.list_endpoints()


@routes.post("/endpoints", response_model=EndpointOut, status_code=201)
async def add_endpoint(body: EndpointIn, vpn: VPNAdminDep, _json: JsonBody) -> EndpointOut:
    """Add an endpoint; it is stored in the database and probed at once."""
    return await vpn.add(**body.model_dump())


@routes.get("/endpoints/{name}", response_model=EndpointOut)
async def get_endpoint(name: str, vpn: VPNAdminDep) -> EndpointOut:
    """One endpoint."""
    return vpn.get_endpoint(name)


@routes.patch("/endpoints/{name}", response_model=EndpointOut)
async def update_endpoint(
    name: str, body: EndpointPatch, vpn: VPNAdminDep, _json: JsonBody
) -> EndpointOut:
    """Change an endpoint; a new URL starts with a clean health record."""
    fields = body.model_dump(exclude_unset=True)
    for key in ("url", "active"):
        if key in fields and fields[key] is None:
            raise errors.InvalidRequest(f"{key} cannot be null", param=key)
    return await vpn.update(name, **fields)


@routes.delete("/endpoints/{name}", status_code=204)
async def delete_endpoint(name: str, vpn: VPNAdminDep) -> Response:
    """Remove an endpoint."""
    await vpn.remove(name)
    return Response(status_code=204)


@routes.post("/endpoints/{name}/test", response_model=ProbeOut)
async def test_endpoint(name: str, vpn: VPNAdminDep) -> ProbeOut:
    """Probe an endpoint now and record the outcome."""
    return await vpn.test_endpoint(name)


@routes.post("/rotate", response_model=RotateOut)
async def rotate(vpn: VPNAdminDep, _json: JsonBody, body: RotateIn | None = None) -> RotateOut:
    """Move to the named endpoint, or to the next healthy one."""
    choice = await vpn.rotate(body.to if body else None)
    return RotateOut(
        current=choice.name if choice else None, url=choice.masked_url if choice else None
    )
