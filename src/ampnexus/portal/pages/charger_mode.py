"""A charger's charging mode on its page: what is in force and where it comes from, its
history, and the form that sets a mode with its settings (peak hours and random delay,
schedule windows), checked by the domain's rules as the API checks them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

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
from ampnexus.domain.errors import DomainError, Invalid
from ampnexus.portal.auth import Operator, changed_by
from ampnexus.portal.fields import whole
from ampnexus.portal.render import (
    done,
    failed_for,
    form_lists,
    templates,
)

if TYPE_CHECKING:
    from ampnexus.app import Services

router = APIRouter()

TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # site-local HH:MM
WINDOWS_MAX = 50
ENERGY_MAX_KWH = 1e6
HISTORY_ROWS = 50  # mode changes (and status notifications) shown: the latest ones
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


@dataclass
class ModePart:
    effective: EffectiveMode
    history: list[ModeChange]
    zone: str | None


async def mode_part(services: Services, charge_point_id: str, zone: str | None) -> ModePart:
    effective = await services.modes.effective(charge_point_id)
    history = await services.modes.history(charge_point_id, HISTORY_ROWS, 0)
    return ModePart(effective, list(history.items), zone)


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


def mode_form(effective: EffectiveMode) -> ModeForm:
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
        effective = await services.modes.set(charge_point_id, mode, settings, changed_by(signed))
    except DomainError as error:
        return failed_for(request, error, back)
    return done(request, f"{charge_point_id} is now in {_mode_text(effective)}.", back)


@router.post("/charge-points/{charge_point_id}/mode/clear")
async def clear_mode(request: Request, charge_point_id: str, signed: Operator) -> Response:
    back = f"/charge-points/{charge_point_id}"
    services: Services = request.app.state.services
    try:
        effective = await services.modes.clear(charge_point_id, changed_by(signed))
    except DomainError as error:
        return failed_for(request, error, back)
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
    delay = whole(text, "Maximum random delay")
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
