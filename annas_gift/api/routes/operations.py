"""Operations routes: `GET /metrics` (Prometheus) and `GET /api/v1/alerts`."""

from __future__ import annotations

from fastapi import APIRouter, Header, Response

from annas_gift.api.deps import GatewayDep, KeyId, Ops
from annas_gift.api.schemas.operations import AlertsOut
from annas_gift.core.errors import AuthenticationFailed, NotFound
from annas_gift.monitoring.metrics import metrics_authorized

routes = APIRouter()


@routes.get("/metrics", include_in_schema=False)
async def metrics(
    gateway: GatewayDep, ops: Ops, authorization: str | None = Header(default=None)
) -> Response:
    """Every metric in the Prometheus text format; a gateway key when `metrics.require_key`."""
    settings = gateway.settings.metrics
    if not settings.enabled:
        raise NotFound("metrics are off (metrics.enabled)")
    if not metrics_authorized(authorization, settings.require_key, gateway.keys.verify):
        raise AuthenticationFailed("/metrics needs 'Authorization: Bearer <your gateway key>'.")
    await ops.live.refresh()
    body, content_type = ops.metrics.render(ops.live)
    return Response(body, media_type=content_type)


@routes.get("/api/v1/alerts", response_model=AlertsOut, tags=["operations"])
async def alerts(_: KeyId, gateway: GatewayDep, ops: Ops) -> AlertsOut:
    """Alerts firing now and recently resolved (empty when alerts are off)."""
    return AlertsOut.model_validate(
        {"enabled": gateway.settings.alerts.enabled, **ops.alerts.listing()}
    )
