"""Tariffs: what a kWh costs (import) and earns (export), slot by slot.

Three kinds, resolved the same way at any instant and for each direction (import, export),
first price found wins:
1. a dynamic price period covering the instant (UTC periods, e.g. Octopus Agile);
2. a time-of-use band covering the site-local time of day on that weekday;
3. the tariff's flat price (the whole tariff for `fixed`, the fallback for the others);
4. the nearest known dynamic price (prices beyond those published hold).
Export earns nothing where none of these gives an export price. Prices are money per kWh in
the site's currency units (p/kWh for the Agile file).
"""

from __future__ import annotations

import bisect
import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from ampnexus.domain.errors import Invalid
from ampnexus.domain.series import Slots, zone_of
from ampnexus.domain.time import utc

EVERY_DAY = frozenset(range(7))  # Monday is 0, as datetime.weekday()
WEEKDAYS = frozenset(range(5))
WEEKENDS = frozenset({5, 6})
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
AGILE_ZONE = "Europe/London"


class TariffKind(StrEnum):
    FIXED = "fixed"
    TIME_OF_USE = "time_of_use"
    DYNAMIC = "dynamic"


class Direction(StrEnum):
    IMPORT = "import"
    EXPORT = "export"


@dataclass(frozen=True, slots=True)
class Band:
    """A time-of-use band in site-local time: [start, end) on each of `days`.

    `end` at or before `start` runs past midnight into the next day (00:00-00:00 is the
    whole day); `days` are the days the band starts on.
    """

    start: time
    end: time
    import_price: float
    export_price: float | None = None
    days: frozenset[int] = EVERY_DAY
    spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days or not self.days <= EVERY_DAY:
            raise Invalid("a band needs days between 0 (Monday) and 6 (Sunday)")
        for moment in (self.start, self.end):
            if moment.second or moment.microsecond or moment.tzinfo:
                raise Invalid("band times are whole minutes of site-local time (HH:MM)")
        _price(self.import_price, "import_price")
        _price(self.export_price, "export_price")
        # The [from, to) minutes after Monday 00:00 the band covers (the last may pass Sunday).
        start, end = _minute(self.start), _minute(self.end)
        length = (end - start) % MINUTES_PER_DAY or MINUTES_PER_DAY
        firsts = [day * MINUTES_PER_DAY + start for day in sorted(self.days)]
        object.__setattr__(self, "spans", tuple((first, first + length) for first in firsts))

    def covers(self, local: datetime) -> bool:
        minute = local.weekday() * MINUTES_PER_DAY + _minute(local.time())
        return any(
            begin <= shifted < end
            for begin, end in self.spans
            for shifted in (minute, minute + MINUTES_PER_WEEK)
        )


@dataclass(frozen=True, slots=True)
class PricePeriod:
    """A dynamic price for [start, end), UTC."""

    start: datetime
    end: datetime
    import_price: float
    export_price: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end <= self.start:
            raise Invalid(f"a price period must end after it starts ({self.start:%Y-%m-%d %H:%M}Z)")
        _price(self.import_price, "import_price")
        _price(self.export_price, "export_price")


@dataclass(frozen=True, slots=True)
class Tariff:
    """`periods` are the dynamic prices loaded for the window being resolved (sorted)."""

    site_id: str
    name: str
    kind: TariffKind
    import_price: float | None = None
    export_price: float | None = None
    bands: tuple[Band, ...] = ()
    periods: tuple[PricePeriod, ...] = field(default=(), compare=False)
    valid_from: datetime | None = None
    id: int | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", tuple(self.bands))
        object.__setattr__(self, "periods", tuple(sorted(self.periods, key=lambda p: p.start)))
        if self.valid_from is not None:
            object.__setattr__(self, "valid_from", utc(self.valid_from))
        if not self.name.strip():
            raise Invalid("a tariff needs a name")
        _price(self.import_price, "import_price")
        _price(self.export_price, "export_price")
        if self.kind is TariffKind.FIXED:
            if self.import_price is None:
                raise Invalid("a fixed tariff needs import_price")
            if self.bands:
                raise Invalid("a fixed tariff has no bands: use kind time_of_use")
        if self.kind is TariffKind.TIME_OF_USE:
            if not self.bands:
                raise Invalid("a time_of_use tariff needs at least one band")
            _check_bands(self.bands, needs_cover=self.import_price is None)
        if self.kind is TariffKind.DYNAMIC and self.bands:
            raise Invalid("a dynamic tariff has no bands: its prices come per period")


def check_periods(periods: Sequence[PricePeriod]) -> None:
    """Periods given together must not overlap one another."""
    ordered = sorted(periods, key=lambda period: period.start)
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise Invalid(
                f"price periods overlap: {before.start:%Y-%m-%d %H:%M}Z-"
                f"{before.end:%H:%M}Z and {after.start:%Y-%m-%d %H:%M}Z-{after.end:%H:%M}Z"
            )


def prices(
    tariff: Tariff,
    grid: Slots,
    tz: str | ZoneInfo,
    direction: Direction = Direction.IMPORT,
) -> tuple[float, ...]:
    """One price per slot of `grid`: the time-weighted mean over the slot, sampled every
    minute (exact when bands and periods change on whole minutes, as tariffs do)."""
    zone = zone_of(tz)
    starts = [period.start for period in tariff.periods]
    width = timedelta(seconds=grid.slot_seconds)
    step = timedelta(seconds=math.gcd(grid.slot_seconds, 60))
    out: list[float] = []
    for slot in range(grid.count):
        begin = utc(grid.start) + slot * width
        index = bisect.bisect_right(starts, begin) - 1
        period = tariff.periods[index] if index >= 0 else None
        whole = period is not None and begin + width <= period.end
        price = _pick(period, direction) if period is not None and whole else None
        if price is None:  # not one dynamic price for the whole slot: sample it
            samples = [
                price_at(tariff, begin + i * step, zone, direction, starts)
                for i in range(width // step)
            ]
            price = sum(samples) / len(samples)
        out.append(price)
    return tuple(out)


def price_at(
    tariff: Tariff,
    moment: datetime,
    tz: str | ZoneInfo,
    direction: Direction = Direction.IMPORT,
    period_starts: Sequence[datetime] | None = None,
) -> float:
    """The price in force at `moment` (see the module's order)."""
    moment = utc(moment)
    starts = period_starts if period_starts is not None else [p.start for p in tariff.periods]
    index = bisect.bisect_right(starts, moment) - 1
    period = tariff.periods[index] if index >= 0 else None
    local = moment.astimezone(zone_of(tz))
    candidates = (
        _pick(period, direction) if period is not None and moment < period.end else None,
        next((_pick(b, direction) for b in tariff.bands if b.covers(local)), None),
        tariff.import_price if direction is Direction.IMPORT else tariff.export_price,
        _pick(_nearest(tariff.periods, moment, index), direction) if tariff.periods else None,
    )
    price = next((price for price in candidates if price is not None), None)
    if price is not None:
        return price
    if direction is Direction.EXPORT:
        return 0.0
    raise Invalid(f"tariff {tariff.name!r} has no price for {moment:%Y-%m-%d %H:%M}Z")


def current_tariff(tariffs: Iterable[Tariff], at: datetime) -> Tariff | None:
    """The tariff in force at `at`: the latest `valid_from` not after it (no `valid_from`
    counts as always), the newest one among equals."""
    at = utc(at)
    valid = [t for t in tariffs if t.valid_from is None or t.valid_from <= at]
    return max(
        valid,
        key=lambda t: (t.valid_from is not None, t.valid_from or at, t.id or 0),
        default=None,
    )


# --- the Octopus Agile CSV ---------------------------------------------------------------------
AGILE_COLUMNS = ("period from", "period to", "import price", "export price")
AGILE_TIME = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2})$")  # dd/mm/YYYY HH:MM


def parse_agile_csv(text: str, tz: str | ZoneInfo = AGILE_ZONE) -> tuple[PricePeriod, ...]:
    """Price periods from Octopus's Agile export: `Period from,Period to,Agile Import price
    (p/kWh),Agile Export price (p/kWh)` with local times `dd/mm/YYYY HH:MM`.

    Local times are turned into UTC instants with each row continuing from the one before, so
    the clock change days come out right: in spring 00:30-02:00 is one half hour; in autumn
    a time that occurs twice is read as its occurrence after the previous row's end. Where
    the file lists the repeated hour only once (the 2022-23 export does), the row before
    02:00 covers 90 minutes rather than leaving an hour without a price.
    """
    zone = zone_of(tz)
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(rows, None)
    columns = _agile_columns(header)
    periods: list[PricePeriod] = []
    previous_end: datetime | None = None
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            cells = [row[i].strip() if i is not None and i < len(row) else "" for i in columns]
            start = _local_instant(cells[0], zone, previous_end, inclusive=True)
            end = _local_instant(cells[1], zone, start, inclusive=False)
            period = PricePeriod(start, end, float(cells[2]), float(cells[3]) if cells[3] else None)
        except (ValueError, Invalid) as error:
            raise Invalid(f"line {line}: {error}") from None
        periods.append(period)
        previous_end = end
    if not periods:
        raise Invalid("the CSV has no price rows")
    return tuple(periods)


def _agile_columns(header: list[str] | None) -> list[int | None]:
    names = [cell.strip().lower() for cell in header or []]

    def find(word: str) -> int | None:
        return next((i for i, name in enumerate(names) if word in name), None)

    columns = [find(word) for word in AGILE_COLUMNS]
    if None in columns[:3]:
        raise Invalid(
            "the CSV header must name 'Period from', 'Period to' and an 'Import price' column "
            "(an 'Export price' column is optional)"
        )
    return columns


def _local_instant(
    text: str, zone: ZoneInfo, after: datetime | None, *, inclusive: bool
) -> datetime:
    """The UTC instant of a local time; of its two readings on an autumn clock change, the
    first not before (inclusive) or after `after`."""
    match = AGILE_TIME.match(text)
    if match is None:
        raise Invalid(f"expected a local time like 31/12/2023 23:30, got {text!r}")
    day, month, year, hour, minute = map(int, match.groups())
    local = datetime(year, month, day, hour, minute)
    readings = sorted(utc(local.replace(tzinfo=zone, fold=fold)) for fold in (0, 1))
    if after is not None:
        later = [r for r in readings if r > after or (inclusive and r == after)]
        if later:
            return later[0]
    return utc(local.replace(tzinfo=zone))


# --- helpers ----------------------------------------------------------------------------------
def _check_bands(bands: Sequence[Band], *, needs_cover: bool) -> None:
    """Bands must not overlap; without a flat price they must cover the whole week."""
    spans = _week_spans(bands)
    for (_, end, first), (begin, _, second) in pairwise(spans):
        if begin < end:
            raise Invalid(
                f"time-of-use bands {first + 1} and {second + 1} overlap on "
                f"{_describe_minute(begin)}"
            )
    gap = _first_gap(spans)
    if needs_cover and gap is not None:
        raise Invalid(
            f"no band covers {_describe_minute(gap)}: add a band, or give import_price for "
            "the times no band covers"
        )


def _week_spans(bands: Sequence[Band]) -> list[tuple[int, int, int]]:
    """(from, to, band index) minutes of the week, a span past Sunday midnight split in two."""
    spans: list[tuple[int, int, int]] = []
    for index, band in enumerate(bands):
        for begin, end in band.spans:
            if end <= MINUTES_PER_WEEK:
                spans.append((begin, end, index))
            else:
                spans += [(begin, MINUTES_PER_WEEK, index), (0, end - MINUTES_PER_WEEK, index)]
    return sorted(spans)


def _first_gap(spans: Sequence[tuple[int, int, int]]) -> int | None:
    minute = 0
    for begin, end, _ in spans:
        if begin > minute:
            return minute
        minute = max(minute, end)
    return minute if minute < MINUTES_PER_WEEK else None


DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _describe_minute(minute: int) -> str:
    minute %= MINUTES_PER_WEEK
    day, rest = divmod(minute, MINUTES_PER_DAY)
    return f"{DAY_NAMES[day]} {rest // 60:02d}:{rest % 60:02d}"


def _minute(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _pick(source: Band | PricePeriod, direction: Direction) -> float | None:
    return source.import_price if direction is Direction.IMPORT else source.export_price


def _nearest(periods: Sequence[PricePeriod], moment: datetime, index: int) -> PricePeriod:
    """The known period closest in time to `moment` (which none covers)."""
    before = periods[index] if index >= 0 else None
    after = periods[index + 1] if index + 1 < len(periods) else None
    if before is None:
        assert after is not None
        return after
    if after is None or moment - before.end <= after.start - moment:
        return before
    return after


def _price(value: float | None, name: str) -> None:
    if value is not None and not math.isfinite(value):
        raise Invalid(f"{name} must be a finite number, got {value}")
