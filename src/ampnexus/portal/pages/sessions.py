"""Charging sessions: the list with its filters, a CSV export of what the filters select, and
one session's page with a chart of its power and energy from its meter values."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from ampnexus.domain.energy import local_midnight, transaction_curve
from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.domain.site import Site
from ampnexus.domain.transaction import (
    SessionFilter,
    Transaction,
    import_power_w,
    import_register_wh,
)
from ampnexus.portal.auth import Viewer
from ampnexus.portal.render import page

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()

PAGE_SIZE = 50  # sessions per page of the list
EXPORT_PAGE = 500  # sessions read at once while streaming the CSV
SITES_READ = 1000  # sites a filter form offers
MAX_ID = 2**31 - 1  # transaction ids are OCPP integers
STATUSES = {"running": True, "finished": False}
CSV_COLUMNS = (
    "transaction_id",
    "charge_point_id",
    "connector_id",
    "site_id",
    "id_tag",
    "started_at",
    "stopped_at",
    "energy_kwh",
    "cost",
    "stop_reason",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- what the filters ask ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Filters:
    """The list's GET form as typed; empty fields are None. Dates are whole days in the
    filtered site's time zone (UTC when no site is chosen), `until` included."""

    charger: str | None = None
    site: str | None = None
    id_tag: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None
    page: int = 1

    def query(self, **changes: Any) -> str:
        """This filter as a query string (for the pager and the CSV link)."""
        fields = {
            "charger": self.charger,
            "site": self.site,
            "id_tag": self.id_tag,
            "status": self.status,
            "from": self.since,
            "to": self.until,
            "page": self.page if self.page > 1 else None,
            **changes,
        }
        return urlencode({k: str(v) for k, v in fields.items() if v not in (None, "")})

    @property
    def active(self) -> bool | None:
        return None if self.status is None else STATUSES[self.status]


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Invalid, with what to fix, for a value the form would never send."""

    def text(name: str) -> str | None:
        value = params.get(name, "").strip()
        if len(value) > 255:
            raise Invalid(f"{name} is longer than 255 characters")
        return value or None

    status = text("status")
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be running or finished, not {status!r}")
    since, until = _day(params, "from"), _day(params, "to")
    if since is not None and until is not None and until < since:
        raise Invalid(f"from ({since}) must not be after to ({until})")
    page_text = params.get("page", "").strip() or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= 1_000_000:
        raise Invalid(f"page must be a whole number from 1, not {page_text!r}")
    return Filters(
        text("charger"), text("site"), text("id_tag"), status, since, until, int(page_text)
    )


def _day(params: Mapping[str, str], name: str) -> date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD)") from None
    if not date(1970, 1, 1) <= day <= date(9998, 12, 31):
        raise Invalid(f"{name}: {day} is out of range")
    return day


async def session_filter(services: Services, filters: Filters) -> SessionFilter:
    """The store's filter: the days as instants in the site's zone (NotFound: no site)."""
    zone = "UTC"
    if filters.site is not None:
        zone = (await services.sites.get(filters.site)).time_zone
    since = None if filters.since is None else local_midnight(filters.since, zone)
    until = None
    if filters.until is not None:
        until = local_midnight(filters.until + timedelta(days=1), zone)
    return SessionFilter(filters.site, filters.id_tag, since, until)


# --- the sessions as shown --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SessionRow:
    transaction: Transaction
    site: Site | None
    energy_kwh: float | None
    cost: float | None

    @property
    def zone(self) -> str:
        return "UTC" if self.site is None else self.site.time_zone


class Places:
    """Which site each charger is on now (its time zone and tariffs), read once per
    request however many sessions a charger has."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._sites: dict[str, Site | None] = {}
        self._chargers: dict[str, str | None] = {}

    async def site_of(self, charge_point_id: str) -> Site | None:
        if charge_point_id not in self._chargers:
            try:
                view = await self._services.charge_points.get(charge_point_id)
                self._chargers[charge_point_id] = view.charge_point.site_id
            except NotFound:  # removed since: its sessions stay
                self._chargers[charge_point_id] = None
        site_id = self._chargers[charge_point_id]
        return None if site_id is None else await self.site(site_id)

    async def site(self, site_id: str) -> Site | None:
        if site_id not in self._sites:
            try:
                self._sites[site_id] = await self._services.sites.get(site_id)
            except NotFound:
                self._sites[site_id] = None
        return self._sites[site_id]

    async def rows(self, sessions: Sequence[Transaction]) -> list[SessionRow]:
        """Sessions (read with their register readings) with their site, energy so far and
        cost at their site's tariff."""
        sites = [await self.site_of(t.charge_point_id) for t in sessions]
        costs: dict[int, float | None] = {}
        for site_id in {s.id for s in sites if s is not None}:
            on_site = [t for t, s in zip(sessions, sites, strict=True) if s and s.id == site_id]
            costs |= await self._services.energy.session_costs(site_id, on_site)
        return [
            SessionRow(t, site, _energy_kwh(t), costs.get(t.id))
            for t, site in zip(sessions, sites, strict=True)
        ]


def _energy_kwh(transaction: Transaction) -> float:
    """The whole energy of a finished session; so far (its latest reading) of a running one."""
    return transaction_curve(transaction)[-1][1] / 1000


# --- the list ---------------------------------------------------------------------------------
@router.get("/sessions", response_class=HTMLResponse)
async def sessions_page(request: Request, signed: Viewer) -> Response:
    return await _list(request, signed, "sessions.html")


@router.get("/fragments/sessions", response_class=HTMLResponse)
async def sessions_fragment(request: Request, signed: Viewer) -> Response:
    return await _list(request, signed, "_sessions.html")


async def _list(request: Request, signed: Viewer, template: str) -> Response:
    services: Services = request.app.state.services
    sites = (await services.sites.list(SITES_READ, 0)).items
    context: dict[str, Any] = {
        "sites": sites,
        "params": request.query_params,  # the form shows what was typed, even when wrong
        "rows": [],
        "total": 0,
        "pages": 1,
    }
    try:
        filters = parse_filters(request.query_params)
        where = await session_filter(services, filters)
    except (Invalid, NotFound) as error:
        return page(
            request,
            template,
            signed,
            422,
            nav="sessions",
            filters=Filters(),
            error=str(error),
            **context,
        )
    found = await services.transactions.list(
        filters.charger,
        filters.active,
        PAGE_SIZE,
        (filters.page - 1) * PAGE_SIZE,
        where,
        registers=True,
    )
    context |= {
        "rows": await Places(services).rows(found.items),
        "total": found.total,
        "pages": max(1, -(-found.total // PAGE_SIZE)),
    }
    return page(request, template, signed, nav="sessions", filters=filters, error=None, **context)


# --- the export -------------------------------------------------------------------------------
@router.get("/sessions.csv")
async def sessions_csv(request: Request, signed: Viewer) -> Response:
    """Every session the filters select (not just one page), newest first, streamed a page
    at a time: an export of 100,000 sessions never sits in memory."""
    services: Services = request.app.state.services
    try:
        filters = parse_filters(request.query_params)
        where = await session_filter(services, filters)
    except (Invalid, NotFound) as error:
        return PlainTextResponse(f"{error}\n", status_code=422)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        _csv_lines(services, filters, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sessions-{stamp}.csv"'},
    )


async def _csv_lines(
    services: Services, filters: Filters, where: SessionFilter
) -> AsyncIterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    places = Places(services)  # shared by the pages: each charger's site read once
    while True:
        found = await services.transactions.list(
            filters.charger, filters.active, EXPORT_PAGE, 0, where, registers=True
        )
        for row in await places.rows(found.items):
            writer.writerow(csv_row(row))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(found.items) < EXPORT_PAGE:
            return
        # Keyset paging: below the last id sent, so sessions starting meanwhile shift nothing.
        where = SessionFilter(
            where.site_id, where.id_tag, where.since, where.until, found.items[-1].id
        )


def csv_row(row: SessionRow) -> tuple[object, ...]:
    t = row.transaction
    return (
        t.id,
        _cell(t.charge_point_id),
        t.connector_id,
        "" if row.site is None else _cell(row.site.id),
        _cell(t.id_tag),
        iso_local(t.started_at, row.zone),
        "" if t.stopped_at is None else iso_local(t.stopped_at, row.zone),
        "" if row.energy_kwh is None else f"{row.energy_kwh:.3f}",
        "" if row.cost is None else f"{row.cost:.4f}",
        _cell(t.stop_reason or ""),
    )


def iso_local(moment: datetime, zone: str) -> str:
    """ISO 8601 in the site's zone, with its offset (what the site's clock showed)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")


def _cell(text: str) -> str:
    """Text a spreadsheet would not run as a formula."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


# --- one session ------------------------------------------------------------------------------
@router.get("/sessions/{transaction_id}", response_class=HTMLResponse)
async def session_page(request: Request, transaction_id: str, signed: Viewer) -> Response:
    return await _one(request, transaction_id, signed, "session.html")


@router.get("/fragments/sessions/{transaction_id}", response_class=HTMLResponse)
async def session_fragment(request: Request, transaction_id: str, signed: Viewer) -> Response:
    return await _one(request, transaction_id, signed, "_session.html")


async def _one(request: Request, transaction_id: str, signed: Viewer, template: str) -> Response:
    services: Services = request.app.state.services
    try:
        if not transaction_id.isdigit() or int(transaction_id) > MAX_ID:
            raise NotFound(f"there is no session {transaction_id[:40]!r}")
        transaction = await services.transactions.get(int(transaction_id))
    except NotFound as error:
        return page(request, "not_found.html", signed, 404, nav="sessions", message=str(error))
    places = Places(services)
    row = (await places.rows([transaction]))[0]
    return page(
        request,
        template,
        signed,
        nav="sessions",
        row=row,
        t=transaction,
        chart=session_chart(transaction, row.zone),
        samples=meter_table(transaction),
    )


def session_chart(transaction: Transaction, zone: str) -> dict[str, Any]:
    """The chart's data (charts.js): per meter reading its time, the power (kW, its total
    or the sum of its phases) and the energy delivered since the start (kWh)."""
    times: list[float] = []
    power: list[float | None] = []
    energy: list[float | None] = []
    for reading in transaction.meter_values:
        watts, register = import_power_w(reading), import_register_wh(reading)
        if watts is None and register is None:
            continue
        times.append(_epoch(reading.timestamp))
        power.append(None if watts is None else round(watts / 1000, 3))
        energy.append(
            None if register is None else round((register - transaction.meter_start) / 1000, 3)
        )
    return {
        "zone": zone,
        "x": times,
        "axes": {"left": "kW", "right": "kWh"},
        "series": [
            {"label": "Power", "unit": "kW", "values": power, "color": "#0b6bcb", "fill": True},
            {
                "label": "Energy",
                "unit": "kWh",
                "values": energy,
                "color": "#1a7f37",
                "axis": "right",
            },
        ],
    }


@dataclass(frozen=True, slots=True)
class SampleRow:
    timestamp: datetime
    measurand: str
    value: str
    unit: str | None
    phase: str | None


def meter_table(transaction: Transaction) -> list[SampleRow]:
    return [
        SampleRow(reading.timestamp, s.measurand, s.value, s.unit, s.phase)
        for reading in transaction.meter_values
        for s in reading.sampled_values
    ]


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
