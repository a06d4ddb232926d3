"""A site's tariffs: fixed, time-of-use bands, and dynamic per-period prices."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.guard import BULK_UPLOAD
from ampnexus.api.models import INT32_MAX, Page, UtcDatetime, page_of
from ampnexus.api.site_models import PriceIn, PriceOut, PricesStored, TariffCreate, TariffOut
from ampnexus.domain.errors import Invalid

router = APIRouter(prefix="/sites/{site_id}/tariffs", tags=["tariffs"])
SiteId = Annotated[str, Path(description="The site's id")]
TariffId = Annotated[int, Path(ge=1, le=INT32_MAX)]
PRICES = TypeAdapter(list[PriceIn])
AGILE_EXAMPLE = (
    "Period from,Period to,Agile Import price (p/kWh),Agile Export price (p/kWh)\n"
    "01/11/2022 00:00,01/11/2022 00:30,12.61,6.56\n"
)
PRICES_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": PriceIn.model_json_schema()}},
            "text/csv": {"schema": {"type": "string"}, "example": AGILE_EXAMPLE},
        },
    }
}


@router.post("", status_code=201, response_model=TariffOut)
async def create(site_id: SiteId, body: TariffCreate, services: ServicesDep) -> TariffOut:
    """`fixed` needs import_price; `time_of_use` needs bands in site-local time (import_price
    then covers the times no band does); `dynamic` takes its prices through
    POST .../prices (import_price, if given, covers the times they do not)."""
    return TariffOut.of(await services.tariffs.create(body.to_domain(site_id)))


@router.get("", response_model=Page[TariffOut])
async def list_tariffs(
    site_id: SiteId, services: ServicesDep, paging: PagingDep
) -> Page[TariffOut]:
    found = await services.tariffs.list(site_id, paging.limit, paging.offset)
    return page_of(found, paging, TariffOut.of)


@router.get("/{tariff_id}", response_model=TariffOut)
async def show(site_id: SiteId, tariff_id: TariffId, services: ServicesDep) -> TariffOut:
    return TariffOut.of(await services.tariffs.get(site_id, tariff_id))


@router.delete("/{tariff_id}", status_code=204)
async def delete(site_id: SiteId, tariff_id: TariffId, services: ServicesDep) -> Response:
    await services.tariffs.delete(site_id, tariff_id)
    return Response(status_code=204)


@router.post(
    "/{tariff_id}/prices",
    status_code=201,
    response_model=PricesStored,
    openapi_extra={**PRICES_BODY, **BULK_UPLOAD},
)
async def set_prices(
    site_id: SiteId, tariff_id: TariffId, request: Request, services: ServicesDep
) -> PricesStored:
    """Dynamic prices: a JSON list of `{start, end, import_price, export_price}`, or with
    `Content-Type: text/csv` a file in the Octopus Agile format (`Period from,Period to,Agile
    Import price (p/kWh),Agile Export price (p/kWh)`, local times `dd/mm/YYYY HH:MM` in the
    site's time zone). Stored prices within the span they cover are replaced."""
    body = await request.body()  # bounded by the bulk body limit (api/guard.py)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("text/csv", "application/csv", "text/plain"):
        stored, replaced = await services.tariffs.import_csv(site_id, tariff_id, _text(body))
    else:
        periods = [price.to_domain() for price in _json_prices(body)]
        stored, replaced = await services.tariffs.set_prices(site_id, tariff_id, periods)
    return PricesStored(stored=stored, replaced=replaced)


@router.get("/{tariff_id}/prices", response_model=Page[PriceOut])
async def list_prices(
    site_id: SiteId,
    tariff_id: TariffId,
    services: ServicesDep,
    paging: PagingDep,
    since: Annotated[UtcDatetime | None, Query(description="Periods ending after this")] = None,
    until: Annotated[UtcDatetime | None, Query(description="Periods starting before")] = None,
) -> Page[PriceOut]:
    found = await services.tariffs.periods(
        site_id, tariff_id, since, until, paging.limit, paging.offset
    )
    return page_of(found, paging, PriceOut.of)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the CSV must be UTF-8 text") from None


def _json_prices(body: bytes) -> list[PriceIn]:
    try:
        data = json.loads(body)
    except ValueError:
        raise Invalid("the body must be a JSON list of prices, or a CSV (text/csv)") from None
    try:
        prices = PRICES.validate_python(data)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    if not prices:
        raise Invalid("give at least one price")
    return prices
