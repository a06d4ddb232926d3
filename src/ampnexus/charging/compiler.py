"""From a plan to the OCPP 1.6 charging profiles that make chargers follow it.

- A running transaction gets a TxProfile: Absolute, starting at the plan's first slot,
  one period per change of power, in the unit the charger accepts (amps per phase when it
  takes only Current), floored to 0.1 so rounding never raises a limit. A charger holding
  fewer periods (ChargingScheduleMaxPeriods) gets neighbouring periods merged at the lower
  limit: it may charge less than planned, never more. After the plan's horizon a last
  period holds the connector's fail-safe share, with no end: a TxProfile whose schedule
  has ended still overrules the TxDefaultProfile (OCPP 1.6 §3.13.2, OCTT TC_066), and
  the charger would draw its own maximum there, not its fail-safe.
- Every charger holds a fail-safe TxDefaultProfile on connector 0 (stack level 0, no end):
  the share of the site's capacity that is safe even if every charger draws it at once
  while AmpNexus is unreachable. A TxDefaultProfile on connector 0 binds each connector on
  its own (OCPP 1.6 §3.13.1), so the charger's share is split among its connectors; a part
  below the 6 A a car can be told to draw is 0 (no charging until a plan says more). That
  static share is an upper bound: the fail-safe a charger is sent follows the plan
  (`idle_room_w`), so idle chargers do not keep the site from the cars plugged in.
- Commands are ordered reductions first, so the site never passes through a state above
  its limits while profiles are being replaced. A profile is judged on every instant from
  now on against what the connector holds (`Change`): one that lowers anywhere goes first;
  one that lowers somewhere and raises elsewhere goes first as the lower of both
  (`lower_of`), then whole with the increases; one that changes nothing is not sent. A rise
  where no limit goes down (`Lowered`) need not wait: it goes with the first.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from ampnexus.charging.model import Plan, PlanRequest
from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    SchedulePeriod,
    convert,
    floor_tenth,
)

PLAN_STACK_LEVEL = 1
MIN_CURRENT_A = 6.0  # IEC 61851: the lowest current a car can be told to draw
FAIL_SAFE_STACK_LEVEL = 0
PLAN_PROFILE_ID = 7100  # + connector id: one planned TxProfile per connector, replaced in place
FAIL_SAFE_PROFILE_ID = 7000
MODE_PROFILE_ID = 7200  # the ChargePointMaxProfile that holds a charger's mode (blocked hours)
MODE_STACK_LEVEL = 0


@dataclass(frozen=True, slots=True)
class ChargerCapabilities:
    """What a charger told us in its smart-charging configuration keys."""

    max_periods: int = 24  # ChargingScheduleMaxPeriods
    units: tuple[ChargingRateUnit, ...] = (ChargingRateUnit.A,)  # ...AllowedChargingRateUnit
    max_stack_level: int = 8  # ChargeProfileMaxStackLevel
    voltage: float = 230.0
    phases: int = 3
    connectors: int = 1  # NumberOfConnectors

    @property
    def unit(self) -> ChargingRateUnit:
        """Power when the charger takes it (no rounding through amps), else current."""
        return ChargingRateUnit.W if ChargingRateUnit.W in self.units else ChargingRateUnit.A


@dataclass(frozen=True, slots=True)
class ProfileCommand:
    charge_point_id: str
    connector_id: int
    profile: ChargingProfile
    limit_now_w: float  # what the profile allows at the time it is sent


# A connector's limit over time, in W: (from, limit) steps, ascending; the last one holds on.
# Before the first step nothing is known (infinite).
Steps = tuple[tuple[datetime, float], ...]
ALWAYS = datetime.min.replace(tzinfo=UTC)
NEVER = datetime.max.replace(tzinfo=UTC)


def constant_steps(watts: float) -> Steps:
    return ((ALWAYS, watts),)


def profile_steps(profile: ChargingProfile, capabilities: ChargerCapabilities) -> Steps:
    """An Absolute profile's limits, in W; after a schedule with a duration, no limit."""
    schedule = profile.schedule
    start = schedule.start_schedule or ALWAYS
    steps = [
        (
            start + timedelta(seconds=period.start_period),
            convert(
                period.limit,
                schedule.unit,
                ChargingRateUnit.W,
                period.number_phases or capabilities.phases,
                capabilities.voltage,
            ),
        )
        for period in schedule.periods
    ]
    if schedule.duration is not None:
        steps.append((start + timedelta(seconds=schedule.duration), math.inf))
    return tuple(steps)


def steps_at(steps: Steps, moment: datetime) -> float:
    index = bisect.bisect_right([start for start, _ in steps], moment)
    return steps[index - 1][1] if index else math.inf


def _walk(since: datetime, *all_steps: Steps) -> Iterator[tuple[datetime, list[float]]]:
    """Each instant from `since` on at which any of the steps may change, with the value of
    every one of them there: one pass over all (replans compile thousands of these)."""
    moments = sorted(
        {since} | {start for steps in all_steps for start, _ in steps if start > since}
    )
    positions = [0] * len(all_steps)
    values = [math.inf] * len(all_steps)
    for moment in moments:
        for i, steps in enumerate(all_steps):
            while positions[i] < len(steps) and steps[positions[i]][0] <= moment:
                values[i] = steps[positions[i]][1]
                positions[i] += 1
        yield moment, values


def highest_steps(candidates: list[Steps], since: datetime) -> Steps:
    """What a connector may hold when it holds one of `candidates` (a send unanswered)."""
    if len(candidates) == 1:
        return candidates[0]
    return tuple((moment, max(values)) for moment, values in _walk(since, *candidates))


@dataclass(frozen=True, slots=True)
class Change:
    """How a new profile compares with what the connector holds, from now on."""

    lowers: bool  # somewhere (the site may need this before any increase)
    raises: bool  # somewhere

    @classmethod
    def of(cls, new: Steps, held: Steps, since: datetime) -> Change:
        lowers = raises = False
        for _, (n, h) in _walk(since, new, held):
            lowers, raises = lowers or n < h, raises or n > h
        return cls(lowers, raises)


def spans_where(
    new: Steps, held: Steps, since: datetime, test: Callable[[float, float], bool]
) -> list[tuple[datetime, datetime]]:
    """The spans from `since` on where `test(new, held)` holds (the last may have no end)."""
    spans: list[tuple[datetime, datetime]] = []
    start: datetime | None = None
    for moment, (now_new, now_held) in _walk(since, new, held):
        if test(now_new, now_held):
            start = moment if start is None else start
        elif start is not None:
            spans.append((start, moment))
            start = None
    if start is not None:
        spans.append((start, NEVER))
    return spans


@dataclass(frozen=True, slots=True)
class Lowered:
    """The instants at which some connector's limit goes down in a dispatch, as disjoint
    sorted spans: a rise elsewhere cannot add to a site still drawing an old, higher limit,
    so it need not wait for the reductions to be confirmed."""

    spans: tuple[tuple[datetime, datetime], ...]

    @classmethod
    def of(cls, spans: Iterable[tuple[datetime, datetime]]) -> Lowered:
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return cls(tuple(merged))

    @classmethod
    def everywhere(cls) -> Lowered:
        return cls(((ALWAYS, NEVER),))

    def meets(self, spans: Iterable[tuple[datetime, datetime]]) -> bool:
        starts = [start for start, _ in self.spans]
        for start, end in spans:
            i = bisect.bisect_right(starts, start) - 1  # the last span starting by `start`
            if (i >= 0 and self.spans[i][1] > start) or (
                i + 1 < len(self.spans) and self.spans[i + 1][0] < end
            ):
                return True
        return False

    @property
    def steps(self) -> Steps:
        """1 inside, 0 outside."""
        steps: list[tuple[datetime, float]] = [(ALWAYS, 0.0)]
        for start, end in self.spans:
            steps += [(start, 1.0)] + ([(end, 0.0)] if end < NEVER else [])
        return tuple(steps)


def lower_of(
    profile: ChargingProfile,
    held: Steps,
    since: datetime,
    capabilities: ChargerCapabilities,
    steps: Steps | None = None,
    where: Lowered | None = None,
) -> ChargingProfile:
    """The profile, lowered to what the connector holds wherever that is less: what it may
    hold while the others' reductions are not yet confirmed. Starts at `since` (a whole
    second); where either ends, the other holds on. `steps`: the profile's, when known;
    `where`: only there (elsewhere nobody's limit goes down, and a rise is safe at once)."""
    new = profile_steps(profile, capabilities) if steps is None else steps
    unit = profile.schedule.unit
    per = 1.0 if unit is ChargingRateUnit.W else capabilities.voltage * capabilities.phases
    inside = where.steps if where is not None else constant_steps(1.0)
    periods: list[tuple[int, float]] = []
    for moment, (now_new, now_held, lowered) in _walk(since, new, held, inside):
        watts = min(now_new, now_held) if lowered else now_new
        limit = floor_tenth(watts / per)  # `convert`, without its checks
        if not periods or periods[-1][1] != limit:
            periods.append((round((moment - since).total_seconds()), limit))
    periods = _merge_to(periods, max(1, capabilities.max_periods))
    schedule = replace(
        profile.schedule,
        periods=tuple(
            SchedulePeriod(start, limit, capabilities.phases) for start, limit in periods
        ),
        duration=None,
        start_schedule=since,
    )
    return replace(profile, schedule=schedule)


def stack_level_above(
    theirs: Iterable[int], capabilities: ChargerCapabilities, ours: int
) -> int | None:
    """The stack level a profile of ours goes at so that the charger follows it rather than
    an operator's of the same purpose at `theirs` (ours already keeps to theirs): `ours`
    when that is above them, else the next above the highest; None when that passes the
    charger's ChargeProfileMaxStackLevel. With none of theirs, `ours` within the charger's."""
    levels = list(theirs)
    if not levels:
        return min(ours, capabilities.max_stack_level)
    level = max(ours, max(levels) + 1)
    return level if level <= capabilities.max_stack_level else None


def tx_profile(
    plan: Plan,
    session_id: str,
    transaction_id: int,
    connector_id: int,
    capabilities: ChargerCapabilities,
    after_w: float = 0.0,
    blocked: Sequence[tuple[datetime, datetime]] = (),
    bound: Steps | None = None,
    stack_level: int | None = None,
) -> ChargingProfile:
    """`after_w`: what the connector may draw after the plan's horizon, until replaced (its
    fail-safe share). `blocked`: UTC intervals in which the session must not charge (its
    mode): 0 there to the second, the planned power in the rest of each slot. `bound`: an
    operator's limit over time (W), kept at every instant, after the horizon too (the
    lower of both). `stack_level`: where it goes (default PLAN_STACK_LEVEL, within the
    charger's highest)."""
    unit = capabilities.unit
    watts = np.array((*plan.power_w[session_id], after_w))
    # As `floor_tenth(convert(...))` slot by slot, for the whole row at once: a replan of
    # 1,000 sessions compiles 100,000 slots.
    per = 1.0 if unit is ChargingRateUnit.W else capabilities.voltage * capabilities.phases
    limits = np.floor(np.round(watts / per * 10, 6)) / 10
    changes = np.flatnonzero(np.concatenate(([True], limits[1:] != limits[:-1])))
    slot = plan.grid.slot_seconds
    periods = [(int(i) * slot, float(limits[i])) for i in changes]
    if blocked:
        periods = _with_blocked(periods, blocked, plan.grid.start)
    if bound:
        periods = _with_bound(periods, bound, plan.grid.start, per)
    periods = _merge_to(periods, max(1, capabilities.max_periods))
    schedule = ChargingSchedule(
        unit=unit,
        periods=tuple(
            SchedulePeriod(start, limit, capabilities.phases) for start, limit in periods
        ),
        duration=None,  # the last period lasts until the profile is replaced
        start_schedule=plan.grid.start,
    )
    return ChargingProfile(
        id=PLAN_PROFILE_ID + connector_id,
        stack_level=(
            min(PLAN_STACK_LEVEL, capabilities.max_stack_level)
            if stack_level is None
            else stack_level
        ),
        purpose=ProfilePurpose.TX,
        kind=ProfileKind.ABSOLUTE,
        schedule=schedule,
        transaction_id=transaction_id,
    )


def _with_blocked(
    periods: list[tuple[int, float]],
    blocked: Sequence[tuple[datetime, datetime]],
    start: datetime,
) -> list[tuple[int, float]]:
    """`periods` (seconds from `start`, limit) with 0 inside every blocked interval: the
    seconds are rounded outwards, so a blocked instant is never left open."""
    cuts: list[tuple[int, int]] = []
    for begin, end in blocked:
        first = max(0, math.floor((begin - start).total_seconds()))
        last = math.ceil((end - start).total_seconds())
        if last > first:
            cuts.append((first, last))
    if not cuts:
        return periods
    moments = sorted({p for p, _ in periods} | {m for cut in cuts for m in cut})
    starts = [p for p, _ in periods]
    out: list[tuple[int, float]] = []
    for moment in moments:
        planned = periods[bisect.bisect_right(starts, moment) - 1][1]
        limit = 0.0 if any(a <= moment < b for a, b in cuts) else planned
        if not out or out[-1][1] != limit:
            out.append((moment, limit))
    return out


def _with_bound(
    periods: list[tuple[int, float]], bound: Steps, start: datetime, per: float
) -> list[tuple[int, float]]:
    """`periods` (whole seconds from `start`, limit in units of `per` W) lowered to `bound`
    (W) wherever it is lower. Each whole second holds the lowest the bound is anywhere in
    it, so an instant is never left above the bound."""
    offsets = [((moment - start).total_seconds(), watts) for moment, watts in bound]
    edges = {max(0, f(x)) for x, _ in offsets for f in (math.floor, math.ceil)}
    moments = sorted({p for p, _ in periods} | edges)
    starts = [p for p, _ in periods]
    out: list[tuple[int, float]] = []
    for here, after in zip(moments, [*moments[1:], math.inf], strict=True):
        planned = periods[bisect.bisect_right(starts, here) - 1][1]
        at = [watts for x, watts in offsets if x <= here]
        inside = [watts for x, watts in offsets if here < x < after]
        watts = min([*at[-1:], *inside], default=math.inf)
        limit = min(planned, floor_tenth(watts / per) if math.isfinite(watts) else math.inf)
        if not out or out[-1][1] != limit:
            out.append((here, limit))
    return out


def charge_point_max_profile(
    blocked: Sequence[tuple[datetime, datetime]],
    since: datetime,
    until: datetime,
    max_w: float,
    capabilities: ChargerCapabilities,
) -> ChargingProfile:
    """The ChargePointMaxProfile (connector 0) that keeps the charger from charging in the
    `blocked` UTC intervals from `since` to `until` even if it never hears from AmpNexus
    again: 0 inside them, `max_w` outside, and 0 from `until` on (what lies beyond is not
    known, so it is never left open). It caps every Tx and TxDefault profile (§3.13.3).
    With fewer periods than that needs (ChargingScheduleMaxPeriods) it covers what fits and
    ends with a 0 at the start of the first blocked interval it cannot hold."""
    since = since.replace(microsecond=0)
    unit = capabilities.unit
    top = floor_tenth(
        convert(max_w, ChargingRateUnit.W, unit, capabilities.phases, capabilities.voltage)
    )
    end = math.floor((until - since).total_seconds())
    shut: list[tuple[int, int]] = []  # whole seconds from `since`, rounded outwards
    for begin, finish in blocked:
        first = max(0, math.floor((begin - since).total_seconds()))
        last = min(end, math.ceil((finish - since).total_seconds()))
        if last <= first:
            continue
        if shut and first <= shut[-1][1]:
            shut[-1] = (shut[-1][0], max(shut[-1][1], last))
        else:
            shut.append((first, last))
    periods: list[tuple[int, float]] = [(0, top)]
    for first, last in shut:
        if first == 0:
            periods = [(0, 0.0)]
        else:
            periods.append((first, 0.0))
        periods.append((last, top))
    if periods[-1][0] >= end:
        periods.pop()
    if periods[-1][1] != 0.0:
        periods.append((end, 0.0))
    room = max(1, capabilities.max_periods)
    if len(periods) > room:
        periods = periods[:room]
        if periods[-1][1] != 0.0:  # ends closed: with the next blocked interval's 0
            periods = periods[:-1] if room > 1 else [(0, 0.0)]
    return ChargingProfile(
        id=MODE_PROFILE_ID,
        stack_level=MODE_STACK_LEVEL,
        purpose=ProfilePurpose.CHARGE_POINT_MAX,
        kind=ProfileKind.ABSOLUTE,
        schedule=ChargingSchedule(
            unit,
            tuple(SchedulePeriod(start, limit, capabilities.phases) for start, limit in periods),
            start_schedule=since,
        ),
    )


@dataclass(frozen=True, slots=True)
class IdleConnectors:
    """A charger's connectors without a session, which draw its TxDefaultProfile the moment
    a car plugs in."""

    charge_point_id: str
    circuit_id: str
    phases: tuple[int, ...]
    count: int


def idle_room_w(request: PlanRequest, plan: Plan, idle: list[IdleConnectors]) -> dict[str, float]:
    """What each idle connector may be allowed (W) so that all of them drawing it at once,
    with everything the plan gives the real sessions and the base load, stays within every
    circuit at every slot: each circuit's least room over the horizon, split equally among
    the idle connectors below it (per phase where it limits current); the smallest wins.
    Expected sessions are left out: they are the cars these connectors are kept for."""
    keep = 1.0 - request.safety_margin
    grid, by_id = plan.grid, {c.id: c for c in request.circuits}
    real = [x for x in request.sessions if not x.expected and x.id in plan.power_w]

    def path(circuit_id: str) -> list[str]:
        ids: list[str] = []
        while circuit_id in by_id and circuit_id not in ids:
            ids.append(circuit_id)
            circuit_id = by_id[circuit_id].parent_id or ""
        return ids

    def below(circuit_id: str, on: str) -> bool:
        return circuit_id in path(on)

    net = [
        _at(request.series.base_load_w, t) - _at(request.series.solar_w, t)
        for t in range(grid.count)
    ]
    room: dict[str, float] = {item.charge_point_id: math.inf for item in idle}
    for circuit in request.circuits:
        idle_here = [item for item in idle if below(circuit.id, item.circuit_id)]
        if not idle_here:
            continue
        sessions = [x for x in real if below(circuit.id, x.circuit_id)]
        fixed = net if circuit.parent_id is None else [0.0] * grid.count
        each = math.inf
        if circuit.max_power_w is not None:
            least = min(
                circuit.max_power_w * keep - fixed[t] - sum(plan.power_w[x.id][t] for x in sessions)
                for t in range(grid.count)
            )
            each = least / sum(item.count for item in idle_here)
        if circuit.max_current_a is not None:
            for phase in (1, 2, 3):
                weight = sum(
                    item.count / len(item.phases) for item in idle_here if phase in item.phases
                )
                if not weight:
                    continue
                least = min(
                    circuit.max_current_a * request.voltage * keep
                    - fixed[t] / 3
                    - sum(
                        plan.power_w[x.id][t] / len(x.phases) for x in sessions if phase in x.phases
                    )
                    for t in range(grid.count)
                )
                each = min(each, least / weight)
        for item in idle_here:
            room[item.charge_point_id] = min(room[item.charge_point_id], max(0.0, each))
    return room


def _at(values: tuple[float, ...], t: int) -> float:
    return values[t] if t < len(values) else 0.0


def fail_safe_per_connector_w(share_w: float, capabilities: ChargerCapabilities) -> float:
    """What each connector may draw under the fail-safe, for the charger's `share_w` in all."""
    each = share_w / max(1, capabilities.connectors)
    minimum = MIN_CURRENT_A * capabilities.voltage * capabilities.phases
    return each if each >= minimum else 0.0


def fail_safe_profile(
    share_w: float,
    capabilities: ChargerCapabilities,
    delay_s: int = 0,
    stack_level: int = FAIL_SAFE_STACK_LEVEL,
) -> ChargingProfile:
    """The TxDefaultProfile for connector 0 that keeps the whole charger within `share_w`.
    `delay_s`: a transaction draws nothing for its first seconds (the Regulations' random
    delay at the start of charging, held by the charger even offline)."""
    unit = capabilities.unit
    limit = floor_tenth(
        convert(
            fail_safe_per_connector_w(share_w, capabilities),
            ChargingRateUnit.W,
            unit,
            capabilities.phases,
            capabilities.voltage,
        )
    )
    periods = [(0, limit)]
    if delay_s > 0 and limit > 0 and capabilities.max_periods > 1:
        periods = [(0, 0.0), (delay_s, limit)]
    return ChargingProfile(
        id=FAIL_SAFE_PROFILE_ID,
        stack_level=stack_level,
        purpose=ProfilePurpose.TX_DEFAULT,
        kind=ProfileKind.RELATIVE,
        schedule=ChargingSchedule(
            unit, tuple(SchedulePeriod(s, x, capabilities.phases) for s, x in periods)
        ),
    )


def fail_safe_delay_s(profile: ChargingProfile) -> int:
    """The start delay a fail-safe profile holds (0: none)."""
    periods = profile.schedule.periods
    if len(periods) > 1 and periods[0].limit == 0.0:
        return periods[1].start_period
    return 0


def limit_now_w(plan: Plan, session_id: str, now: datetime) -> float:
    index = min(max(plan.grid.index_at(now), 0), plan.grid.count - 1)
    return plan.power_w[session_id][index]


def _periods(limits: list[float], slot_seconds: int) -> list[tuple[int, float]]:
    periods: list[tuple[int, float]] = []
    for index, limit in enumerate(limits):
        if not periods or periods[-1][1] != limit:
            periods.append((index * slot_seconds, limit))
    return periods or [(0, 0.0)]


def _merge_to(periods: list[tuple[int, float]], max_periods: int) -> list[tuple[int, float]]:
    """Merge neighbours at the lower limit, cheapest loss first, until few enough remain."""
    periods = list(periods)
    while len(periods) > max_periods:
        ends = [start for start, _ in periods[1:]] + [None]
        best, best_loss = 0, float("inf")
        for i in range(len(periods) - 1):
            (start_a, limit_a), (start_b, limit_b) = periods[i], periods[i + 1]
            end_b = ends[i + 1]
            length_b = (end_b - start_b) if end_b is not None else 1
            loss = (
                (start_b - start_a) * (limit_a - limit_b)
                if limit_a > limit_b
                else (length_b * (limit_b - limit_a))
            )
            if loss < best_loss:
                best, best_loss = i, loss
        (start_a, limit_a), (_, limit_b) = periods[best], periods[best + 1]
        periods[best : best + 2] = [(start_a, min(limit_a, limit_b))]
        # Merging can make equal neighbours: fold them so no period is wasted.
        periods = [p for j, p in enumerate(periods) if j == 0 or periods[j - 1][1] != p[1]]
    return periods
