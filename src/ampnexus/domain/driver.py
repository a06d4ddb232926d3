"""Driver profiles: who comes first, how fast their car may charge, and their usual session."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum

from ampnexus.domain.errors import Invalid
from ampnexus.domain.needs import NeedDefault


class PriorityClass(StrEnum):
    """premium: up to the charger's full power at any time; standard: shifted to cheap or
    green hours whenever that still meets the need."""

    PREMIUM = "premium"
    STANDARD = "standard"


@dataclass(frozen=True, slots=True)
class DriverProfile:
    """Bound to id tags (a driver may have several cards; a card has at most one driver).

    `max_power_w` caps what this driver's sessions draw; the default energy and departure
    (site-local time of day) come before anything learned from past sessions.
    """

    name: str
    priority: PriorityClass = PriorityClass.STANDARD
    max_power_w: float | None = None
    default_energy_wh: float | None = None
    default_departure: time | None = None
    id_tags: tuple[str, ...] = ()
    id: int | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "id_tags", tuple(sorted(set(self.id_tags))))
        if not self.name.strip():
            raise Invalid("a driver profile needs a name")
        for value, name in (
            (self.max_power_w, "max_power_w"),
            (self.default_energy_wh, "default energy"),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise Invalid(f"{name} must be a positive number, got {value}")

    @property
    def need_default(self) -> NeedDefault:
        return NeedDefault(self.default_energy_wh, self.default_departure, source="driver")
