"""Scenario files: a site, its circuits, per-slot series and EV sessions, as one JSON object.

`parse_scenario` turns the decoded JSON (a dict) into a `Scenario` whose `request` is the
offline view: every session known in advance, over the whole horizon. `forecast_sessions`,
optional, are EVs expected to come (e.g. learned from earlier days), in the session format:
they become `Scenario.forecast`, sessions marked `expected`, never part of `request`; the
online `smart` strategy reserves room for those not yet due (see `charging/replay.py`).
Units in the file are the ones people use (kW, kWh, minutes, local times); the model gets
W, Wh, seconds and UTC. The format is documented with an example in docs/scenarios.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ampnexus.charging.model import (
    PHASES,
    Circuit,
    PlanRequest,
    Priority,
    Session,
    SiteSeries,
    SlotGrid,
    Weights,
)

DEFAULT_PEAK_WINDOW = (time(16, 0), time(19, 0))
SERIES_KEYS = {
    # file key: (SiteSeries field, factor from file unit to model unit)
    "base_load_kw": ("base_load_w", 1000.0),
    "solar_kw": ("solar_w", 1000.0),
    "import_price": ("import_price", 1.0),
    "export_price": ("export_price", 1.0),
    "carbon_g_per_kwh": ("carbon_g_per_kwh", 1.0),
    "cap_kw": ("cap_w", 1000.0),
}
TOP_KEYS = {
    "name",
    "site",
    "circuits",
    "slots",
    "series",
    "weights",
    "sessions",
    "forecast_sessions",
}
SITE_KEYS = {
    "id",
    "time_zone",
    "voltage",
    "phases",
    "limit_kw",
    "limit_a_per_phase",
    "safety_margin",
    "peak_window",
}
SESSION_KEYS = {
    "id",
    "circuit",
    "arrival",
    "departure",
    "energy_kwh",
    "max_kw",
    "min_kw",
    "phases",
    "priority",
}


class ScenarioError(ValueError):
    """The scenario is malformed; the message names the offending field."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    time_zone: ZoneInfo
    site_phases: int  # phases of the grid connection; base load and solar spread evenly on them
    peak_window: tuple[time, time]  # local time, [start, end)
    request: PlanRequest  # everything known in advance (the offline view)
    forecast: tuple[Session, ...] = ()  # expected sessions (`Session.expected`), a forecast

    @property
    def site_id(self) -> str:
        return next(c.id for c in self.request.circuits if c.parent_id is None)

    def in_peak_window(self, slot: int) -> bool:
        local = self.request.grid.slot_start(slot).astimezone(self.time_zone).time()
        start, end = self.peak_window
        return start <= local < end if start <= end else (local >= start or local < end)


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """Validate and convert a decoded scenario; raises ScenarioError on the first problem."""
    _only(data, TOP_KEYS, "")
    site = _mapping(_required(data, "site", ""), "site")
    _only(site, SITE_KEYS, "site")
    zone = _zone(_required(site, "time_zone", "site"))
    grid = _grid(_mapping(_required(data, "slots", ""), "slots"), zone)
    root = _root_circuit(site)
    circuits = (root, *_circuits(data.get("circuits", []), root.id))
    circuit_ids = {c.id for c in circuits}
    sessions = tuple(
        _session(item, f"sessions[{i}]", zone, circuit_ids)
        for i, item in enumerate(_sequence(data.get("sessions", []), "sessions"))
    )
    forecast = tuple(
        replace(_session(item, f"forecast_sessions[{i}]", zone, circuit_ids), expected=True)
        for i, item in enumerate(_sequence(data.get("forecast_sessions", []), "forecast_sessions"))
    )
    _unique([s.id for s in sessions], "sessions")
    _unique([s.id for s in (*sessions, *forecast)], "forecast_sessions")
    margin = _number(site.get("safety_margin", 0.0), "site.safety_margin")
    if not 0 <= margin < 1:
        raise ScenarioError("site.safety_margin: must be in [0, 1)")
    request = PlanRequest(
        grid=grid,
        circuits=circuits,
        sessions=sessions,
        series=_series(data.get("series", {}), grid.count),
        voltage=_positive(site.get("voltage", 230.0), "site.voltage"),
        safety_margin=margin,
        weights=_weights(data.get("weights", {})),
    )
    return Scenario(
        name=str(data.get("name", "scenario")),
        time_zone=zone,
        site_phases=_site_phases(site.get("phases", 3)),
        peak_window=_peak_window(site.get("peak_window")),
        request=request,
        forecast=forecast,
    )


# --- sections ----------------------------------------------------------------------------------
def _grid(slots: Mapping[str, Any], zone: ZoneInfo) -> SlotGrid:
    _only(slots, {"minutes", "start", "end"}, "slots")
    minutes = _positive(_required(slots, "minutes", "slots"), "slots.minutes")
    seconds = minutes * 60
    if seconds != int(seconds):
        raise ScenarioError("slots.minutes: must be a whole number of seconds")
    start = _instant(_required(slots, "start", "slots"), zone, "slots.start")
    end = _instant(_required(slots, "end", "slots"), zone, "slots.end")
    span = (end - start).total_seconds()
    if span <= 0:
        raise ScenarioError("slots.end: must be after slots.start")
    if span % seconds:
        raise ScenarioError("slots.end: the horizon must be a whole number of slots")
    return SlotGrid(start=start, slot_seconds=int(seconds), count=int(span // seconds))


def _root_circuit(site: Mapping[str, Any]) -> Circuit:
    limit_kw = site.get("limit_kw")
    limit_a = site.get("limit_a_per_phase")
    return Circuit(
        id=_text(site.get("id", "site"), "site.id"),
        parent_id=None,
        max_power_w=None if limit_kw is None else _positive(limit_kw, "site.limit_kw") * 1000,
        max_current_a=None if limit_a is None else _positive(limit_a, "site.limit_a_per_phase"),
    )


def _circuits(items: Any, root_id: str) -> list[Circuit]:
    circuits: list[Circuit] = []
    for i, item in enumerate(_sequence(items, "circuits")):
        where = f"circuits[{i}]"
        entry = _mapping(item, where)
        _only(entry, {"id", "parent", "limit_kw", "limit_a"}, where)
        limit_kw, limit_a = entry.get("limit_kw"), entry.get("limit_a")
        circuits.append(
            Circuit(
                id=_text(_required(entry, "id", where), f"{where}.id"),
                parent_id=_text(entry.get("parent", root_id), f"{where}.parent"),
                max_power_w=None
                if limit_kw is None
                else _positive(limit_kw, f"{where}.limit_kw") * 1000,
                max_current_a=None if limit_a is None else _positive(limit_a, f"{where}.limit_a"),
            )
        )
    _unique([root_id, *(c.id for c in circuits)], "circuits")
    _check_tree(circuits, root_id)
    return circuits


def _check_tree(circuits: Sequence[Circuit], root_id: str) -> None:
    """Every circuit must reach the site through known parents, without cycles."""
    parents = {c.id: c.parent_id for c in circuits}
    for circuit in circuits:
        seen = {circuit.id}
        node = circuit.parent_id
        while node != root_id:
            if node not in parents:
                raise ScenarioError(f"circuits: {circuit.id} has unknown parent {node}")
            if node in seen:
                raise ScenarioError(f"circuits: {circuit.id} is part of a cycle")
            seen.add(node)
            node = parents[node]


def _session(item: Any, where: str, zone: ZoneInfo, circuit_ids: set[str]) -> Session:
    entry = _mapping(item, where)
    _only(entry, SESSION_KEYS, where)
    arrival = _instant(_required(entry, "arrival", where), zone, f"{where}.arrival")
    departure = _instant(_required(entry, "departure", where), zone, f"{where}.departure")
    if departure <= arrival:
        raise ScenarioError(f"{where}.departure: must be after arrival")
    circuit = _text(_required(entry, "circuit", where), f"{where}.circuit")
    if circuit not in circuit_ids:
        raise ScenarioError(f"{where}.circuit: unknown circuit {circuit}")
    max_kw = _positive(_required(entry, "max_kw", where), f"{where}.max_kw")
    min_kw = _non_negative(entry.get("min_kw", 0.0), f"{where}.min_kw")
    if min_kw > max_kw:
        raise ScenarioError(f"{where}.min_kw: must not exceed max_kw")
    return Session(
        id=_text(_required(entry, "id", where), f"{where}.id"),
        circuit_id=circuit,
        arrival=arrival,
        departure=departure,
        energy_wh=_non_negative(_required(entry, "energy_kwh", where), f"{where}.energy_kwh")
        * 1000,
        max_power_w=max_kw * 1000,
        min_power_w=min_kw * 1000,
        phases=_phases(entry.get("phases", [1, 2, 3]), f"{where}.phases"),
        priority=_priority(entry.get("priority", "standard"), f"{where}.priority"),
    )


def _series(section: Any, count: int) -> SiteSeries:
    """Each series is one number (constant) or a list of one number per slot."""
    entries = _mapping(section, "series")
    _only(entries, set(SERIES_KEYS), "series")
    values: dict[str, tuple[float, ...]] = {}
    for key, raw in entries.items():
        field_name, factor = SERIES_KEYS[key]
        where = f"series.{key}"
        if isinstance(raw, list):
            if len(raw) != count:
                raise ScenarioError(f"{where}: has {len(raw)} values, the horizon {count} slots")
            numbers = [_number(v, f"{where}[{i}]") for i, v in enumerate(raw)]
        else:
            numbers = [_number(raw, where)] * count
        if key != "export_price" and key != "import_price" and min(numbers) < 0:
            raise ScenarioError(f"{where}: must not be negative")
        values[field_name] = tuple(v * factor for v in numbers)
    return SiteSeries(**values)


def _weights(section: Any) -> Weights:
    entries = _mapping(section, "weights")
    keys = {"carbon_per_kg", "demand_charge_per_kw", "unmet_per_kwh", "defer_risk_per_hour"}
    _only(entries, keys, "weights")
    return Weights(
        **{key: _non_negative(value, f"weights.{key}") for key, value in entries.items()}
    )


# --- fields ------------------------------------------------------------------------------------
def _zone(value: Any) -> ZoneInfo:
    try:
        return ZoneInfo(_text(value, "site.time_zone"))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ScenarioError(f"site.time_zone: unknown time zone {value!r}") from error


def _instant(value: Any, zone: ZoneInfo, where: str) -> datetime:
    """ISO 8601; without an offset it is the site's local time. Returned in UTC."""
    try:
        moment = datetime.fromisoformat(_text(value, where))
    except ValueError as error:
        raise ScenarioError(f"{where}: not an ISO 8601 time: {value!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _peak_window(value: Any) -> tuple[time, time]:
    if value is None:
        return DEFAULT_PEAK_WINDOW
    items = _sequence(value, "site.peak_window")
    if len(items) != 2:
        raise ScenarioError('site.peak_window: expected ["HH:MM", "HH:MM"]')
    try:
        return time.fromisoformat(str(items[0])), time.fromisoformat(str(items[1]))
    except ValueError as error:
        raise ScenarioError(f"site.peak_window: {error}") from error


def _phases(value: Any, where: str) -> tuple[int, ...]:
    items = _sequence(value, where)
    if not items or any(p not in PHASES for p in items) or len(set(items)) != len(items):
        raise ScenarioError(f"{where}: expected distinct phases among 1, 2, 3")
    return tuple(sorted(int(p) for p in items))


def _site_phases(value: Any) -> int:
    if value not in (1, 3) or isinstance(value, bool):
        raise ScenarioError("site.phases: must be 1 or 3")
    return int(value)


def _priority(value: Any, where: str) -> Priority:
    try:
        return Priority[_text(value, where).upper()]
    except KeyError as error:
        raise ScenarioError(f"{where}: expected 'standard' or 'premium'") from error


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _positive(value: Any, where: str) -> float:
    number = _number(value, where)
    if number <= 0:
        raise ScenarioError(f"{where}: must be positive")
    return number


def _non_negative(value: Any, where: str) -> float:
    number = _number(value, where)
    if number < 0:
        raise ScenarioError(f"{where}: must not be negative")
    return number


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where or 'scenario'}: expected an object")
    return value


def _sequence(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: expected a list")
    return value


def _required(entries: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entries:
        raise ScenarioError(f"{where + '.' if where else ''}{key}: missing")
    return entries[key]


def _only(entries: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(entries) - allowed)
    if unknown:
        raise ScenarioError(f"{where or 'scenario'}: unknown field(s) {', '.join(unknown)}")


def _unique(ids: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ScenarioError(f"{where}: duplicate id {item}")
        seen.add(item)
