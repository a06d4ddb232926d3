"""Chargers: the list (with the ones awaiting acceptance), and one charger's page an operator
can work from: its connectors and sessions live, its charging mode, the commands it takes,
its configuration keys, and what it reported. Actions call the same services as the REST
API; forms are checked by the domain's rules and the bounds the API and OCPP set."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ampnexus.domain.alert import Alert
from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_mode import (
    DAY_NAMES,
    DEFAULT_PEAK_WINDOWS,
    RANDOM_DELAY_DEFAULT_S,
    RANDOM_DELAY_LIMIT_S,
    ChargingMode,
    EffectiveMode,
    ModeChange,
    ModeChoice,
    ModeSettings,
    RegulationSettings,
    ScheduleSettings,
    WeeklyWindow,
    mode_named,
    parse_window,
    settings_for,
)
from ampnexus.domain.commands import Availability, ResetKind
from ampnexus.domain.errors import DomainError, Invalid, NotFound
from ampnexus.domain.site import Site
from ampnexus.domain.transaction import Transaction, import_register_wh
from ampnexus.domain.user import Role
from ampnexus.portal.auth import Operator, Signed, Viewer
from ampnexus.portal.pages.dashboard import (
    PAGE,
    WAITING_REASONS,
    ChargerRow,
    charger_row,
    waiting_reason,
)
from ampnexus.portal.render import done, failed, form, form_lists, page, templates
from ampnexus.services.ports import StatusRecord

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()

# What a form may hold, as the API and OCPP 1.6 bound it.
TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # site-local HH:MM
WINDOWS_MAX = 50
ENERGY_MAX_KWH = 1e6
INT32_MAX = 2**31 - 1
ID_TAG_MAX = 20  # CiString20
CONFIG_KEY_MAX, CONFIG_VALUE_MAX = 50, 500
HISTORY_ROWS = 50  # status notifications and mode changes shown: the latest ones
ALERT_ROWS = 20
SPARE_WINDOW_ROWS = 2  # empty window rows the mode form offers beyond the current ones
MODE_LABELS = {
    ChargingMode.SMART: "Smart (the planner decides: tariffs, solar, limits)",
    ChargingMode.REGULATION_COMPLIANCE: "Regulation compliance (UK Smart Charge Points "
    "Regulations: no charging in peak hours, a random delay)",
    ChargingMode.SCHEDULE: "Schedule (charges only inside its windows)",
    ChargingMode.PLUG_AND_CHARGE: "Plug and charge (full power as soon as a car plugs in)",
    ChargingMode.USER_CONTROLLED: "User controlled (starts and stops only when told)",
}
DASH = "\u2013"  # en dash, for ranges of days and times


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
    can_act = _can_act(signed)
    return page(
        request, "charge_points.html", signed, nav="charge_points", rows=rows, can_act=can_act
    )


@router.get("/fragments/charge-points", response_class=HTMLResponse)
async def list_fragment(request: Request, signed: Viewer) -> Response:
    rows = await _list(request.app.state.services)
    return page(request, "_charge_points.html", signed, rows=rows, can_act=_can_act(signed))


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
        return _failed(request, error, back)
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


@dataclass
class ModePart:
    effective: EffectiveMode
    history: list[ModeChange]
    zone: str | None


@router.get("/charge-points/{charge_point_id}", response_class=HTMLResponse)
async def charger_page(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    try:
        live = await _live(services, charge_point_id)
    except NotFound as error:
        missing = _sentence(error)
        return page(request, "charge_point_missing.html", signed, status=404, message=missing)
    placement = await services.sites.placement(charge_point_id)
    site = await _site(services, live.charger.site_id)
    mode = await _mode_part(services, charge_point_id, live.zone)
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
        form=_mode_form(mode.effective),
        modes=MODE_LABELS,
        days=DAY_NAMES,
        statuses=statuses,
        zone=live.zone,
        can_act=_can_act(signed),
    )


@router.get("/fragments/charge-points/{charge_point_id}", response_class=HTMLResponse)
async def live_fragment(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    try:
        live = await _live(request.app.state.services, charge_point_id)
    except NotFound as error:
        return _failed(request, error, "/charge-points")
    return page(
        request,
        "_charge_point_live.html",
        signed,
        live=live,
        can_act=_can_act(signed),
    )


@router.get("/fragments/charge-points/{charge_point_id}/mode", response_class=HTMLResponse)
async def mode_fragment(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    try:
        charger = (await services.charge_points.get(charge_point_id)).charge_point
    except NotFound as error:
        return _failed(request, error, "/charge-points")
    zone = await _zone(services, charger.site_id)
    mode = await _mode_part(services, charge_point_id, zone)
    can_act = _can_act(signed)
    return page(request, "_charge_point_mode.html", signed, mode=mode, can_act=can_act)


@router.get("/fragments/charge-points/{charge_point_id}/history", response_class=HTMLResponse)
async def history_fragment(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    services: Services = request.app.state.services
    try:
        charger = (await services.charge_points.get(charge_point_id)).charge_point
    except NotFound as error:
        return _failed(request, error, "/charge-points")
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


async def _mode_part(services: Services, charge_point_id: str, zone: str | None) -> ModePart:
    effective = await services.modes.effective(charge_point_id)
    history = await services.modes.history(charge_point_id, HISTORY_ROWS, 0)
    return ModePart(effective, list(history.items), zone)


async def _site(services: Services, site_id: str | None) -> Site | None:
    if site_id is None:
        return None
    with contextlib.suppress(NotFound):
        return await services.sites.get(site_id)
    return None


async def _zone(services: Services, site_id: str | None) -> str | None:
    site = await _site(services, site_id)
    return None if site is None else site.time_zone


# --- the charging mode ---------------------------------------------------------------------
@dataclass
class WindowRow:
    days: list[str]
    start: str
    end: str


@dataclass
class ModeForm:
    """The mode form filled in with what is set now (or the Regulations' defaults)."""

    mode: str
    peak_windows: list[WindowRow]
    random_delay_max_s: int
    charger_applies_delay: bool
    windows: list[WindowRow]
    energy_kwh: float | None


def _rows(windows: tuple[WeeklyWindow, ...]) -> list[WindowRow]:
    filled = [
        WindowRow(w.day_names, w.start.strftime("%H:%M"), w.end.strftime("%H:%M")) for w in windows
    ]
    return filled + [WindowRow([], "", "") for _ in range(SPARE_WINDOW_ROWS)]


def _mode_form(effective: EffectiveMode) -> ModeForm:
    settings = effective.settings
    regulation = settings if isinstance(settings, RegulationSettings) else None
    schedule = settings if isinstance(settings, ScheduleSettings) else None
    energy = schedule.energy_wh if schedule else None
    return ModeForm(
        mode=effective.mode.value,
        peak_windows=_rows(regulation.peak_windows if regulation else DEFAULT_PEAK_WINDOWS),
        random_delay_max_s=regulation.random_delay_max_s if regulation else RANDOM_DELAY_DEFAULT_S,
        charger_applies_delay=bool(regulation and regulation.charger_applies_delay),
        windows=_rows(schedule.windows if schedule else ()),
        energy_kwh=None if energy is None else energy / 1000,
    )


@router.post("/charge-points/{charge_point_id}/mode")
async def set_mode(request: Request, charge_point_id: str, signed: Operator) -> Response:
    back = f"/charge-points/{charge_point_id}"
    services: Services = request.app.state.services
    try:
        mode, settings = _mode_choice(await form_lists(request))
        effective = await services.modes.set(charge_point_id, mode, settings, _who(signed))
    except DomainError as error:
        return _failed(request, error, back)
    return done(request, f"{charge_point_id} is now in {_mode_text(effective)}.", back)


@router.post("/charge-points/{charge_point_id}/mode/clear")
async def clear_mode(request: Request, charge_point_id: str, signed: Operator) -> Response:
    back = f"/charge-points/{charge_point_id}"
    services: Services = request.app.state.services
    try:
        effective = await services.modes.clear(charge_point_id, _who(signed))
    except DomainError as error:
        return _failed(request, error, back)
    return done(
        request, f"{charge_point_id} follows its site again: {_mode_text(effective)}.", back
    )


def _mode_choice(fields: dict[str, list[str]]) -> tuple[ChargingMode, ModeSettings | None]:
    """The mode and the settings of it the form gives, checked as the API checks them (the
    domain's rules, plus what a form adds: times as HH:MM, numbers as text). Blank settings
    take the Regulations' defaults; the other modes' fields are ignored (hidden)."""

    def one(name: str) -> str:
        return (fields.get(name) or [""])[-1].strip()

    mode = mode_named(one("mode"))
    if mode is ChargingMode.REGULATION_COMPLIANCE:
        delay = one("random_delay_max_s")
        return mode, settings_for(
            mode,
            peak_windows=_windows_of(fields, "peak", "Peak window"),
            random_delay_max_s=None if not delay else _random_delay(delay),
            charger_applies_delay=one("charger_applies_delay") == "on",
        )
    if mode is ChargingMode.SCHEDULE:
        windows = _windows_of(fields, "window", "Window")
        if not windows:
            raise Invalid("A schedule needs at least one window: fill in a window's days and times")
        energy = one("energy_kwh")
        return mode, settings_for(
            mode, windows=windows, energy_wh=None if not energy else _energy_kwh(energy) * 1000
        )
    return mode, None


def _windows_of(fields: dict[str, list[str]], prefix: str, label: str) -> list[WeeklyWindow] | None:
    """Window rows `{prefix}{n}_days|start|end`; a row left wholly blank is no window, so
    blanking every row means none. No rows sent at all: None (the Regulations' defaults)."""
    windows: list[WeeklyWindow] = []
    n = 0
    while any(f"{prefix}{n}_{part}" in fields for part in ("days", "start", "end")):
        days = fields.get(f"{prefix}{n}_days", [])
        start = (fields.get(f"{prefix}{n}_start") or [""])[-1].strip()
        end = (fields.get(f"{prefix}{n}_end") or [""])[-1].strip()
        n += 1
        if not (days or start or end):
            continue
        if not days:
            raise Invalid(f"{label} {n}: tick at least one day")
        for moment, which in ((start, "start"), (end, "end")):
            if not TIME_OF_DAY.match(moment):
                raise Invalid(f"{label} {n} {which}: give a time of day as HH:MM (00:00 to 23:59)")
        windows.append(parse_window(days, start, end))
    if len(windows) > WINDOWS_MAX:
        raise Invalid(f"At most {WINDOWS_MAX} windows")
    return windows if n else None


def _random_delay(text: str) -> int:
    delay = _whole(text, "Maximum random delay")
    if not 0 <= delay <= RANDOM_DELAY_LIMIT_S:
        raise Invalid(
            f"Maximum random delay must be 0 to {RANDOM_DELAY_LIMIT_S} s (the Regulations' "
            f"limit), got {delay}"
        )
    return delay


def _energy_kwh(text: str) -> float:
    try:
        energy = float(text)
    except ValueError:
        raise Invalid(f"Energy per session must be a number of kWh, got {text!r}") from None
    if not (math.isfinite(energy) and 0 < energy <= ENERGY_MAX_KWH):
        raise Invalid(f"Energy per session must be more than 0 kWh, at most {ENERGY_MAX_KWH:g}")
    return energy


def _whole(text: str, what: str, least: int = 0) -> int:
    """A whole number from a form field, from `least` to OCPP's integer limit."""
    try:
        number = int(text.strip())
    except ValueError:
        raise Invalid(f"{what} must be a whole number, got {text!r}") from None
    if not least <= number <= INT32_MAX:
        raise Invalid(f"{what} must be {least} or more, got {number}")
    return number


def _can_act(signed: Signed) -> bool:
    """Whether to show action forms (the routes refuse a viewer anyway)."""
    return signed.user.role.covers(Role.OPERATOR)


def _who(signed: Signed) -> str:
    """Recorded as who changed it, as the API records its key's name."""
    return f"portal:{signed.user.email}"


def _mode_text(effective: EffectiveMode) -> str:
    return f"{effective.mode.value.replace('_', ' ')} ({effective.source.value})"


def window_text(window: WeeklyWindow) -> str:
    days = window.day_names
    if len(days) == 7:
        named = "every day"
    elif days == list(DAY_NAMES[:5]):
        named = f"mon{DASH}fri"
    elif days == list(DAY_NAMES[5:]):
        named = f"sat{DASH}sun"
    else:
        named = ", ".join(days)
    return f"{named} {window.start:%H:%M}{DASH}{window.end:%H:%M}"


def settings_text(choice: ModeChoice | EffectiveMode | None) -> str:
    """A mode's settings in a line, e.g. "no charging mon-fri 16:00-22:00; random delay up to
    600 s" (with en dashes)."""
    settings = None if choice is None else choice.settings
    if isinstance(settings, RegulationSettings):
        peaks = ", ".join(window_text(w) for w in settings.peak_windows) or "no peak hours"
        delay = (
            "the charger delays by itself"
            if settings.charger_applies_delay
            else f"random delay up to {settings.random_delay_max_s} s"
        )
        return f"no charging {peaks}; {delay}"
    if isinstance(settings, ScheduleSettings):
        windows = ", ".join(window_text(w) for w in settings.windows)
        energy = "" if settings.energy_wh is None else f"; {settings.energy_wh / 1000:g} kWh"
        return f"charges {windows}{energy}"
    return ""


templates.env.filters["window_text"] = window_text
templates.env.filters["settings_text"] = settings_text


# --- commands --------------------------------------------------------------------------------
@router.post("/charge-points/{charge_point_id}/remote-start")
async def remote_start(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services

    async def send() -> Any:
        id_tag = _text(fields.get("id_tag", ""), "Id tag", ID_TAG_MAX, least=1)
        connector = fields.get("connector_id", "").strip()
        connector_id = _whole(connector, "Connector id", least=1) if connector else None
        return await services.commands.remote_start(
            charge_point_id, id_tag, connector_id, None, _who(signed)
        )

    return await _command(request, charge_point_id, "Remote start", send)


@router.post("/charge-points/{charge_point_id}/remote-stop")
async def remote_stop(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services

    async def send() -> Any:
        text = fields.get("transaction_id", "")
        transaction_id = _whole(text, "Session", least=-INT32_MAX - 1)
        return await services.commands.remote_stop(charge_point_id, transaction_id)

    return await _command(request, charge_point_id, "Remote stop", send)


@router.post("/charge-points/{charge_point_id}/reset")
async def reset(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services
    kind = fields.get("type", "")

    async def send() -> Any:
        return await services.commands.reset(charge_point_id, _choice(ResetKind, kind))

    return await _command(request, charge_point_id, f"{kind} reset", send)


@router.post("/charge-points/{charge_point_id}/unlock")
async def unlock(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services

    async def send() -> Any:
        connector_id = _whole(fields.get("connector_id", ""), "Connector id", least=1)
        return await services.commands.unlock(charge_point_id, connector_id)

    return await _command(request, charge_point_id, "Unlock", send)


@router.post("/charge-points/{charge_point_id}/availability")
async def availability(request: Request, charge_point_id: str, signed: Operator) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services

    async def send() -> Any:
        connector_id = _whole(fields.get("connector_id", ""), "Connector id")
        wanted = _choice(Availability, fields.get("type", ""))
        return await services.commands.change_availability(charge_point_id, connector_id, wanted)

    return await _command(request, charge_point_id, "Change availability", send)


@router.post("/charge-points/{charge_point_id}/configuration")
async def change_configuration(
    request: Request, charge_point_id: str, signed: Operator
) -> Response:
    fields = await form(request)
    services: Services = request.app.state.services
    key = fields.get("key", "").strip()

    async def send() -> Any:
        checked = _text(key, "Key", CONFIG_KEY_MAX, least=1)
        value = _text(fields.get("value", ""), "Value", CONFIG_VALUE_MAX)
        return await services.commands.change_configuration(charge_point_id, checked, value)

    return await _command(request, charge_point_id, f"Setting {key}", send)


def _text(text: str, what: str, most: int, least: int = 0) -> str:
    """A field within OCPP's length for it (CiString20 for an id tag, ...)."""
    if not least <= len(text) <= most:
        raise Invalid(f"{what} must be {least} to {most} characters, got {len(text)}")
    return text


E = TypeVar("E", bound=StrEnum)


def _choice(kind: type[E], text: str) -> E:
    try:
        return kind(text)
    except ValueError:
        raise Invalid(f"Choose one of {', '.join(k.value for k in kind)}") from None


@router.get("/fragments/charge-points/{charge_point_id}/configuration", response_class=HTMLResponse)
async def configuration(request: Request, charge_point_id: str, signed: Viewer) -> Response:
    """GetConfiguration, asked when someone presses the button: the charger's keys now."""
    services: Services = request.app.state.services
    back = f"/charge-points/{charge_point_id}"
    try:
        read = await services.commands.get_configuration(charge_point_id, None)
    except DomainError as error:
        return _failed(request, error, back)
    keys = sorted(read.values.items(), key=lambda item: item[0].lower())
    return page(request, "_charge_point_config.html", signed, keys=keys, read_only=read.read_only)


async def _command(
    request: Request, charge_point_id: str, what: str, send: Callable[[], Awaitable[Any]]
) -> Response:
    """Send a command and say what the charger answered (in its own words), or why not."""
    back = f"/charge-points/{charge_point_id}"
    try:
        answer = await send()
    except DomainError as error:
        return _failed(request, error, back)
    status = answer.as_sent.get("status") or answer.status.value
    return done(request, f"{what}: {charge_point_id} answered {status}.", back)


def _failed(request: Request, error: DomainError, back: str) -> Response:
    """The service's reason, as a sentence; an unknown charger is a 404."""
    if isinstance(error, NotFound):
        return done(request, _sentence(error), back, ok=False, status=404)
    return failed(request, _sentence(error), back)


def _sentence(error: DomainError) -> str:
    text = str(error)
    return f"{text[:1].upper()}{text[1:]}."
