"""Tariffs: every site's tariffs and their prices (time-of-use bands, or the dynamic prices
of the hours ahead), which one is in force, and a simple time-of-use tariff made or removed
by an operator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.errors import DomainError, Invalid
from ampnexus.domain.site import Site
from ampnexus.domain.tariff import (
    EVERY_DAY,
    WEEKDAYS,
    WEEKENDS,
    Band,
    PricePeriod,
    Tariff,
    TariffKind,
    current_tariff,
)
from ampnexus.domain.user import Role
from ampnexus.portal.auth import Operator, Signed, Viewer, may
from ampnexus.portal.fields import number, text
from ampnexus.portal.pages.admin_forms import PAGE
from ampnexus.portal.render import done, failed, form, page

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()
BACK = "/tariffs"
BAND_ROWS = 3  # bands the form offers: enough for night, day and peak
DAY_SETS = {"all": EVERY_DAY, "weekdays": WEEKDAYS, "weekends": WEEKENDS}
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PRICES_AHEAD = timedelta(hours=24)  # the dynamic prices shown
PRICES_SHOWN = 96


@dataclass
class TariffRow:
    tariff: Tariff
    in_force: bool
    upcoming: list[PricePeriod] = field(default_factory=list)


@dataclass
class SiteTariffs:
    site: Site
    tariffs: list[TariffRow]


@router.get("/tariffs", response_class=HTMLResponse)
async def tariffs_page(request: Request, signed: Viewer) -> Response:
    return await _render(request, signed, "tariffs.html", nav="tariffs")


@router.get("/fragments/tariffs", response_class=HTMLResponse)
async def tariffs_fragment(request: Request, signed: Viewer) -> Response:
    return await _render(request, signed, "_tariffs.html")


async def _render(request: Request, signed: Signed, template: str, **context: Any) -> Response:
    services: Services = request.app.state.services
    sites = (await services.sites.list(PAGE, 0)).items
    return page(
        request,
        template,
        signed,
        sites=[await _site_tariffs(services, site) for site in sites],
        can_act=may(signed, Role.OPERATOR),
        band_rows=range(1, BAND_ROWS + 1),
        day_names=day_names,
        **context,
    )


async def _site_tariffs(services: Services, site: Site) -> SiteTariffs:
    now = services.clock.now()
    tariffs = (await services.tariffs.list(site.id, PAGE, 0)).items
    in_force = current_tariff(tariffs, now)
    rows = []
    for tariff in tariffs:
        row = TariffRow(tariff, in_force is not None and tariff.id == in_force.id)
        if tariff.kind is TariffKind.DYNAMIC and tariff.id is not None:
            found = await services.tariffs.periods(
                site.id, tariff.id, now, now + PRICES_AHEAD, PRICES_SHOWN, 0
            )
            row.upcoming = list(found.items)
        rows.append(row)
    return SiteTariffs(site, rows)


@router.post("/tariffs")
async def create_time_of_use(request: Request, signed: Operator) -> Response:
    services: Services = request.app.state.services
    fields = await form(request)
    try:
        tariff = Tariff(
            site_id=fields.get("site_id", ""),
            name=text(fields, "name", 100) or "",
            kind=TariffKind.TIME_OF_USE,
            import_price=number(fields, "import_price", "the price outside the bands"),
            bands=tuple(_bands(fields)),
        )
        created = await services.tariffs.create(tariff)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Tariff {created.name} created for site {created.site_id}.", BACK)


@router.post("/tariffs/delete")
async def delete_tariff(request: Request, signed: Operator) -> Response:
    services: Services = request.app.state.services
    fields = await form(request)
    site_id = fields.get("site_id", "")
    try:
        tariff_id = int(fields.get("tariff_id", ""))
        await services.tariffs.delete(site_id, tariff_id)
    except ValueError:
        return failed(request, "which tariff? (no tariff_id)", BACK)
    except DomainError as error:
        return failed(request, str(error), BACK)
    return done(request, f"Tariff {tariff_id} of site {site_id} deleted.", BACK)


def _bands(fields: dict[str, str]) -> list[Band]:
    """The form's filled band rows (a row without a start is left out)."""
    bands = []
    for row in range(1, BAND_ROWS + 1):
        start = fields.get(f"band{row}_start", "").strip()
        if not start:
            continue
        label = f"band {row}"
        price = number(fields, f"band{row}_import", f"{label}'s price")
        if price is None:
            raise Invalid(f"{label} needs a price")
        days = DAY_SETS.get(fields.get(f"band{row}_days", "all"))
        if days is None:
            raise Invalid(f"{label}'s days must be all, weekdays or weekends")
        bands.append(
            Band(
                _time(start, label),
                _time(fields.get(f"band{row}_end", ""), label),
                price,
                number(fields, f"band{row}_export", f"{label}'s export price"),
                days,
            )
        )
    return bands


def _time(value: str, label: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{label}: times are HH:MM, got {value.strip()[:20]!r}") from None


def day_names(days: frozenset[int]) -> str:
    for name, group in DAY_SETS.items():
        if days == group:
            return "every day" if name == "all" else name
    return ", ".join(DAY_NAMES[day] for day in sorted(days))
