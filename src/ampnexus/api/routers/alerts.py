"""Alerts: what needs an operator's attention, newest first, and resolving them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import AlertOut, Page, page_of
from ampnexus.domain.alert import AlertKind

router = APIRouter(prefix="/alerts", tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("", response_model=Page[AlertOut])
async def list_alerts(
    services: ServicesDep,
    paging: PagingDep,
    open: Annotated[bool | None, Query(description="true: open only; false: resolved")] = None,
    kind: Annotated[AlertKind | None, Query()] = None,
    charge_point_id: Annotated[str | None, Query(max_length=255)] = None,
    site_id: Annotated[str | None, Query(max_length=48)] = None,
) -> Page[AlertOut]:
    """Most recently raised first. An open alert raised again is counted (`count`)."""
    page = await services.alerts.list(
        open_only=open,
        kind=kind,
        charge_point_id=charge_point_id,
        site_id=site_id,
        limit=paging.limit,
        offset=paging.offset,
    )
    return page_of(page, paging, AlertOut.of)


@router.get("/{alert_id}", response_model=AlertOut)
async def show(alert_id: AlertId, services: ServicesDep) -> AlertOut:
    return AlertOut.of(await services.alerts.get(alert_id))


@router.post("/{alert_id}/resolve", response_model=AlertOut)
async def resolve(alert_id: AlertId, services: ServicesDep) -> AlertOut:
    """Mark an alert handled; the same problem raised again opens a new one."""
    return AlertOut.of(await services.alerts.resolve_id(alert_id))
