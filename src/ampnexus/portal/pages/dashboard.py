"""The dashboard: every site's power against its limit, and every charger's state (and why
it waits), reloaded live."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.charge_point import ChargePoint
from ampnexus.domain.errors import NotFound
from ampnexus.portal.auth import Viewer
from ampnexus.portal.render import page

if TYPE_CHECKING:
    from ampnexus.app import Services
    from ampnexus.services.energy import DayTotal

router = APIRouter()

# Connector statuses that mean a car draws (or may draw) power.
CHARGING = {"Charging", "SuspendedEV", "SuspendedEVSE"}
PAGE = 500  # sites and chargers read per request: a dashboard, not a report

WAITING_REASONS = {
    "peak_window": "peak hours (regulation mode)",
    "random_delay": "random start delay",
    "outside_schedule": "outside its schedule",
    "user_controlled": "waiting for the driver",
    "waiting_for_price": "cheaper hours ahead",
    "waiting_for_solar": "sunnier hours ahead",
    "limit_reached": "site or circuit limit",
    "planned_later": "planned for later",
    "demand_response": "a demand-response event",
}


@router.get("/", response_class=HTMLResponse)
async def dashboard_page(request: Request, signed: Viewer) -> Response:
    board = await dashboard(request.app.state.services)
    return page(request, "dashboard.html", signed, nav="dashboard", board=board)


@router.get("/fragments/dashboard", response_class=HTMLResponse)
async def dashboard_fragment(request: Request, signed: Viewer) -> Response:
    board = await dashboard(request.app.state.services)
    return page(request, "_dashboard.html", signed, board=board)


@dataclass
class ChargerRow:
    id: str
    site_id: str | None
    state: str  # charging, waiting, available, faulted, offline, pending
    detail: str
    power_kw: float | None
    connectors: list[tuple[int, str]]


@dataclass
class SiteRow:
    id: str
    name: str
    limit_kw: float | None
    power_kw: float
    chargers: int
    today: DayTotal | None = None  # None: the site vanished while the page was made

    @property
    def load_pct(self) -> float | None:
        if not self.limit_kw:
            return None
        return min(100.0, 100 * self.power_kw / self.limit_kw)


@dataclass
class Dashboard:
    sites: list[SiteRow]
    chargers: list[ChargerRow]
    states: Counter[str] = field(default_factory=Counter)


async def dashboard(services: Services) -> Dashboard:
    sites = (await services.sites.list(PAGE, 0)).items
    views = (await services.charge_points.list(PAGE, 0)).items
    rows = [charger_row(services, v.charge_point, v.connected) for v in views]
    power_by_site: dict[str, float] = {}
    for row in rows:
        if row.site_id and row.power_kw:
            power_by_site[row.site_id] = power_by_site.get(row.site_id, 0.0) + row.power_kw
    placed = Counter(row.site_id for row in rows)
    site_rows = [
        SiteRow(
            s.id,
            s.name,
            None if s.grid_limit_w is None else s.grid_limit_w / 1000,
            round(power_by_site.get(s.id, 0.0), 1),
            placed[s.id],
            await _today(services, s.id),
        )
        for s in sites
    ]
    return Dashboard(site_rows, rows, Counter(row.state for row in rows))


async def _today(services: Services, site_id: str) -> DayTotal | None:
    try:
        return await services.energy.site_day(site_id)
    except NotFound:
        return None


def charger_row(services: Services, cp: ChargePoint, connected: bool) -> ChargerRow:
    connectors = [(c.connector_id, c.status) for c in cp.connectors if c.connector_id > 0]
    powers = [services.smart_charging.power_now_w(cp.id, n) for n, _ in connectors]
    known = [p for p in powers if p is not None]
    power_kw = round(sum(known) / 1000, 1) if known else None
    state, detail = _state(services, cp, connected, connectors)
    return ChargerRow(cp.id, cp.site_id, state, detail, power_kw, connectors)


def _state(
    services: Services, cp: ChargePoint, connected: bool, connectors: list[tuple[int, str]]
) -> tuple[str, str]:
    if cp.registration_status.value == "Pending":
        return "pending", "awaiting acceptance"
    if not connected:
        return "offline", "not connected"
    statuses = {status for _, status in connectors}
    if "Faulted" in statuses:
        return "faulted", "a connector reports Faulted"
    if statuses & CHARGING:
        reason = waiting_reason(services, cp)
        if reason is not None:
            return "waiting", WAITING_REASONS.get(reason, reason)
        return "charging", ""
    if "Preparing" in statuses:
        return "waiting", "a car is plugged in, no session yet"
    return "available", ""


def waiting_reason(services: Services, cp: ChargePoint) -> str | None:
    """Why the plan gives its session nothing now, if it does."""
    if cp.site_id is None:
        return None
    site_plan = services.smart_charging.current_plan(cp.site_id)
    if site_plan is None:
        return None
    for session_id, (charger, _, _) in site_plan.transactions.items():
        if charger == cp.id:
            reason = site_plan.waiting_reason(session_id)
            if reason is not None:
                return reason
    return None
