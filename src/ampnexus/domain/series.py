"""Time series a site reports or is told: solar (measured and forecast), carbon intensity and
the site meter, and how they become one value per planning slot.

A point's value holds from its timestamp until the next point ("as last reported"), or for
at most `max_hold` when one is given; where no point holds, the series is `missing`. A slot
gets the time-weighted mean over the slot, so a reading every 10 s and a forecast every
30 min resample alike.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from ampnexus.domain.errors import Invalid
from ampnexus.domain.time import utc


class Slots(Protocol):
    """A grid of equal slots, such as `ampnexus.charging.model.SlotGrid`."""

    @property
    def start(self) -> datetime: ...
    @property
    def slot_seconds(self) -> int: ...
    @property
    def count(self) -> int: ...


class SeriesKind(StrEnum):
    SOLAR_MEASURED = "solar_measured"  # W produced
    SOLAR_FORECAST = "solar_forecast"  # W expected
    CARBON = "carbon"  # g CO2 per kWh imported
    SITE_METER = "site_meter"  # W the whole site consumes, EVs included (see site.dynamic_cap_w)

    @property
    def unit(self) -> str:
        return "g/kWh" if self is SeriesKind.CARBON else "W"


@dataclass(frozen=True, slots=True)
class Point:
    timestamp: datetime
    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", utc(self.timestamp))
        if not math.isfinite(self.value):
            raise Invalid(f"a value must be a finite number, got {self.value}")


def check_points(kind: SeriesKind, points: Sequence[Point]) -> None:
    """Solar power and carbon intensity cannot be negative; a meter may read export."""
    if kind is SeriesKind.SITE_METER:
        return
    for point in points:
        if point.value < 0:
            raise Invalid(f"{kind} values must not be negative, got {point.value}")


def resample(
    points: Sequence[Point],
    grid: Slots,
    *,
    max_hold: timedelta | None = None,
    missing: float = 0.0,
) -> tuple[float, ...]:
    """One value per slot of `grid`: the time-weighted mean of the held series over it.

    Of several points with the same timestamp the last one given wins (a corrected value).
    """
    segments = _segments(points, grid.start, max_hold)
    width = float(grid.slot_seconds)
    values: list[float] = []
    first = 0
    for slot in range(grid.count):
        begin, end = slot * width, (slot + 1) * width
        while first < len(segments) and segments[first][1] <= begin:
            first += 1
        total = missing * width
        for seg_start, seg_end, value in segments[first:]:
            if seg_start >= end:
                break
            total += (value - missing) * (min(seg_end, end) - max(seg_start, begin))
        values.append(total / width)
    return tuple(values)


def value_at(
    points: Sequence[Point], moment: datetime, max_age: timedelta | None = None
) -> float | None:
    """The value in force at `moment`: the last point at or before it, if not older than
    `max_age`; None when there is none."""
    ordered = _latest_per_timestamp(points)
    index = bisect.bisect_right([p.timestamp for p in ordered], utc(moment)) - 1
    if index < 0:
        return None
    point = ordered[index]
    if max_age is not None and utc(moment) - point.timestamp > max_age:
        return None
    return point.value


def zone_of(tz: str | ZoneInfo) -> ZoneInfo:
    """The IANA time zone `tz`, or Invalid naming it."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        raise Invalid(f"unknown time zone {tz!r}: use an IANA name like Europe/London") from None


def _latest_per_timestamp(points: Sequence[Point]) -> list[Point]:
    by_time = {point.timestamp: point for point in points}  # later duplicates replace earlier
    return sorted(by_time.values(), key=lambda point: point.timestamp)


def _segments(
    points: Sequence[Point], origin: datetime, max_hold: timedelta | None
) -> list[tuple[float, float, float]]:
    """(start, end, value) in seconds after `origin`, ordered and not overlapping."""
    ordered = _latest_per_timestamp(points)
    hold = math.inf if max_hold is None else max_hold.total_seconds()
    starts = [(point.timestamp - utc(origin)).total_seconds() for point in ordered]
    ends = [*starts[1:], math.inf][: len(starts)]  # no points: no segments
    return [
        (start, min(end, start + hold), point.value)
        for start, end, point in zip(starts, ends, ordered, strict=True)
    ]
