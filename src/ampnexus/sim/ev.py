"""An electric vehicle as a charger sees it: a battery that accepts less power when nearly full."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Above `taper_from_soc` the EV's acceptance falls linearly to this share of its maximum at
# 100 %, so a session really ends instead of creeping towards full for ever.
TAPER_FLOOR = 0.1


@dataclass
class EV:
    capacity_kwh: float = 60.0
    soc: float = 20.0  # state of charge, percent
    max_power_w: float = 11_000.0
    departure: datetime | None = None
    taper_from_soc: float = 80.0

    def __post_init__(self) -> None:
        if self.capacity_kwh <= 0 or self.max_power_w < 0:
            raise ValueError("an EV needs a positive capacity and a non-negative max power")
        if not 0 <= self.soc <= 100 or not 0 <= self.taper_from_soc < 100:
            raise ValueError("state of charge and taper start are percentages")

    @property
    def full(self) -> bool:
        return self.soc >= 100.0

    @property
    def energy_to_full_wh(self) -> float:
        return (100.0 - self.soc) / 100.0 * self.capacity_kwh * 1000.0

    def acceptance_w(self) -> float:
        """The most power the EV takes right now."""
        if self.full:
            return 0.0
        if self.soc <= self.taper_from_soc:
            return self.max_power_w
        left = (100.0 - self.soc) / (100.0 - self.taper_from_soc)
        return self.max_power_w * (TAPER_FLOOR + (1.0 - TAPER_FLOOR) * left)

    def draw_w(self, offered_w: float) -> float:
        """The power it would draw this instant from a charger offering `offered_w`."""
        return max(0.0, min(offered_w, self.acceptance_w()))

    def charge(self, offered_w: float, seconds: float) -> float:
        """Charge for `seconds` from a charger offering `offered_w`; returns the power drawn (W),
        constant over the step, never more than the battery can still hold."""
        if seconds <= 0:
            return self.draw_w(offered_w)
        power = min(self.draw_w(offered_w), self.energy_to_full_wh * 3600.0 / seconds)
        added_wh = power * seconds / 3600.0
        if added_wh >= self.energy_to_full_wh - 1e-6:
            self.soc = 100.0  # exactly full, not a rounding error short of it
        else:
            self.soc += added_wh / (self.capacity_kwh * 10.0)
        return power

    def wants_to_leave(self, now: datetime) -> bool:
        return self.departure is not None and now >= self.departure
