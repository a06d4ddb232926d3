"""What the chargers' meters said lately: each connector's power and register, its readings
of the last `METER_MAX_AGE` (to pair with the site meter's, for the building's load), and
when its limit went up."""

from __future__ import annotations

import bisect
from collections.abc import Collection
from datetime import datetime

from ampnexus.charging.base_load import Connector
from ampnexus.domain.events import PowerMeasured
from ampnexus.domain.time import Clock
from ampnexus.services.smart_charging.model import METER_MAX_AGE, Send

POWER_CHANGE_W = 1_000.0  # a measured change smaller than this does not trigger a replan


class Readings:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._power: dict[tuple[str, int], tuple[float, float | None]] = {}  # W, register Wh
        # Each connector's readings of the last METER_MAX_AGE, to pair with the site meter's.
        self._readings: dict[tuple[str, int], list[tuple[datetime, float]]] = {}
        # When each connector's limit went up (accepted, or a later period of its profile):
        # until it reports again, a meter reading cannot tell its power from the building's.
        self._raised: dict[tuple[str, int], list[tuple[datetime, float]]] = {}

    def take(self, event: PowerMeasured, max_w: float) -> bool:
        """A plausible reading; True when it moved by `POWER_CHANGE_W` (or is the first)."""
        key = (event.charge_point_id, event.connector_id)
        before = self._power.get(key)
        self._power[key] = (event.power_w, event.register_wh)
        self.remember(key, event.at, min(event.power_w, max_w))
        return before is None or abs(before[0] - event.power_w) >= POWER_CHANGE_W

    def power_w(self, key: tuple[str, int]) -> float | None:
        """The connector's power as last read (None: no plausible reading yet)."""
        measured = self._power.get(key)
        return None if measured is None else measured[0]

    def register_wh(self, key: tuple[str, int]) -> float | None:
        """The connector's register as last read (None: not read, or not reported)."""
        measured = self._power.get(key)
        return None if measured is None else measured[1]

    def remember(self, key: tuple[str, int], at: datetime, watts: float) -> None:
        """Kept for METER_MAX_AGE, and the one before (in force at the window's start). A
        reading within the margin above the maximum counts as the maximum, as much as a
        real charger draws."""
        readings = self._readings.setdefault(key, [])
        bisect.insort(readings, (at, watts))
        cutoff = self._clock.now() - METER_MAX_AGE
        while len(readings) > 1 and readings[1][0] <= cutoff:
            del readings[0]

    def latest_w(self, chargers: Collection[str]) -> float:
        """What the chargers' connectors draw together by their latest readings (0 once a
        session stopped): the EV load a site reports to a demand-response program."""
        return sum(r[-1][1] for key, r in self._readings.items() if key[0] in chargers and r)

    def note_raises(self, send: Send) -> None:
        now = self._clock.now()
        raised = [
            (max(at, now), limit)
            for (at, limit), (_, previous) in zip(send.steps[1:], send.steps, strict=False)
            if limit > previous and at > now - METER_MAX_AGE
        ]
        kept = [r for r in self._raised.get(send.key, []) if r[0] > now - METER_MAX_AGE]
        self._raised[send.key] = sorted([*kept, (now, send.limit_w), *raised])

    def connectors(self, chargers: Collection[str]) -> list[Connector]:
        """The chargers' connectors, as the building's load estimate pairs them."""
        return [
            Connector(readings, self._raised.get(key, ()))
            for key, readings in self._readings.items()
            if key[0] in chargers
        ]
