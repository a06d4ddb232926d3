"""What a site reports: its meter, solar production and forecasts, and carbon intensity.

Each value holds from its timestamp until the next one; a point sent again for the same
timestamp replaces the earlier one (a corrected reading, a newer forecast).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from ampnexus.api.deps import Paging, PagingDep, ServicesDep
from ampnexus.api.guard import BULK_UPLOAD
from ampnexus.api.models import Page, UtcDatetime, page_of
from ampnexus.api.site_models import PointOut, PointsIn, PointsStored, SolarIn
from ampnexus.domain.series import SeriesKind

router = APIRouter(prefix="/sites/{site_id}", tags=["site series"])
SiteId = Annotated[str, Path(description="The site's id")]
Since = Annotated[UtcDatetime | None, Query(description="From this instant on")]
Until = Annotated[UtcDatetime | None, Query(description="Before this instant")]
SOLAR = {"measured": SeriesKind.SOLAR_MEASURED, "forecast": SeriesKind.SOLAR_FORECAST}


async def _record(
    services: ServicesDep, site_id: str, kind: SeriesKind, body: PointsIn
) -> PointsStored:
    stored = await services.site_series.record(site_id, kind, body.to_domain())
    return PointsStored(stored=stored)


async def _read(
    services: ServicesDep,
    site_id: str,
    kind: SeriesKind,
    paging: Paging,
    since: UtcDatetime | None,
    until: UtcDatetime | None,
) -> Page[PointOut]:
    found = await services.site_series.points(
        site_id, kind, since, until, paging.limit, paging.offset
    )
    return page_of(found, paging, PointOut.of)


@router.post("/meter", status_code=201, response_model=PointsStored, openapi_extra=BULK_UPLOAD)
async def record_meter(site_id: SiteId, body: PointsIn, services: ServicesDep) -> PointsStored:
    """Site consumption in W, EVs included, before solar (what the EVs may use is the grid
    limit minus the load that is not EVs, plus solar). Negative values are export."""
    return await _record(services, site_id, SeriesKind.SITE_METER, body)


@router.get("/meter", response_model=Page[PointOut])
async def read_meter(
    site_id: SiteId,
    services: ServicesDep,
    paging: PagingDep,
    since: Since = None,
    until: Until = None,
) -> Page[PointOut]:
    return await _read(services, site_id, SeriesKind.SITE_METER, paging, since, until)


@router.post("/solar", status_code=201, response_model=PointsStored, openapi_extra=BULK_UPLOAD)
async def record_solar(site_id: SiteId, body: SolarIn, services: ServicesDep) -> PointsStored:
    """Solar production in W: `measured`, or a `forecast` (a newer forecast for the same
    timestamps replaces the older)."""
    return await _record(services, site_id, SOLAR[body.kind], body)


@router.get("/solar", response_model=Page[PointOut])
async def read_solar(
    site_id: SiteId,
    services: ServicesDep,
    paging: PagingDep,
    kind: Annotated[Literal["measured", "forecast"], Query()] = "measured",
    since: Since = None,
    until: Until = None,
) -> Page[PointOut]:
    return await _read(services, site_id, SOLAR[kind], paging, since, until)


@router.post("/carbon", status_code=201, response_model=PointsStored, openapi_extra=BULK_UPLOAD)
async def record_carbon(site_id: SiteId, body: PointsIn, services: ServicesDep) -> PointsStored:
    """Carbon intensity of imported electricity, g CO2 per kWh (measured or forecast)."""
    return await _record(services, site_id, SeriesKind.CARBON, body)


@router.get("/carbon", response_model=Page[PointOut])
async def read_carbon(
    site_id: SiteId,
    services: ServicesDep,
    paging: PagingDep,
    since: Since = None,
    until: Until = None,
) -> Page[PointOut]:
    return await _read(services, site_id, SeriesKind.CARBON, paging, since, until)
