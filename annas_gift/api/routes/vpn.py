"""VPN administration: endpoints CRUD, status, rotation and probes (credentials always masked).

Only these authenticated routes and the config file can name a proxy URL; chat requests cannot.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from annas_gift.api.deps import KeyId
from annas_gift.upstream import errors
from annas_gift.upstream.vpn_manager import VPNManager

router = APIRouter(prefix="/api/v1/vpn", tags=["vpn"])


class Forbidden(errors.GatewayError):
    status, type, code = 403, "permission_error", "forbidden"


def get_vpn(request: Request, key_id: KeyId) -> VPNManager:
    """The lifespan's VPN manager, for a key allowed to administer it (`vpn.admin_keys`)."""
    admins = getattr(request.app.state.settings.vpn, "admin_keys", None)
    if admins and key_id not in admins:
        raise Forbidden("this API key may not administer the VPN")
    vpn: VPNManager | None = getattr(request.app.state, "vpn", None)
    if vpn is None:
        raise errors.ServiceUnavailable("the VPN manager is not running", code="vpn_not_running")
    return vpn


VPN = Annotated[VPNManager, Depends(get_vpn)]


class EndpointIn(BaseModel):
    """A new egress proxy: http, https, socks5 or socks5h URL with host and port."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, examples=["nl-1"])
    url: str = Field(
        min_length=1, max_length=2048, examples=["socks5://user:pass@nl.vpn.example:1080"]
    )
    country: str | None = Field(default=None, max_length=64, examples=["NL"])
    provider_label: str | None = Field(default=None, max_length=64, examples=["mullvad"])
    allowed_providers: list[str] | None = Field(default=None, examples=[["openai", "groq"]])
    active: bool = True


class EndpointPatch(BaseModel):
    """Fields to change; omitted fields stay, null clears country/label/providers."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    country: str | None = Field(default=None, max_length=64)
    provider_label: str | None = Field(default=None, max_length=64)
    allowed_providers: list[str] | None = None
    active: bool | None = None


class EndpointOut(BaseModel):
    """An endpoint with its health; `url` has its credentials replaced by ***."""

    name: str
    url: str
    country: str | None
    provider_label: str | None
    allowed_providers: list[str] | None
    active: bool
    healthy: bool
    state: str = Field(description="up | suspect | down | inactive")
    latency_ms: float | None = Field(description="last probe's round trip through the proxy")
    request_latency_ms: float | None = Field(description="moving average of requests carried")
    last_check: str | None
    last_used: str | None
    last_error: str | None
    failure_count: int = Field(description="consecutive failures; a good probe resets it")
    failures_total: int
    rate_limited_total: int
    requests_carried: int
    egress_ip: str | None
    egress_country: str | None


class StatusOut(BaseModel):
    """The rotation policy, the current endpoint and every endpoint's health."""

    enabled: bool
    rotation: str
    current: str | None
    sticky: dict[str, str] = Field(description="provider -> endpoint (sticky policy)")
    providers: list[str] | None = Field(description="providers routed through the VPN")
    countries: list[str] | None
    failovers: int = Field(description="requests moved to another endpoint after a failure")
    exhausted: int = Field(description="requests for which every endpoint tried failed")
    endpoints: list[EndpointOut]


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(default=None, description="an endpoint name; omitted: the next one")


class RotateOut(BaseModel):
    current: str | None
    url: str | None = Field(description="masked")


class ProbeOut(BaseModel):
    """One probe through the endpoint to the configured probe URL."""

    name: str
    ok: bool
    latency_ms: float | None
    status_code: int | None
    error: str | None
    egress_ip: str | None
    egress_country: str | None
    checked_at: str


@router.get("/status", response_model=StatusOut)
async def status(vpn: VPN) -> dict[str, Any]:
    """The current endpoint and every endpoint's health, latency and counters."""
    return vpn.status()


@router.get("/endpoints", response_model=list[EndpointOut])
async def list_endpoints(vpn: VPN) -> list[dict[str, Any]]:
    """All endpoints, by name."""
    return vpn.list_endpoints()


@router.post("/endpoints", response_model=EndpointOut, status_code=201)
async def add_endpoint(body: EndpointIn, vpn: VPN) -> dict[str, Any]:
    """Add an endpoint; it is stored in the database and probed at once."""
    return await vpn.add(**body.model_dump())


@router.get("/endpoints/{name}", response_model=EndpointOut)
async def get_endpoint(name: str, vpn: VPN) -> dict[str, Any]:
    """One endpoint."""
    return vpn.get_endpoint(name)


@router.patch("/endpoints/{name}", response_model=EndpointOut)
async def update_endpoint(name: str, body: EndpointPatch, vpn: VPN) -> dict[str, Any]:
    """Change an endpoint; a new URL starts with a clean health record."""
    fields = body.model_dump(exclude_unset=True)
    for key in ("url", "active"):
        if key in fields and fields[key] is None:
            raise errors.InvalidRequest(f"{key} cannot be null", param=key)
    return await vpn.update(name, **fields)


@router.delete("/endpoints/{name}", status_code=204)
async def delete_endpoint(name: str, vpn: VPN) -> Response:
    """Remove an endpoint."""
    await vpn.remove(name)
    return Response(status_code=204)


@router.post("/endpoints/{name}/test", response_model=ProbeOut)
async def test_endpoint(name: str, vpn: VPN) -> dict[str, Any]:
    """Probe an endpoint now and record the outcome."""
    return (await vpn.test_endpoint(name)).to_dict()


@router.post("/rotate", response_model=RotateOut)
async def rotate(vpn: VPN, body: RotateIn | None = None) -> RotateOut:
    """Move to the named endpoint, or to the next healthy one."""
    choice = await vpn.rotate(body.to if body else None)
    return RotateOut(
        current=choice.name if choice else None, url=choice.masked_url if choice else None
    )
