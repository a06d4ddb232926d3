"""OCPP 1.6 charging profiles, the rules a charge point keeps them by, and its composite schedule.
Their JSON form on the wire is `ocpp/v16/profiles.py`'s business, not this module's.

Section numbers refer to OCPP 1.6 edition 2 and its errata sheet (v4.0). Where the spec leaves
room, this module decides as follows:

- Within one purpose, the valid profile with the highest stackLevel whose schedule covers the
  instant sets the limit; where its schedule has ended (duration, or a Recurring schedule
  shorter than its recurrence) the next lower stackLevel applies (§3.13.2, §5.16 / errata 3.43).
- A TxProfile that is valid at an instant (validFrom/validTo) overrules every TxDefaultProfile
  at that instant, even where its own schedule has ended (§3.13.1; OCTT TC_066_CS expects
  exactly that). After its validTo, TxDefaultProfile applies again.
- The composite is the minimum of the ChargePointMaxProfile limit, the Tx/TxDefault limit and
  the charger's own limit `max_limit` (§3.13.3, "Local Limits" of errata 3.1). Where no profile
  limits, the charger's own limit is reported (OCTT TC_067_CS: "the local limit").
- Relative profiles count from the transaction start; without a transaction, from the start of
  the requested window, as if a transaction began then (§7.9: the start point "is determined
  by the charge point"), so a TxDefaultProfile's relative limits show in the composite.
- Recurring schedules restart every 86 400 or 604 800 seconds after startSchedule (UTC, no
  daylight saving, see the note in §3.13.7), never before it.
- Connector 0 reports the ChargePointMaxProfile: the cap on what the whole charge point draws
  (§5.7). What each connector will actually draw depends on vehicles this module cannot see.
- A TxDefaultProfile on connector 0 applies to every connector; one set on a connector
  replaces the connector-0 profile of the same stackLevel for that connector only (§3.13.1).
- Limits are floored to one decimal (the schema's multipleOf 0.1), so rounding never raises one.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from ampnexus.domain.errors import Invalid
from ampnexus.domain.time import utc

DEFAULT_VOLTAGE = 230.0
DEFAULT_PHASES = 3  # §7.12: "if numberPhases ... is absent, 3 SHALL be assumed"
DEFAULT_MAX_CURRENT = 32.0  # A per phase: the charger's own limit when the caller names none


class ProfileStatus(StrEnum):
    """A charger's answer to a charging profile it was given."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"  # the charger does not do smart charging


class ChargingRateUnit(StrEnum):
    A = "A"  # per phase
    W = "W"  # in total


class ProfilePurpose(StrEnum):
    CHARGE_POINT_MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class ProfileKind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class RecurrencyKind(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


RECURRENCE_SECONDS = {RecurrencyKind.DAILY: 86_400, RecurrencyKind.WEEKLY: 7 * 86_400}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise Invalid(message)


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_period: int  # seconds from the start of the schedule
    limit: float  # in the schedule's unit: A per phase, or W in total
    number_phases: int | None = None

    def __post_init__(self) -> None:
        _check(self.start_period >= 0, f"startPeriod must not be negative, got {self.start_period}")
        _check(
            math.isfinite(self.limit) and self.limit >= 0,
            f"limit must be a number >= 0, got {self.limit}",
        )
        _check(
            self.number_phases in (None, 1, 2, 3),
            f"numberPhases must be 1, 2 or 3, got {self.number_phases}",
        )


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    unit: ChargingRateUnit
    periods: tuple[SchedulePeriod, ...]
    duration: int | None = None  # seconds; None: the last period lasts indefinitely
    start_schedule: datetime | None = None
    min_charging_rate: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "periods", tuple(self.periods))
        _check(bool(self.periods), "chargingSchedulePeriod needs at least one period")
        _check(
            self.periods[0].start_period == 0,
            "the first chargingSchedulePeriod must have startPeriod 0 (§5.16)",
        )
        _check(
            all(a.start_period < b.start_period for a, b in pairwise(self.periods)),
            "chargingSchedulePeriod startPeriods must ascend, got "
            f"{[period.start_period for period in self.periods]}",
        )
        _check(
            self.duration is None or self.duration > 0,
            f"duration must be positive, got {self.duration}",
        )
        _check(
            self.min_charging_rate is None or self.min_charging_rate >= 0,
            f"minChargingRate must not be negative, got {self.min_charging_rate}",
        )
        if self.start_schedule is not None:
            object.__setattr__(self, "start_schedule", utc(self.start_schedule))


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: ProfilePurpose
    kind: ProfileKind
    schedule: ChargingSchedule
    recurrency_kind: RecurrencyKind | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | None = None

    def __post_init__(self) -> None:
        _check(self.stack_level >= 0, f"stackLevel must be >= 0 (§7.8), got {self.stack_level}")
        if self.kind is ProfileKind.RECURRING:
            _check(
                self.recurrency_kind is not None,
                "a Recurring profile needs recurrencyKind (Daily or Weekly)",
            )
        else:
            _check(
                self.recurrency_kind is None,
                f"recurrencyKind is only allowed on Recurring profiles (errata 3.56), "
                f"not on {self.kind}",
            )
        if self.kind is ProfileKind.RELATIVE:
            _check(
                self.schedule.start_schedule is None,
                "a Relative profile starts with the transaction: it cannot have startSchedule",
            )
        else:
            _check(
                self.schedule.start_schedule is not None,
                f"{self.kind} profiles need chargingSchedule.startSchedule",
            )
        _check(
            self.transaction_id is None or self.purpose is ProfilePurpose.TX,
            "transactionId is only allowed on a TxProfile (§7.8)",
        )
        for name in ("valid_from", "valid_to"):
            moment = getattr(self, name)
            if moment is not None:
                object.__setattr__(self, name, utc(moment))
        if self.valid_from is not None and self.valid_to is not None:
            _check(self.valid_from < self.valid_to, "validFrom must be before validTo")


def connector_problem(connector_id: int, profile: ChargingProfile) -> str | None:
    """Why `profile` may not be set on `connector_id` (§3.13.1), or None when it may."""
    if connector_id < 0:
        return f"connector id must not be negative, got {connector_id}"
    if profile.purpose is ProfilePurpose.CHARGE_POINT_MAX and connector_id != 0:
        return "a ChargePointMaxProfile can only be set on connector 0 (§3.13.1)"
    if profile.purpose is ProfilePurpose.TX and connector_id == 0:
        return "a TxProfile can only be set on a connector > 0 (§3.13.1)"
    return None


# --- units ------------------------------------------------------------------------------------


def to_amps(
    limit: float,
    unit: ChargingRateUnit,
    phases: int = DEFAULT_PHASES,
    voltage: float = DEFAULT_VOLTAGE,
) -> float:
    """Current per phase. §7.12: "Current per phase = Power / (Line Voltage * Number of Phases)"."""
    _check(phases > 0 and voltage > 0, "phases and voltage must be positive")
    return limit if unit is ChargingRateUnit.A else limit / (voltage * phases)


def to_watts(
    limit: float,
    unit: ChargingRateUnit,
    phases: int = DEFAULT_PHASES,
    voltage: float = DEFAULT_VOLTAGE,
) -> float:
    """Total power: W = A * V * phases."""
    _check(phases > 0 and voltage > 0, "phases and voltage must be positive")
    return limit if unit is ChargingRateUnit.W else limit * voltage * phases


def convert(
    limit: float,
    unit: ChargingRateUnit,
    to: ChargingRateUnit,
    phases: int = DEFAULT_PHASES,
    voltage: float = DEFAULT_VOLTAGE,
) -> float:
    if to is ChargingRateUnit.W:
        return to_watts(limit, unit, phases, voltage)
    return to_amps(limit, unit, phases, voltage)


def floor_tenth(value: float) -> float:
    """Down to one decimal, ignoring binary noise (0.7 * 10 is 7.000000000000001)."""
    return math.floor(round(value * 10, 6)) / 10


# --- what a charge point holds ----------------------------------------------------------------


class InstalledProfiles:
    """The charging profiles one charge point holds, kept by the rules of §3.13 and §5.16.

    The keyword limits are the charge point's smart charging configuration keys (§9.4):
    ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods, MaxChargingProfilesInstalled and
    ChargingScheduleAllowedChargingRateUnit. A profile beyond them is Rejected.
    """

    def __init__(
        self,
        *,
        max_stack_level: int | None = None,
        max_periods: int | None = None,
        max_profiles: int | None = None,
        rate_units: Collection[ChargingRateUnit] = tuple(ChargingRateUnit),
    ) -> None:
        self.max_stack_level = max_stack_level
        self.max_periods = max_periods
        self.max_profiles = max_profiles
        self.rate_units = frozenset(rate_units)
        self._held: list[tuple[int, ChargingProfile]] = []

    def install(
        self,
        connector_id: int,
        profile: ChargingProfile,
        *,
        active_transaction_id: int | None = None,
        now: datetime | None = None,
    ) -> ProfileStatus:
        """SetChargingProfile: a profile with the same id, or the same stackLevel and purpose on
        the same connector, is replaced (§5.16.3). A TxProfile is bound to the active transaction.
        With `now`, profiles whose validTo has passed are forgotten first.
        """
        if self.refusal(
            connector_id, profile, active_transaction_id=active_transaction_id, now=now
        ):
            return ProfileStatus.REJECTED
        if profile.purpose is ProfilePurpose.TX:
            profile = replace(profile, transaction_id=active_transaction_id)
        self._held = [*self._kept(connector_id, profile, now), (connector_id, profile)]
        return ProfileStatus.ACCEPTED

    def refusal(
        self,
        connector_id: int,
        profile: ChargingProfile,
        *,
        active_transaction_id: int | None = None,
        now: datetime | None = None,
    ) -> str | None:
        """Why `install` would reject the profile, or None when it would accept it."""
        if problem := connector_problem(connector_id, profile):
            return problem
        if profile.purpose is ProfilePurpose.TX:
            if active_transaction_id is None:
                return "a TxProfile needs an active transaction on its connector (§3.13.1)"
            if profile.transaction_id not in (None, active_transaction_id):
                return f"transactionId {profile.transaction_id} is not the active transaction"
        if self.max_stack_level is not None and profile.stack_level > self.max_stack_level:
            return f"stackLevel is above ChargeProfileMaxStackLevel {self.max_stack_level}"
        if self.max_periods is not None and len(profile.schedule.periods) > self.max_periods:
            return f"more periods than ChargingScheduleMaxPeriods {self.max_periods}"
        if profile.schedule.unit not in self.rate_units:
            return f"chargingRateUnit {profile.schedule.unit} is not supported"
        kept = len(self._kept(connector_id, profile, now))
        if self.max_profiles is not None and kept >= self.max_profiles:
            return f"MaxChargingProfilesInstalled {self.max_profiles} reached"
        return None

    def _kept(
        self, connector_id: int, profile: ChargingProfile, now: datetime | None
    ) -> list[tuple[int, ChargingProfile]]:
        """What stays when `profile` is installed: not replaced by it, not expired."""
        return [
            (held_on, held)
            for held_on, held in self._held
            if not _replaces(connector_id, profile, held_on, held) and not _expired(held, now)
        ]

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: ProfilePurpose | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """ClearChargingProfile (errata 3.25, 3.26): by id alone when given, otherwise every
        profile matching all given fields; no fields clear everything. True if any was cleared
        (Accepted), False when none matched (Unknown).
        """

        def matches(held_on: int, held: ChargingProfile) -> bool:
            if profile_id is not None:
                return held.id == profile_id
            return (
                connector_id in (None, held_on)
                and purpose in (None, held.purpose)
                and stack_level in (None, held.stack_level)
            )

        kept = [(held_on, held) for held_on, held in self._held if not matches(held_on, held)]
        cleared = len(kept) < len(self._held)
        self._held = kept
        return cleared

    def transaction_ended(self, connector_id: int) -> None:
        """A TxProfile "SHALL cease to be valid when the transaction terminates" (§7.10)."""
        self._held = [
            (held_on, held)
            for held_on, held in self._held
            if held_on != connector_id or held.purpose is not ProfilePurpose.TX
        ]

    def profiles(self) -> list[tuple[int, ChargingProfile]]:
        """(connector_id, profile) in the order they were installed."""
        return list(self._held)


def _replaces(connector_id: int, new: ChargingProfile, held_on: int, held: ChargingProfile) -> bool:
    same_slot = held.stack_level == new.stack_level and held.purpose is new.purpose
    return held.id == new.id or (held_on == connector_id and same_slot)


def _expired(profile: ChargingProfile, now: datetime | None) -> bool:
    return now is not None and profile.valid_to is not None and profile.valid_to <= utc(now)


# --- the composite schedule -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _View:
    """How to read limits: in which unit, with which phases and voltage, and where Relative
    schedules start."""

    unit: ChargingRateUnit
    relative_start: datetime
    phases: int
    voltage: float


@dataclass(frozen=True, slots=True)
class _Stacks:
    """The profiles that bear on one connector, per purpose, highest stackLevel first."""

    charge_point_max: tuple[ChargingProfile, ...]
    tx: tuple[ChargingProfile, ...]
    tx_default: tuple[ChargingProfile, ...]

    def all(self) -> tuple[ChargingProfile, ...]:
        return self.charge_point_max + self.tx + self.tx_default


def composite_schedule(
    installed: InstalledProfiles,
    connector_id: int,
    start: datetime,
    duration: int,
    unit: ChargingRateUnit,
    *,
    transaction_start: datetime | None = None,
    voltage: float = DEFAULT_VOLTAGE,
    phases: int = DEFAULT_PHASES,
    now_transaction_id: int | None = None,
    max_limit: float | None = None,
) -> ChargingSchedule:
    """The limits for [start, start + duration) as GetCompositeSchedule reports them (§5.7).

    Periods are whole seconds from `start`, and no two neighbours share a limit. `max_limit` is
    the charger's own limit in `unit`, in force wherever no profile limits (by default
    DEFAULT_MAX_CURRENT per phase). A period without numberPhases converts with `phases`.
    TxProfiles bound to a transaction other than `now_transaction_id` (when given) are ignored.
    """
    _check(duration > 0, f"duration must be positive, got {duration}")
    start = utc(start)
    view = _View(unit, utc(transaction_start or start), phases, voltage)
    cap = convert(DEFAULT_MAX_CURRENT, ChargingRateUnit.A, unit, phases, voltage)
    cap = cap if max_limit is None else max_limit
    stacks = _stacks(installed.profiles(), connector_id, now_transaction_id)
    periods: list[SchedulePeriod] = []
    for offset in _change_offsets(stacks, start, duration, view):
        limit = _limit(stacks, start + timedelta(seconds=offset), view, cap)
        if limit is not None and (not periods or periods[-1].limit != limit):
            periods.append(SchedulePeriod(offset, limit))
    return ChargingSchedule(unit, tuple(periods), duration=duration, start_schedule=start)


def limit_at(
    installed: InstalledProfiles,
    connector_id: int,
    moment: datetime,
    unit: ChargingRateUnit,
    *,
    transaction_start: datetime | None = None,
    voltage: float = DEFAULT_VOLTAGE,
    phases: int = DEFAULT_PHASES,
    now_transaction_id: int | None = None,
    max_limit: float | None = None,
) -> float | None:
    """The composite limit in force at `moment`, what a charger obeys; None when nothing limits
    (no profile applies and no `max_limit` is given). Without `transaction_start`, Relative
    profiles start at `moment`.
    """
    moment = utc(moment)
    view = _View(unit, utc(transaction_start or moment), phases, voltage)
    stacks = _stacks(installed.profiles(), connector_id, now_transaction_id)
    return _limit(stacks, moment, view, max_limit)


def limit_changes(
    held: Iterable[tuple[int, ChargingProfile]],
    connector_id: int,
    start: datetime,
    end: datetime,
    unit: ChargingRateUnit,
    *,
    transaction_start: datetime | None = None,
    voltage: float = DEFAULT_VOLTAGE,
    phases: int = DEFAULT_PHASES,
    transaction_id: int | None = None,
) -> list[tuple[datetime, float | None]]:
    """The composite limit of the (connector_id, profile) pairs `held` over [start, end), as
    (from, limit) at each instant it changes, ascending and exact (not rounded to whole
    seconds as GetCompositeSchedule's periods are); the first at `start`. None where no
    profile limits: no charger's own limit is added. Arguments as `composite_schedule`'s.
    """
    start, end = utc(start), utc(end)
    _check(start < end, "the window must end after it starts")
    view = _View(unit, utc(transaction_start or start), phases, voltage)
    stacks = _stacks(list(held), connector_id, transaction_id)
    moments = {start} | {
        moment
        for profile in stacks.all()
        for moment in _change_points(profile, start, end, view.relative_start)
        if start < moment < end
    }
    changes: list[tuple[datetime, float | None]] = []
    for moment in sorted(moments):
        limit = _limit(stacks, moment, view, None)
        if not changes or changes[-1][1] != limit:
            changes.append((moment, limit))
    return changes


def _stacks(
    installed: list[tuple[int, ChargingProfile]], connector_id: int, transaction_id: int | None
) -> _Stacks:
    _check(connector_id >= 0, f"connector id must not be negative, got {connector_id}")

    def held(purpose: ProfilePurpose, on: int) -> list[ChargingProfile]:
        return [p for c, p in installed if c == on and p.purpose is purpose]

    charge_point_max = _by_level(held(ProfilePurpose.CHARGE_POINT_MAX, 0))
    if connector_id == 0:
        return _Stacks(charge_point_max, (), ())
    tx = [
        profile
        for profile in held(ProfilePurpose.TX, connector_id)
        if transaction_id is None or profile.transaction_id in (None, transaction_id)
    ]
    own = held(ProfilePurpose.TX_DEFAULT, connector_id)
    own_levels = {profile.stack_level for profile in own}
    shared = [p for p in held(ProfilePurpose.TX_DEFAULT, 0) if p.stack_level not in own_levels]
    return _Stacks(charge_point_max, _by_level(tx), _by_level(own + shared))


def _by_level(profiles: list[ChargingProfile]) -> tuple[ChargingProfile, ...]:
    return tuple(sorted(profiles, key=lambda profile: profile.stack_level, reverse=True))


def _limit(stacks: _Stacks, moment: datetime, view: _View, cap: float | None) -> float | None:
    """The minimum of what ChargePointMax, Tx-or-TxDefault and the charger allow (§3.13.3)."""
    tx_valid = any(_is_valid(profile, moment) for profile in stacks.tx)
    limits = (
        _prevailing(stacks.charge_point_max, moment, view),
        _prevailing(stacks.tx if tx_valid else stacks.tx_default, moment, view),
        cap,
    )
    present = [limit for limit in limits if limit is not None]
    return floor_tenth(min(present)) if present else None


def _prevailing(
    profiles: tuple[ChargingProfile, ...], moment: datetime, view: _View
) -> float | None:
    """The limit of the highest stack level that has one at `moment` (§3.13.2)."""
    for profile in profiles:
        limit = _profile_limit(profile, moment, view)
        if limit is not None:
            return limit
    return None


def _profile_limit(profile: ChargingProfile, moment: datetime, view: _View) -> float | None:
    if not _is_valid(profile, moment):
        return None
    offset = _schedule_offset(profile, moment, view.relative_start)
    if offset is None:
        return None
    period = [p for p in profile.schedule.periods if p.start_period <= offset][-1]
    phases = period.number_phases or view.phases
    return convert(period.limit, profile.schedule.unit, view.unit, phases, view.voltage)


def _is_valid(profile: ChargingProfile, moment: datetime) -> bool:
    return (profile.valid_from is None or profile.valid_from <= moment) and (
        profile.valid_to is None or moment < profile.valid_to
    )


def _anchor(profile: ChargingProfile, relative_start: datetime) -> datetime:
    """Where the (first run of the) schedule starts: only Relative profiles lack startSchedule."""
    return profile.schedule.start_schedule or relative_start


def _recurrence(profile: ChargingProfile) -> int | None:
    return RECURRENCE_SECONDS[profile.recurrency_kind] if profile.recurrency_kind else None


def _active_seconds(profile: ChargingProfile) -> float:
    """How long each run lasts: periods beyond duration or the recurrence are never executed."""
    length = float(profile.schedule.duration or math.inf)
    every = _recurrence(profile)
    return length if every is None else min(length, every)


def _schedule_offset(
    profile: ChargingProfile, moment: datetime, relative_start: datetime
) -> float | None:
    """Seconds into the schedule's current run at `moment`, or None outside every run."""
    seconds = (moment - _anchor(profile, relative_start)).total_seconds()
    if seconds < 0:
        return None
    every = _recurrence(profile)
    if every is not None:
        seconds %= every
    return seconds if seconds < _active_seconds(profile) else None


def _change_offsets(stacks: _Stacks, start: datetime, duration: int, view: _View) -> list[int]:
    """Whole seconds from `start` at which some limit may change; a change within a second is
    reported at the end of that second."""
    end = start + timedelta(seconds=duration)
    offsets = {0}
    for profile in stacks.all():
        for moment in _change_points(profile, start, end, view.relative_start):
            if start < moment < end:
                offsets.add(math.ceil((moment - start).total_seconds()))
    return sorted(offset for offset in offsets if offset < duration)


def _change_points(
    profile: ChargingProfile, start: datetime, end: datetime, relative_start: datetime
) -> Iterator[datetime]:
    yield from (moment for moment in (profile.valid_from, profile.valid_to) if moment is not None)
    length = _active_seconds(profile)
    for run in _runs(profile, start, end, relative_start):
        for period in profile.schedule.periods:
            if period.start_period < length:
                yield run + timedelta(seconds=period.start_period)
        if math.isfinite(length):
            yield run + timedelta(seconds=length)


def _runs(
    profile: ChargingProfile, start: datetime, end: datetime, relative_start: datetime
) -> list[datetime]:
    """The starts of the schedule's runs that may overlap [start, end)."""
    first = _anchor(profile, relative_start)
    every = _recurrence(profile)
    if every is None:
        return [first]
    skip = max(0, math.floor((start - first).total_seconds() / every))
    last = math.floor((end - first).total_seconds() / every)
    return [first + timedelta(seconds=every * run) for run in range(skip, last + 1)]
