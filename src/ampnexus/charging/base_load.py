"""The building's load (everything on the site meter but the EVs), estimated from readings
of the same moment and filtered so that plans neither oscillate nor trust a lull.

- Each meter reading is paired with what the EVs drew at the moment it was taken: per
  connector the reading in force then. When that connector's next reading differs by
  `CHANGE_W` or more, its power changed somewhere in between (a new profile, a car
  stopping) and the pair is ambiguous: it counts only for what it proves (the meter less
  the most the EVs may have drawn) while any clear pair serves.
  Subtracting the latest EV power from the latest meter reading, taken seconds apart around
  a profile change, swung the estimate from 4 to 48 kW with a steady 20 kW building.
  A connector whose limit was raised after its last reading is ambiguous too until it
  reports again: it may draw anything up to the new limit (else each raise would read as a
  building rise until the EV reports, and the plan would take it back).
- The estimate is the highest of the last `FALL_WINDOW` of readings: a rise counts at the
  next replan, a fall only once the high readings are that old, so a lull (or an EV reading
  late after a reduction) does not invite a raise that the next reading takes back.
- The window ends at the newest meter reading, not now: a meter that stops reporting leaves
  the estimate where it was (unknown means the last value or higher, never 0).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ampnexus.domain.series import Point

CHANGE_W = 1_000.0  # an EV power change smaller than this is noise, not ambiguity
FALL_WINDOW = timedelta(minutes=5)

Readings = Sequence[tuple[datetime, float]]  # one connector's power readings, oldest first


@dataclass(frozen=True, slots=True)
class Connector:
    readings: Readings
    raised: Readings = ()  # when its limit was raised, and to what (W), oldest first


def ev_power_at(connector: Connector | Readings, moment: datetime) -> tuple[float, float]:
    """The lowest and highest power the connector may have drawn at `moment`."""
    if not isinstance(connector, Connector):
        connector = Connector(connector)
    readings = connector.readings
    # A reading taken the same instant as the meter's may come before or after the change it
    # reports (a car plugging in then): it counts as the next reading, not the one in force.
    index = bisect.bisect_left([at for at, _ in readings], moment)
    before = readings[index - 1][1] if index > 0 else None
    after = readings[index][1] if index < len(readings) else None
    since = readings[index - 1][0] if index > 0 else None
    raised_to = max(
        (w for at, w in connector.raised if (since is None or at > since) and at <= moment),
        default=0.0,
    )
    if before is None:  # not known then: it may have drawn nothing or its first reading
        high = max(after if after is not None and after >= CHANGE_W else 0.0, raised_to)
        return 0.0, high
    low, high = before, before
    if after is not None and abs(after - before) >= CHANGE_W:
        low, high = min(before, after), max(before, after)
    return low, max(high, raised_to)


def base_load_w(meter: Sequence[Point], connectors: Iterable[Connector | Readings]) -> float | None:
    """The filtered building load, from the site meter's recent points (oldest first) and
    every connector's recent readings; None when the meter never reported."""
    if not meter:
        return None
    readings = list(connectors)
    newest = max(point.timestamp for point in meter)
    recent = [point for point in meter if point.timestamp >= newest - FALL_WINDOW]
    clear: list[float] = []
    at_least: list[float] = []  # an ambiguous reading still proves the building draws this
    worst: list[float] = []
    for point in recent:
        powers = [ev_power_at(connector, point.timestamp) for connector in readings]
        low = sum(p[0] for p in powers)
        high = sum(p[1] for p in powers)
        if high - low < CHANGE_W:
            clear.append(point.value - low)  # what the readings say (the raise: noise)
        else:
            at_least.append(point.value - high)
        worst.append(point.value - low)
    return max(0.0, max(clear + at_least) if clear else max(worst))
