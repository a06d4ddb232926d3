"""Energy per session and per site-local day: what a charger delivered, for an export.

A session's energy is its register at the stop minus its register at the start. To split
it across days, its energy import register readings say when it flowed: between two known
readings the energy is spread evenly over the time between them (with no readings, evenly
over the whole session), and the pieces are cut at the site's local midnights. A day is
the site's calendar day, so a day around a clock change lasts 23 or 25 hours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from ampnexus.domain.errors import Invalid
from ampnexus.domain.series import zone_of
from ampnexus.domain.time import utc
from ampnexus.domain.transaction import Transaction, energy_wh, import_register_wh

DEFAULT_MONTHS = 12
MAX_MONTHS = 13

# (instant, Wh delivered since the session started), non-decreasing in both.
Curve = list[tuple[datetime, float]]


def energy_curve(
    started_at: datetime,
    meter_start: int,
    readings: Sequence[tuple[datetime, float]],
    stopped_at: datetime | None,
    meter_stop: int | None,
) -> Curve:
    """The energy delivered since the start at the instants it is known.

    Readings outside the session, or that would make the register run backwards or past
    its value at the stop, are left out (a faulty or reset meter), so a finished session's
    curve ends at exactly its energy (never negative). A running session's ends at its
    latest reading; with none, it has delivered nothing known yet.
    """
    start = utc(started_at)
    stop = None if stopped_at is None else utc(stopped_at)
    ceiling = None if stop is None else meter_stop
    curve: Curve = [(start, 0.0)]
    register = float(meter_start)
    for at, value in sorted((utc(at), value) for at, value in readings):
        inside = at >= start and (stop is None or at <= stop)
        if inside and register <= value and (ceiling is None or value <= ceiling):
            curve.append((at, value - meter_start))
            register = value
    if stop is not None:
        total = energy_wh(meter_start, meter_stop)
        curve.append((stop, curve[-1][1] if total is None else float(total)))
    return curve


def transaction_curve(transaction: Transaction) -> Curve:
    """`energy_curve` of a stored session, from its total import register readings."""
    readings = [
        (reading.timestamp, wh)
        for reading in transaction.meter_values
        if (wh := import_register_wh(reading)) is not None
    ]
    return energy_curve(
        transaction.started_at,
        transaction.meter_start,
        readings,
        transaction.stopped_at,
        transaction.meter_stop,
    )


def energy_by_day(
    curve: Curve, tz: str | ZoneInfo, since: datetime, until: datetime
) -> dict[date, float]:
    """The energy of `curve` that flowed in [since, until), by the site-local day it flowed
    on (days with none are left out). Between two points of the curve the energy flows
    evenly; a step at one instant (two readings with the same timestamp) counts on the day
    of that instant."""
    zone, since, until = zone_of(tz), utc(since), utc(until)
    found: dict[date, float] = {}
    for (begin, before), (end, after) in pairwise(curve):
        energy = after - before
        if energy <= 0:
            continue
        if end <= begin:
            if since <= begin < until:
                day = begin.astimezone(zone).date()
                found[day] = found.get(day, 0.0) + energy
            continue
        rate = energy / (end - begin).total_seconds()
        for day, day_start, day_end in _local_days(max(begin, since), min(end, until), zone):
            found[day] = found.get(day, 0.0) + rate * (day_end - day_start).total_seconds()
    return found


PRICE_STEP = timedelta(minutes=15)  # tariffs change price on quarter hours (Agile: halves)


def energy_cost(
    curve: Curve,
    price_of: Callable[[datetime], float],
    since: datetime | None = None,
    until: datetime | None = None,
) -> float:
    """What the energy of `curve` that flowed in [since, until) cost: each quarter hour's
    share (UTC quarter hours, which are every zone's too but a handful) at the price in force
    in its middle, `price_of` giving it per kWh. Exact for prices that change on quarter
    hours, as time-of-use bands and dynamic tariffs do."""
    lower = None if since is None else utc(since)
    upper = None if until is None else utc(until)
    cost = 0.0
    for (begin, before), (end, after) in pairwise(curve):
        energy = after - before
        if energy <= 0:
            continue
        if end <= begin:  # a step at one instant
            if (lower is None or lower <= begin) and (upper is None or begin < upper):
                cost += energy / 1000 * price_of(begin)
            continue
        rate = energy / (end - begin).total_seconds()
        start = begin if lower is None else max(begin, lower)
        stop = end if upper is None else min(end, upper)
        for piece_start, piece_end in _quarters(start, stop):
            wh = rate * (piece_end - piece_start).total_seconds()
            cost += wh / 1000 * price_of(piece_start + (piece_end - piece_start) / 2)
    return cost


def _quarters(begin: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[begin, end) cut at whole quarter hours."""
    while begin < end:
        into = timedelta(
            minutes=begin.minute % 15, seconds=begin.second, microseconds=begin.microsecond
        )
        boundary = begin - into + PRICE_STEP
        yield begin, min(end, boundary)
        begin = boundary


def _local_days(
    begin: datetime, end: datetime, zone: ZoneInfo
) -> Iterator[tuple[date, datetime, datetime]]:
    """[begin, end) cut at the zone's midnights: (local date, from, to) each, UTC."""
    if end <= begin:
        return
    day = begin.astimezone(zone).date()
    while True:
        next_midnight = local_midnight(day + timedelta(days=1), zone)
        yield day, begin, min(end, next_midnight)
        if end <= next_midnight:
            return
        day, begin = day + timedelta(days=1), next_midnight


def local_midnight(day: date, tz: str | ZoneInfo) -> datetime:
    """The instant (UTC) the site's day starts. Where the clock skips midnight, the day
    starts when the clock jumps (the offset before the change maps it there)."""
    return datetime.combine(day, time(0), tzinfo=zone_of(tz)).astimezone(UTC)


def local_days(since: datetime, until: datetime, tz: str | ZoneInfo) -> list[date]:
    """The site-local dates that [since, until) touches, in order."""
    zone = zone_of(tz)
    first = utc(since).astimezone(zone).date()
    last = (utc(until) - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --- the range of an export ---------------------------------------------------------------------
def report_range(
    since: date | datetime | None,
    until: date | datetime | None,
    now: datetime,
    tz: str | ZoneInfo,
) -> tuple[datetime, datetime]:
    """[since, until) in UTC from what was asked. A date is the site's calendar day: since
    its start, until its end (so until=2025-01-31 includes that day); a datetime without an
    offset is site-local. Left out: until now, since the start of the day 12 months back.
    Invalid for an empty range or one over 13 months."""
    zone = zone_of(tz)
    try:
        return _range(since, until, now, zone)
    except (ValueError, OverflowError):  # near year 1 or 9999: no calendar to count in
        raise Invalid("since and until must lie well within the years 1 to 9999") from None


def _range(
    since: date | datetime | None, until: date | datetime | None, now: datetime, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    end = utc(now) if until is None else _instant(until, zone, end_of_day=True)
    if since is None:
        start = local_midnight(_months_before(end.astimezone(zone).date(), DEFAULT_MONTHS), zone)
    else:
        start = _instant(since, zone, end_of_day=False)
    if start >= end:
        raise Invalid(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    local_end = end.astimezone(zone)
    earliest = datetime.combine(
        _months_before(local_end.date(), MAX_MONTHS), local_end.time(), tzinfo=zone
    )
    if start < earliest:
        raise Invalid(
            f"since to until spans more than {MAX_MONTHS} months: since may be no earlier "
            f"than {earliest.astimezone(UTC).isoformat()} for this until"
        )
    return start, end


def _instant(moment: date | datetime, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    if isinstance(moment, datetime):
        return utc(moment if moment.tzinfo else moment.replace(tzinfo=zone))
    return local_midnight(moment + timedelta(days=1) if end_of_day else moment, zone)


def _months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier, or that month's last day."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    first_of_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    month_end = (first_of_next - timedelta(days=1)).day
    return date(year, month + 1, min(day.day, month_end))


# --- the export -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SessionEnergy:
    """A session that ran in the export's range, with its whole energy (Wh); a running one
    with what it has delivered so far."""

    transaction: Transaction
    energy_wh: float


@dataclass(frozen=True, slots=True)
class EnergyReport:
    charge_point_id: str
    time_zone: str
    since: datetime
    until: datetime
    sessions: list[SessionEnergy]
    days: list[tuple[date, float]]  # every site-local day of the range, Wh flowed in it


def energy_report(
    charge_point_id: str,
    sessions: Sequence[Transaction],
    tz: str,
    since: datetime,
    until: datetime,
) -> EnergyReport:
    """Per session and per site-local day (each day of the range, none left out; the first
    and last only for the part inside the range)."""
    totals = {day: 0.0 for day in local_days(since, until, tz)}
    rows = []
    for session in sessions:
        curve = transaction_curve(session)
        rows.append(SessionEnergy(session, curve[-1][1]))
        for day, wh in energy_by_day(curve, tz, since, until).items():
            totals[day] = totals.get(day, 0.0) + wh
    return EnergyReport(charge_point_id, tz, since, until, rows, sorted(totals.items()))
