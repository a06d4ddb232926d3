"""Charging modes: how a charger behaves, chosen by the site owner (ADR 0009).

Five modes; a charger has its own or follows its site's `default_mode`, else `smart` (what
AmpNexus did before modes existed). Two modes carry settings: `regulation_compliance` (the
UK Electric Vehicles (Smart Charge Points) Regulations 2021: peak windows without charging,
a random delay) and `schedule` (charging only inside weekly windows).

Windows are site-local wall-clock times: a window covers an instant when the site's clock
on the wall reads a time inside it. `utc_intervals` turns that into UTC intervals exactly,
also across clock changes (a 16:00 window starts at 15:00 UTC in summer, 16:00 in winter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ampnexus.domain.errors import Conflict, Invalid
from ampnexus.domain.series import zone_of
from ampnexus.domain.time import utc

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index: datetime.weekday()
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
RANDOM_DELAY_DEFAULT_S = 600  # the Regulations' default maximum
RANDOM_DELAY_LIMIT_S = 1800  # the most the Regulations allow the owner to set
# Offsets are probed this often to find clock changes; none comes closer than hours apart.
_OFFSET_PROBE = timedelta(hours=1)


class ChargingMode(StrEnum):
    REGULATION_COMPLIANCE = "regulation_compliance"
    PLUG_AND_CHARGE = "plug_and_charge"
    SCHEDULE = "schedule"
    SMART = "smart"
    USER_CONTROLLED = "user_controlled"


DEFAULT_MODE = ChargingMode.SMART


def mode_named(name: str) -> ChargingMode:
    try:
        return ChargingMode(name)
    except ValueError:
        known = ", ".join(mode.value for mode in ChargingMode)
        raise Invalid(f"unknown charging mode {name!r}: one of {known}") from None


class ModeSource(StrEnum):
    """Where a charger's effective mode comes from."""

    CHARGER = "charger"  # its own setting
    SITE = "site"  # its site's default_mode
    DEFAULT = "default"  # neither: smart


class InsecureCharger(Conflict):
    """Regulation mode asked for a charger that connects without authentication."""


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """[start, end) site-local on each of `days` (0 Monday .. 6 Sunday, the days it starts
    on). `end` at or before `start` runs past midnight into the next day; 00:00-00:00 is
    the whole day. Times are whole minutes."""

    days: frozenset[int]
    start: time
    end: time
    spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days or not self.days <= EVERY_DAY:
            raise Invalid("a window needs one or more days, 'mon' to 'sun'")
        for moment in (self.start, self.end):
            if moment.second or moment.microsecond or moment.tzinfo:
                raise Invalid("window times are whole minutes of site-local time (HH:MM)")
        # The [from, to) minutes after Monday 00:00 it covers (the last may pass Sunday).
        start, length = _minute(self.start), self.length_minutes
        firsts = [day * MINUTES_PER_DAY + start for day in sorted(self.days)]
        object.__setattr__(self, "spans", tuple((first, first + length) for first in firsts))

    @property
    def length_minutes(self) -> int:
        return (_minute(self.end) - _minute(self.start)) % MINUTES_PER_DAY or MINUTES_PER_DAY

    @property
    def day_names(self) -> list[str]:
        return [DAY_NAMES[day] for day in sorted(self.days)]

    def covers(self, local: datetime) -> bool:
        """Whether a site-local wall-clock time lies inside (a Sunday night window reaches
        into Monday)."""
        minute = local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute
        return any(
            begin <= shifted < end
            for begin, end in self.spans
            for shifted in (minute, minute + MINUTES_PER_WEEK)
        )


def parse_window(days: Iterable[str], start: str, end: str) -> WeeklyWindow:
    """A window from day names and "HH:MM" texts, as people write them."""
    unknown = sorted(set(days) - set(DAY_NAMES))
    if unknown:
        raise Invalid(f"unknown day names {', '.join(unknown)}: use {', '.join(DAY_NAMES)}")
    indices = frozenset(DAY_NAMES.index(day) for day in days)
    return WeeklyWindow(indices, time.fromisoformat(start), time.fromisoformat(end))


def covers(windows: Sequence[WeeklyWindow], moment: datetime, tz: str | ZoneInfo) -> bool:
    """Whether the site's wall clock at `moment` (any offset; naive is UTC) reads a time
    inside one of `windows`."""
    return any(w.covers(utc(moment).astimezone(zone_of(tz))) for w in windows)


def utc_intervals(
    windows: Sequence[WeeklyWindow], start: datetime, end: datetime, tz: str | ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The instants in [start, end) that `covers`, as sorted, disjoint UTC intervals.

    Between two clock changes local time is UTC plus a fixed offset, so each such stretch
    is mapped on its own and the pieces are joined: a window the clock skips (01:30 on the
    last Sunday of March in London) covers nothing that day, and one the clock repeats
    (01:30 in October) covers both passes.
    """
    zone, start, end = zone_of(tz), utc(start), utc(end)
    found: list[tuple[datetime, datetime]] = []
    for begin, finish, offset in _steady_stretches(start, end, zone):
        wall_begin = (begin + offset).replace(tzinfo=None)
        wall_end = (finish + offset).replace(tzinfo=None)
        for a, b in _wall_intervals(windows, wall_begin, wall_end):
            found.append(((a - offset).replace(tzinfo=UTC), (b - offset).replace(tzinfo=UTC)))
    return _joined(sorted(found))


def next_days(
    windows: Sequence[WeeklyWindow], now: datetime, days: int, tz: str | ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The windows of the next `days` days from `now`, as UTC intervals (one already under
    way starts at `now`)."""
    return utc_intervals(windows, now, utc(now) + timedelta(days=days), tz)


def _wall_intervals(
    windows: Sequence[WeeklyWindow], begin: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The windows' wall-clock intervals (naive) clipped to [begin, end)."""
    found = []
    day = begin.date() - timedelta(days=1)  # yesterday's window may run into today
    while day <= end.date():
        for w in windows:
            if day.weekday() in w.days:
                opens = datetime.combine(day, w.start)
                closes = opens + timedelta(minutes=w.length_minutes)
                if opens < end and closes > begin:
                    found.append((max(opens, begin), min(closes, end)))
        day += timedelta(days=1)
    return found


def _steady_stretches(
    start: datetime, end: datetime, zone: ZoneInfo
) -> list[tuple[datetime, datetime, timedelta]]:
    """[start, end) cut at the zone's clock changes: (from, to, UTC offset) each."""
    stretches = []
    begin, offset, probe = start, _offset(start, zone), start
    while probe < end:
        ahead = min(probe + _OFFSET_PROBE, end)
        if _offset(ahead, zone) == offset:
            probe = ahead
            continue
        change = _change_between(probe, ahead, offset, zone)
        stretches.append((begin, change, offset))
        begin, offset, probe = change, _offset(change, zone), change
    if begin < end:
        stretches.append((begin, end, offset))
    return stretches


def _change_between(
    before: datetime, after: datetime, offset: timedelta, zone: ZoneInfo
) -> datetime:
    """The first whole second after `before` whose offset is no longer `offset`."""
    low, high = 0, math.ceil((after - before).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(before + timedelta(seconds=middle), zone) == offset:
            low = middle
        else:
            high = middle
    return before + timedelta(seconds=high)


def _offset(moment: datetime, zone: ZoneInfo) -> timedelta:
    found = moment.astimezone(zone).utcoffset()
    assert found is not None  # a ZoneInfo always knows its offset
    return found


def _joined(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching intervals as one (sorted input)."""
    joined: list[tuple[datetime, datetime]] = []
    for begin, end in intervals:
        if joined and begin <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((begin, end))
    return joined


def _minute(moment: time) -> int:
    return moment.hour * 60 + moment.minute


# --- the settings ------------------------------------------------------------------------------
DEFAULT_PEAK_WINDOWS = (
    WeeklyWindow(WEEKDAYS, time(8, 0), time(11, 0)),
    WeeklyWindow(WEEKDAYS, time(16, 0), time(22, 0)),
)


@dataclass(frozen=True, slots=True)
class RegulationSettings:
    """The Regulations' defaults: no charging on weekdays 08:00-11:00 and 16:00-22:00
    site-local (the owner may change or remove these hours), and a random delay of up to
    600 s whenever charging would start or change rate, settable from 0 to 1800 s. A
    charger that applies such a delay itself (`charger_applies_delay`) gets none from
    AmpNexus, so the two do not add up."""

    peak_windows: tuple[WeeklyWindow, ...] = DEFAULT_PEAK_WINDOWS
    random_delay_max_s: int = RANDOM_DELAY_DEFAULT_S
    charger_applies_delay: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak_windows", tuple(self.peak_windows))
        delay = self.random_delay_max_s
        if isinstance(delay, bool) or not isinstance(delay, int):
            raise Invalid(f"random_delay_max_s is a whole number of seconds, got {delay!r}")
        if not 0 <= delay <= RANDOM_DELAY_LIMIT_S:
            raise Invalid(
                f"random_delay_max_s must be 0 to {RANDOM_DELAY_LIMIT_S} s "
                f"(the Regulations' limit), got {delay}"
            )


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """Charging only inside `windows` (site-local); `energy_wh`, when given, is what a
    session should get inside them."""

    windows: tuple[WeeklyWindow, ...]
    energy_wh: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))
        if not self.windows:
            raise Invalid("a schedule needs at least one window (user_controlled never starts)")
        if self.energy_wh is not None and not (
            math.isfinite(self.energy_wh) and self.energy_wh > 0
        ):
            raise Invalid(f"energy must be a positive number, got {self.energy_wh}")


ModeSettings = RegulationSettings | ScheduleSettings


@dataclass(frozen=True, slots=True)
class ModeChoice:
    """A mode with its settings (None for the modes that have none)."""

    mode: ChargingMode
    settings: ModeSettings | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", mode_named(self.mode))
        wanted = _SETTINGS_OF.get(self.mode)
        if wanted is None and self.settings is not None:
            raise Invalid(f"mode {self.mode} takes no settings")
        if wanted is not None and not isinstance(self.settings, wanted):
            raise Invalid(f"mode {self.mode} needs its settings")


@dataclass(frozen=True, slots=True)
class ModeSetting:
    """A charger's own mode and its settings, who set them (an API key's name) and when."""

    charge_point_id: str
    mode: ChargingMode
    settings: ModeSettings | None
    changed_by: str
    changed_at: datetime

    def __post_init__(self) -> None:
        choice = ModeChoice(self.mode, self.settings)  # checks the settings fit the mode
        object.__setattr__(self, "mode", choice.mode)
        object.__setattr__(self, "changed_at", utc(self.changed_at))

    @property
    def choice(self) -> ModeChoice:
        return ModeChoice(self.mode, self.settings)

    def same_as(self, other: ModeSetting | None) -> bool:
        """The same mode and settings, whoever set them and whenever."""
        return other is not None and self.choice == other.choice


_SETTINGS_OF: dict[ChargingMode, type[RegulationSettings] | type[ScheduleSettings]] = {
    ChargingMode.REGULATION_COMPLIANCE: RegulationSettings,
    ChargingMode.SCHEDULE: ScheduleSettings,
}


def settings_for(
    mode: ChargingMode,
    *,
    peak_windows: Sequence[WeeklyWindow] | None = None,
    random_delay_max_s: int | None = None,
    charger_applies_delay: bool | None = None,
    windows: Sequence[WeeklyWindow] | None = None,
    energy_wh: float | None = None,
) -> ModeSettings | None:
    """The settings of `mode` from what was given (left out: the Regulations' defaults);
    Invalid when a setting of another mode is given."""
    regulation = {
        "peak_windows": peak_windows,
        "random_delay_max_s": random_delay_max_s,
        "charger_applies_delay": charger_applies_delay,
    }
    schedule = {"windows": windows, "energy_wh": energy_wh}
    given = {name for name, value in (regulation | schedule).items() if value is not None}
    allowed = set(regulation if mode is ChargingMode.REGULATION_COMPLIANCE else ())
    allowed |= set(schedule if mode is ChargingMode.SCHEDULE else ())
    if given - allowed:
        names = ", ".join(sorted(given - allowed))
        raise Invalid(f"{names} do not apply to mode {mode}")
    if mode is ChargingMode.REGULATION_COMPLIANCE:
        return RegulationSettings(
            DEFAULT_PEAK_WINDOWS if peak_windows is None else tuple(peak_windows),
            RANDOM_DELAY_DEFAULT_S if random_delay_max_s is None else random_delay_max_s,
            bool(charger_applies_delay),
        )
    if mode is ChargingMode.SCHEDULE:
        return ScheduleSettings(tuple(windows or ()), energy_wh)
    return None


def check_site_default(mode: ChargingMode | None) -> None:
    """A site's default mode carries no settings: schedule windows are each charger's own."""
    if mode is ChargingMode.SCHEDULE:
        raise Invalid(
            "schedule cannot be a site's default_mode: its windows are set per charger "
            "(PUT /charge-points/{id}/mode)"
        )


class ChangeKind(StrEnum):
    """What an entry of the audit trail records."""

    MODE = "mode"  # the charger's own mode and settings (entries before migration 0009)
    OVERRIDE_SET = "override_set"  # "charge now" set on one of its sessions
    OVERRIDE_CANCELLED = "override_cancelled"


@dataclass(frozen=True, slots=True)
class ModeChange:
    """One entry of a charger's audit trail: who changed its own mode when, from what to
    what (None: it had none of its own, it followed its site); or, for an override entry,
    who set or cancelled "charge now" on which of its sessions (`before` and `after` None:
    the charger's mode does not change)."""

    charge_point_id: str
    changed_by: str
    changed_at: datetime
    before: ModeChoice | None
    after: ModeChoice | None
    id: int | None = None
    kind: ChangeKind = ChangeKind.MODE
    transaction_id: int | None = None  # the session of an override entry

    def __post_init__(self) -> None:
        object.__setattr__(self, "changed_at", utc(self.changed_at))


def override_change(
    charge_point_id: str, transaction_id: int, changed_by: str, at: datetime, kind: ChangeKind
) -> ModeChange:
    """The trail's entry for "charge now" set or cancelled on a session."""
    if kind is ChangeKind.MODE:
        raise ValueError("an override entry is override_set or override_cancelled")
    return ModeChange(
        charge_point_id, changed_by, at, None, None, kind=kind, transaction_id=transaction_id
    )


@dataclass(frozen=True, slots=True)
class EffectiveMode:
    """The mode a charger is in now, its settings, and where it comes from. `own` is the
    charger's own setting (also when it does not apply); `note` says why a mode asked for
    does not apply."""

    charge_point_id: str
    mode: ChargingMode
    settings: ModeSettings | None
    source: ModeSource
    own: ModeSetting | None = None
    site_id: str | None = None
    note: str | None = None


def effective_mode(
    charge_point_id: str,
    security_profile: int,
    own: ModeSetting | None,
    site_id: str | None,
    site_default: ChargingMode | None,
) -> EffectiveMode:
    """The charger's own mode, else its site's default, else smart.

    Regulation mode needs an authenticated charger: a charger at security profile 0 is
    refused it when it is set (`check_secure`); should it reach one anyway (its profile
    lowered since, or its site's default), it charges as smart and `note` says why.
    """
    if own is not None:
        mode, settings, source = own.mode, own.settings, ModeSource.CHARGER
    elif site_default is not None:
        mode, source = site_default, ModeSource.SITE
        settings = settings_for(mode) if mode is not ChargingMode.SCHEDULE else None
    else:
        mode, settings, source = DEFAULT_MODE, None, ModeSource.DEFAULT
    if mode is ChargingMode.REGULATION_COMPLIANCE and security_profile == 0:
        note = f"{mode} ({source}) does not apply: {_insecure(charge_point_id)}"
        return EffectiveMode(
            charge_point_id, DEFAULT_MODE, None, ModeSource.DEFAULT, own, site_id, note
        )
    if mode is ChargingMode.SCHEDULE and settings is None:  # a site default, refused on entry
        note = "schedule needs the charger's own windows"
        return EffectiveMode(
            charge_point_id, DEFAULT_MODE, None, ModeSource.DEFAULT, own, site_id, note
        )
    return EffectiveMode(charge_point_id, mode, settings, source, own, site_id)


def check_secure(charge_point_id: str, security_profile: int, mode: ChargingMode) -> None:
    if mode is ChargingMode.REGULATION_COMPLIANCE and security_profile == 0:
        raise InsecureCharger(
            f"charge point {charge_point_id!r} cannot be put in {mode}: "
            f"{_insecure(charge_point_id)}"
        )


def _insecure(charge_point_id: str) -> str:
    return (
        "it connects with security profile 0 (no authentication), and the Smart Charge "
        "Points Regulations require secure communication; give it a password (security "
        f"profile 1 or higher, PATCH /charge-points/{charge_point_id}) first"
    )
