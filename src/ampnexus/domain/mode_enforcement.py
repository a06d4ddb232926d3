"""When a charger's mode forbids charging, as exact UTC intervals (ADR 0009, Enforcement).

- `regulation_compliance`: every peak window, and after its end a random delay (uniform,
  whole seconds, 0..`random_delay_max_s`), none when the charger applies its own.
- `schedule`: everything outside its windows.
- The other modes block nothing on the charger as a whole (`user_controlled` holds back
  sessions one by one, not time).

Delays are drawn from a keyed hash (`DelayDraw`) of the charger and the window's end: the
same every time the profiles are re-issued, different across chargers and windows, and not
predictable from outside (the key is random per process). A restart draws new ones for
windows still ahead, which the Regulations allow: each event's delay is random.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ampnexus.domain.charging_mode import (
    ChargingMode,
    EffectiveMode,
    RegulationSettings,
    ScheduleSettings,
    utc_intervals,
)
from ampnexus.domain.time import utc

ENFORCED_DAYS = 8  # how far ahead a charger holds its mode (the Regulations ask for 7)
Interval = tuple[datetime, datetime]


class DelayDraw:
    """Random delays that are the same whenever asked for the same event: an HMAC-SHA256 of
    the event's name under a secret key, reduced to whole seconds 0..maximum."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def seconds(self, maximum: int, *event: str) -> int:
        if maximum <= 0:
            return 0
        digest = hmac.new(self._key, "\x1f".join(event).encode(), hashlib.sha256).digest()
        # 64 bits reduced modulo at most 1801: the bias is below 1e-16.
        return int.from_bytes(digest[:8], "big") % (maximum + 1)

    def after_window(
        self, settings: RegulationSettings, charge_point_id: str, end: datetime
    ) -> int:
        """The delay after the peak window ending at `end` on this charger."""
        if settings.charger_applies_delay:
            return 0
        stamp = str(int(utc(end).timestamp()))
        return self.seconds(settings.random_delay_max_s, "window", charge_point_id, stamp)

    def at_start(self, settings: RegulationSettings, charge_point_id: str, event: str) -> int:
        """The delay before a session starts to charge (`event` names the start)."""
        if settings.charger_applies_delay:
            return 0
        return self.seconds(settings.random_delay_max_s, "start", charge_point_id, event)

    def at_rise(self, settings: RegulationSettings, charge_point_id: str, event: str) -> int:
        """The delay before a rise of a session's rate (`event` names the rise)."""
        if settings.charger_applies_delay:
            return 0
        return self.seconds(settings.random_delay_max_s, "rise", charge_point_id, event)


def blocked_intervals(
    mode: EffectiveMode,
    since: datetime,
    tz: str | ZoneInfo,
    delays: DelayDraw,
    days: int = ENFORCED_DAYS,
    exempt: Sequence[Interval] = (),
) -> list[Interval]:
    """The sorted, disjoint UTC intervals in [since, since + days) in which the charger in
    `mode` must not charge. `exempt`: when the site provides demand response; a peak window
    ending inside one has no delay after it (the Regulations exempt those times)."""
    since = utc(since)
    end = since + timedelta(days=days)
    settings = mode.settings
    if mode.mode is ChargingMode.REGULATION_COMPLIANCE and isinstance(settings, RegulationSettings):
        return _peaks_with_delays(settings, mode.charge_point_id, since, end, tz, delays, exempt)
    if mode.mode is ChargingMode.SCHEDULE and isinstance(settings, ScheduleSettings):
        return complement(utc_intervals(settings.windows, since, end, tz), since, end)
    return []


def _peaks_with_delays(
    settings: RegulationSettings,
    charge_point_id: str,
    since: datetime,
    end: datetime,
    tz: str | ZoneInfo,
    delays: DelayDraw,
    exempt: Sequence[Interval] = (),
) -> list[Interval]:
    # A window that ended up to the longest delay ago may still be delaying now.
    lookback = since - timedelta(seconds=settings.random_delay_max_s + 1)
    found = []
    for start, finish in utc_intervals(settings.peak_windows, lookback, end, tz):
        # A real end (one clipped at `end` has its delay beyond the span), outside demand
        # response, waits its delay.
        if finish < end and not blocked_at(list(exempt), finish):
            finish += timedelta(seconds=delays.after_window(settings, charge_point_id, finish))
        if finish > since:
            found.append((max(start, since), min(finish, end)))
    return joined(found)


def complement(intervals: list[Interval], since: datetime, end: datetime) -> list[Interval]:
    """[since, end) less the sorted, disjoint `intervals`."""
    gaps, at = [], since
    for start, finish in intervals:
        if start > at:
            gaps.append((at, min(start, end)))
        at = max(at, finish)
    if at < end:
        gaps.append((at, end))
    return [(a, b) for a, b in gaps if a < b]


def joined(intervals: list[Interval]) -> list[Interval]:
    """Overlapping or touching intervals as one, sorted."""
    out: list[Interval] = []
    for start, finish in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], finish))
        else:
            out.append((start, finish))
    return out


def blocked_at(intervals: list[Interval], moment: datetime) -> bool:
    return any(start <= moment < finish for start, finish in intervals)


def open_share(intervals: list[Interval], start: datetime, end: datetime) -> float:
    """The fraction of [start, end) outside the (disjoint) intervals."""
    length = (end - start).total_seconds()
    if length <= 0:
        return 0.0
    shut = sum(max(0.0, (min(b, end) - max(a, start)).total_seconds()) for a, b in intervals)
    return max(0.0, 1.0 - shut / length)
