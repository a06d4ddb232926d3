"""Chargers: the list (with the ones awaiting acceptance), and one charger's page an operator
can work from: its connectors and sessions live, why it waits, its alerts and what it
reported. The page's mode part is `charger_mode`, its commands `charger_commands`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.alert import Alert
from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_mode import (
    DAY_NAMES,
)
from ampnexus.domain.errors import DomainError, NotFound
from ampnexus.domain.site import Site
from ampnexus.domain.transaction import Transaction, import_register_wh
from ampnexus.domain.user import Role
from ampnexus.portal.auth import Operator, Viewer, may
from ampnexus.portal.pages.charger_mode import (
    HISTORY_ROWS,
    MODE_LABELS,
    mode_form,
    mode_part,
)
from ampnexus.portal.pages.dashboard import (
    PAGE,
    WAITING_REASONS,
    ChargerRow,
    charger_row,
    waiting_reason,
)
from ampnexus.portal.render import (
    done,
    failed,
    failed_for,
    form,
    page,
    sentence,
)
from ampnexus.services.ports import StatusRecord

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()

ALERT_ROWS = 20


# --- the list ------------------------------------------------------------------------------
@dataclass
class ListRow:
    row: ChargerRow
    charger: ChargePoint
    connected: bool
    zone: str | None  # its site's time zone: times as the people there read them


@router.get("/charge-points", response_class=HTMLResponse)
async def list_page(request: Request, signed: Viewer) -> Response:
    rows = await _list(request.app.state.services)
    can_act = may(signed, Role.OPERATOR)
    return page(
        request, "charge_points.html", signed, nav="charge_points", rows=rows, can_act=can_act
    )


@router.get("/fragments/charge-points", response_class=HTMLResponse)
async def list_fragment(request: Request, signed: Viewer) -> Response:
    rows = await _list(request.app.state.services)
    return page(
        request, "_charge_points.html", signed, rows=rows, can_act=may(signed, Role.OPERATOR)
    )


async def _list(services: Services) -> list[ListRow]:
    zones = {s.id: s.time_zone for s in (await services.sites.list(PAGE, 0)).items}
    views = (await services.charge_points.list(PAGE, 0)).items
    return [
        ListRow(
            charger_row(services, v.charge_point, v.connected),
            v.charge_point,
            v.connected,
            zones.get(v.charge_point.site_id or ""),
        )
        for v in views
    ]


@router.post("/charge-points/{charge_point_id}/registration")
async def registration(request: Request, charge_point_id: str, signed: Operator) -> Response:
    """Accept or reject a charger (a Pending one, usually): as PATCH registration_status
    does, so a connected charger is asked to boot again."""
    status = (await form(request)).get("status", "")
    back = "/charge-points"
    if status not in (RegistrationStatus.ACCEPTED, RegistrationStatus.REJECTED):
        return failed(request, "Choose Accepted or Rejected.", back)
    services: Services = request.app.state.services
    try:
        await services.charge_points.update(charge_point_id, {"registration_status": status})
    except DomainError as error:
        return failed_for(request, error, back)
    return done(request, f"{charge_point_id} is now {status}.", back)


# --- one charger ---------------------------------------------------------------------------
@dataclass
class ConnectorNow:
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_error_code: str | None
    power_w: float | None


@dataclass
class SessionNow:
    transaction: Transaction
    energy_wh: float | None  # from its latest register reading; None before one arrives


@dataclass
class Live:
    """What changes as the charger talks: reloaded on every nudge of the event feed."""

    row: ChargerRow
    charger: ChargePoint
    connected: bool
    zone: str | None
    connectors: list[ConnectorNow]
    sessions: list[SessionNow]
    waiting: str | None
    alerts: list[Alert]


@router.get("/charge-points/{charge_point_id}", response_class=HTMLResponse)
async def charger_page(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    try:
        live = await _live(services, charge_point_id)
    except NotFound as error:
        missing = sentence(error)
        return page(request, "charge_point_missing.html", signed, status=404, message=missing)
    placement = await services.sites.placement(charge_point_id)
    site = await _site(services, live.charger.site_id)
    mode = await mode_part(services, charge_point_id, live.zone)
    statuses = await _statuses(services, charge_point_id)
    return page(
        request,
        "charge_point.html",
        signed,
        nav="charge_points",
        live=live,
        mode=mode,
        placement=placement,
        site=site,
        form=mode_form(mode.effective),
        modes=MODE_LABELS,
        days=DAY_NAMES,
        statuses=statuses,
        zone=live.zone,
        can_act=may(signed, Role.OPERATOR),
    )


@router.get("/fragments/charge-points/{charge_point_id}", response_class=HTMLResponse)
async def live_fragment(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    try:
        live = await _live(request.app.state.services, charge_point_id)
    except NotFound as error:
        return failed_for(request, error, "/charge-points")
    return page(
        request,
        "_charge_point_live.html",
        signed,
        live=live,
        can_act=may(signed, Role.OPERATOR),
    )


@router.get("/fragments/charge-points/{charge_point_id}/mode", response_class=HTMLResponse)
async def mode_fragment(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    try:
        charger = (await services.charge_points.get(charge_point_id)).charge_point
    except NotFound as error:
        return failed_for(request, error, "/charge-points")
    zone = await _zone(services, charger.site_id)
    mode = await mode_part(services, charge_point_id, zone)
    can_act = may(signed, Role.OPERATOR)
    return page(request, "_charge_point_mode.html", signed, mode=mode, can_act=can_act)


@router.get("/fragments/charge-points/{charge_point_id}/history", response_class=HTMLResponse)
async def history_fragment(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    try:
        charger = (await services.charge_points.get(charge_point_id)).charge_point
    except NotFound as error:
        return failed_for(request, error, "/charge-points")
    zone = await _zone(services, charger.site_id)
    statuses = await _statuses(services, charge_point_id)
    return page(request, "_charge_point_history.html", signed, statuses=statuses, zone=zone)


async def _statuses(services: Services, charge_point_id: str) -> list[StatusRecord]:
    """The latest StatusNotifications, newest first (errors among them stand out)."""
    return list(
        (await services.charge_points.status_history(charge_point_id, HISTORY_ROWS, 0)).items
    )


async def _live(services: Services, charge_point_id: str) -> Live:
    view = await services.charge_points.get(charge_point_id)
    charger = view.charge_point
    zone = await _zone(services, charger.site_id)
    row = charger_row(services, charger, view.connected)
    connectors = [
        ConnectorNow(
            c.connector_id,
            c.status,
            c.error_code,
            c.info,
            c.vendor_error_code,
            services.smart_charging.power_now_w(charger.id, c.connector_id),
        )
        for c in charger.connectors
    ]
    running = await services.transactions.active_on([charger.id])
    sessions = [await _session_now(services, t) for t in running]
    reason = waiting_reason(services, charger) if row.state != "charging" else None
    alerts = await services.alerts.list(
        open_only=True, charge_point_id=charger.id, limit=ALERT_ROWS
    )
    return Live(
        row,
        charger,
        view.connected,
        zone,
        connectors,
        sessions,
        reason and WAITING_REASONS.get(reason, reason),
        list(alerts.items),
    )


async def _session_now(services: Services, running: Transaction) -> SessionNow:
    """Its energy so far: the latest import register reading less the start's."""
    readings = (await services.transactions.get(running.id)).meter_values
    for reading in reversed(readings):
        register = import_register_wh(reading)
        if register is not None:
            return SessionNow(running, max(0.0, register - running.meter_start))
    return SessionNow(running, None)


async def _site(services: Services, site_id: str | None) -> Site | None:
    if site_id is None:
        return None
    with contextlib.suppress(NotFound):
        return await services.sites.get(site_id)
    return None


async def _zone(services: Services, site_id: str | None) -> str | None:
    site = await _site(services, site_id)
    return None if site is None else site.time_zone
