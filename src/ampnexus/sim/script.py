"""Scripted events: what happens to which charge point, and when.

A script is a JSON file (or the same structure built in Python):

    {"events": [
      {"at": 0,    "charger": "SIM-0001", "action": "plug_in", "connector": 1,
                   "ev": {"capacity_kwh": 60, "soc": 25, "max_power_kw": 11, "departure_in": 7200}},
      {"at": 5,    "charger": "SIM-0001", "action": "present_tag", "id_tag": "CARD-1"},
      {"at": 600,  "action": "go_offline"},
      {"at": 900,  "action": "come_back"},
      {"at": 1200, "charger": "SIM-0002", "action": "fault", "error_code": "GroundFailure"},
      {"at": 1800, "charger": "SIM-0002", "action": "reboot", "hard": true}
    ]}

`at` is in simulated seconds from the script's start; an event without `charger` applies to
every charge point; `connector` defaults to 1.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ampnexus.sim.charge_point import SimChargePoint
from ampnexus.sim.clock import SimClock
from ampnexus.sim.ev import EV

Action = Callable[[SimChargePoint, "Event"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    action: str
    charger: str | None = None  # None: every charge point
    connector: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; known: {', '.join(ACTIONS)}")
        if self.at < 0:
            raise ValueError("an event's time `at` must not be negative")


def ev_from(params: Mapping[str, Any], cp: SimChargePoint) -> EV:
    """An EV from a script's `ev` object; `departure_in` counts from the moment it plugs in."""
    departure_in = params.get("departure_in")
    return EV(
        capacity_kwh=float(params.get("capacity_kwh", 60.0)),
        soc=float(params.get("soc", 20.0)),
        max_power_w=float(params.get("max_power_kw", 11.0)) * 1000.0,
        departure=(
            cp.clock.now() + timedelta(seconds=float(departure_in)) if departure_in else None
        ),
    )


async def _plug_in(cp: SimChargePoint, event: Event) -> None:
    await cp.plug_in(event.connector, ev_from(event.params.get("ev", {}), cp))


async def _present_tag(cp: SimChargePoint, event: Event) -> None:
    await cp.present_tag(event.connector, str(event.params["id_tag"]))


async def _fault(cp: SimChargePoint, event: Event) -> None:
    await cp.fault(event.connector, str(event.params.get("error_code", "OtherError")))


ACTIONS: dict[str, Action] = {
    "plug_in": _plug_in,
    "present_tag": _present_tag,
    "unplug": lambda cp, event: cp.unplug(event.connector),
    "fault": _fault,
    "clear_fault": lambda cp, event: cp.clear_fault(event.connector),
    "go_offline": lambda cp, event: cp.go_offline(),
    "come_back": lambda cp, event: cp.come_back(),
    "reboot": lambda cp, event: cp.reboot(hard=bool(event.params.get("hard", False))),
}


def parse_script(document: Mapping[str, Any]) -> list[Event]:
    events = document.get("events")
    if not isinstance(events, list):
        raise ValueError('a script is {"events": [...]}')
    parsed = []
    for number, item in enumerate(events, 1):
        if not isinstance(item, dict) or "at" not in item or "action" not in item:
            raise ValueError(f"event {number} needs at least `at` and `action`")
        params = {
            k: v for k, v in item.items() if k not in ("at", "action", "charger", "connector")
        }
        parsed.append(
            Event(
                at=float(item["at"]),
                action=item["action"],
                charger=item.get("charger"),
                connector=int(item.get("connector", 1)),
                params=params,
            )
        )
    return sorted(parsed, key=lambda event: event.at)


def load_script(path: str | Path) -> list[Event]:
    return parse_script(json.loads(Path(path).read_text(encoding="utf-8")))


def check_script(events: list[Event], charge_point_ids: Iterable[str]) -> None:
    unknown = {e.charger for e in events if e.charger is not None} - set(charge_point_ids)
    if unknown:
        raise ValueError(f"the script names charge points not simulated: {sorted(unknown)}")


async def run_script(
    events: list[Event], charge_points: Mapping[str, SimChargePoint], clock: SimClock
) -> None:
    """Apply each event at its time, in order (simulated seconds from now)."""
    check_script(events, charge_points)
    begin = clock.elapsed()
    for event in sorted(events, key=lambda e: e.at):
        await clock.sleep(event.at - (clock.elapsed() - begin))
        targets = (
            list(charge_points.values())
            if event.charger is None
            else [charge_points[event.charger]]
        )
        for cp in targets:
            await ACTIONS[event.action](cp, event)
