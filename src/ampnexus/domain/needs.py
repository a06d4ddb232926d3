"""What a driver needs from a session: how much energy, and when the car leaves.

A need is given through the API for one transaction or for an id tag (its next sessions).
Where nobody said, the planner still needs numbers: `resolve_need` takes each figure from the
first source that has it, in this order: the transaction's need, the id tag's need, the
driver profile's own default, a default learned from the driver's past sessions
(`default_need`), and finally the site default, which always has both.

A car still plugged in after its departure is overdue: it has shown it stays longer than
said, so it is planned as leaving at the next default departure time of day after now, the
same guess as for a car plugging in now (ADR 0003). Its charging goes on while it needs
energy, against a fixed deadline rather than one receding with the horizon.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ampnexus.domain.errors import Invalid
from ampnexus.domain.series import zone_of
from ampnexus.domain.time import utc

LEARN_FROM_LAST = 10  # past sessions a learned default looks at
LEARN_AT_LEAST = 3  # fewer than this and the site default is used instead
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class SessionNeed:
    """Energy (or a target state of charge) and departure, for a transaction or an id tag.

    A target SoC becomes energy only with the battery's size and its current SoC (see
    `energy_wh_for`); departure is an instant (UTC).
    """

    transaction_id: int | None = None
    id_tag: str | None = None
    energy_wh: float | None = None
    target_soc: float | None = None  # percent
    battery_wh: float | None = None
    departure: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if (self.transaction_id is None) == (self.id_tag is None):
            raise Invalid("a need belongs to exactly one transaction or one id tag")
        if self.energy_wh is None and self.target_soc is None and self.departure is None:
            raise Invalid("a need gives energy_wh, target_soc or departure (or several)")
        if self.energy_wh is not None and self.target_soc is not None:
            raise Invalid("give energy_wh or target_soc, not both")
        _positive(self.energy_wh, "energy_wh")
        _positive(self.battery_wh, "battery_wh")
        if self.target_soc is not None and not 0 < self.target_soc <= 100:
            raise Invalid(f"target_soc must be in (0, 100] percent, got {self.target_soc}")
        if self.departure is not None:
            object.__setattr__(self, "departure", utc(self.departure))

    def energy_wh_for(self, soc_now: float | None) -> float | None:
        """The energy still to deliver, if this need says (directly or through SoC)."""
        if self.energy_wh is not None:
            return self.energy_wh
        if self.target_soc is None or self.battery_wh is None or soc_now is None:
            return None
        return max(0.0, (self.target_soc - soc_now) / 100 * self.battery_wh)


@dataclass(frozen=True, slots=True)
class NeedDefault:
    """An assumption for sessions nobody described; either figure may be missing.

    `departure` is a site-local time of day: the car leaves at its first occurrence after
    plug-in.
    """

    energy_wh: float | None = None
    departure: time | None = None
    source: str = "site"

    def __post_init__(self) -> None:
        _positive(self.energy_wh, "default energy_wh")


@dataclass(frozen=True, slots=True)
class PastSession:
    arrival: datetime
    departure: datetime
    energy_wh: float


@dataclass(frozen=True, slots=True)
class ResolvedNeed:
    energy_wh: float
    departure: datetime
    energy_source: str  # "transaction", "id_tag", "driver", "learned" or "site"
    departure_source: str
    overdue: bool = False  # the car stayed past its departure: this is the next default one


def default_need(
    driver_history: Sequence[PastSession],
    site_default: NeedDefault,
    tz: str | ZoneInfo,
    *,
    last: int = LEARN_FROM_LAST,
    at_least: int = LEARN_AT_LEAST,
) -> NeedDefault:
    """A driver's usual session, learned from their `last` sessions that delivered energy.

    Energy is the median energy delivered; departure is the typical plug-out time of day in
    the site's zone: the median of the plug-out times taken around their circular mean, so
    23:50 and 00:10 average to midnight, not noon. Sessions that delivered nothing are left
    out (mostly failed starts). With fewer than `at_least` sessions, `site_default`.
    """
    zone = zone_of(tz)
    useful = [s for s in driver_history if s.energy_wh > 0 and s.departure > s.arrival]
    recent = sorted(useful, key=lambda s: s.arrival)[-last:]
    if len(recent) < at_least:
        return site_default
    energy = statistics.median(s.energy_wh for s in recent)
    minutes = [_minute_of_day(s.departure.astimezone(zone)) for s in recent]
    return NeedDefault(energy, typical_time_of_day(minutes), source="learned")


def typical_time_of_day(minutes: Sequence[float]) -> time:
    """The median of times of day (minutes after midnight), robust to wrapping at midnight."""
    angles = [2 * math.pi * m / MINUTES_PER_DAY for m in minutes]
    mean = math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles)))
    centre = mean / (2 * math.pi) * MINUTES_PER_DAY
    half = MINUTES_PER_DAY / 2
    offsets = [(m - centre + half) % MINUTES_PER_DAY - half for m in minutes]
    typical = round(centre + statistics.median(offsets)) % MINUTES_PER_DAY
    return time(typical // 60, typical % 60)


def departure_after(arrival: datetime, at: time, tz: str | ZoneInfo) -> datetime:
    """The first moment after `arrival` whose local time of day is `at` (UTC)."""
    zone = zone_of(tz)
    local = arrival.astimezone(zone)
    for days in range(3):  # a time of day skipped by a DST change is found the next day
        day = local.date() + timedelta(days=days)
        candidate = utc(datetime.combine(day, at, tzinfo=zone))
        if candidate > arrival and candidate.astimezone(zone).time() == at:
            return candidate
    raise AssertionError("unreachable: every time of day occurs within three days")


def resolve_need(
    arrival: datetime,
    tz: str | ZoneInfo,
    needs: Sequence[SessionNeed],
    defaults: Sequence[NeedDefault],
    *,
    soc_now: float | None = None,
    now: datetime | None = None,
) -> ResolvedNeed:
    """Energy and departure for a session that plugged in at `arrival`.

    `needs` in order of precedence (the transaction's, then the id tag's), `defaults` too
    (driver profile, learned, site); the last default must give both figures. A departure
    that is not after `arrival` is stale and skipped. Given `now`, a departure not after it
    is overdue: the car is still there, so the next default departure after `now` applies.
    """
    energy = _first_energy(needs, defaults, soc_now)
    departure = _first_departure(arrival, tz, needs, defaults)
    if energy is None or departure is None:
        raise Invalid("the site default must give both energy and departure")
    if now is not None and departure[0] <= now:
        later = _first_departure(now, tz, (), defaults)
        assert later is not None  # the defaults gave a departure just above
        return ResolvedNeed(energy[0], later[0], energy[1], later[1], overdue=True)
    return ResolvedNeed(energy[0], departure[0], energy[1], departure[1])


def _first_energy(
    needs: Sequence[SessionNeed], defaults: Sequence[NeedDefault], soc_now: float | None
) -> tuple[float, str] | None:
    for need in needs:
        energy_wh = need.energy_wh_for(soc_now)
        if energy_wh is not None:
            return energy_wh, _source(need)
    for default in defaults:
        if default.energy_wh is not None:
            return default.energy_wh, default.source
    return None


def _first_departure(
    arrival: datetime,
    tz: str | ZoneInfo,
    needs: Sequence[SessionNeed],
    defaults: Sequence[NeedDefault],
) -> tuple[datetime, str] | None:
    for need in needs:
        if need.departure is not None and need.departure > arrival:
            return need.departure, _source(need)
    for default in defaults:
        if default.departure is not None:
            return departure_after(arrival, default.departure, tz), default.source
    return None


def _source(need: SessionNeed) -> str:
    return "transaction" if need.transaction_id is not None else "id_tag"


def _minute_of_day(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def _positive(value: float | None, name: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise Invalid(f"{name} must be a positive number, got {value}")
