"""Expected sessions from a site's history: the EVs that came on the same weekday of the
previous weeks, each carrying its share of an average day.

A past session of the week before, two weeks before, ... N weeks before is moved onto the
horizon's date at the same local clock time (DST-correct: 08:00 stays 08:00 across a change)
with 1/N of its energy and maximum power, so N weeks of history add up to one expected day.
Such sessions become `Session(expected=True)`: the planner keeps room for them at a low
weight (model.EXPECTED_WEIGHT) and hedges against deferring (ADR 0005).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ampnexus.charging.model import Priority, Session

DEFAULT_WEEKS = 4


@dataclass(frozen=True, slots=True)
class PastSession:
    """A finished session, placed where the planner would see it today."""

    id: str
    circuit_id: str
    arrival: datetime
    departure: datetime
    energy_wh: float  # delivered
    max_power_w: float
    phases: tuple[int, ...] = (1, 2, 3)
    priority: Priority = Priority.STANDARD


def history_start(now: datetime, zone: ZoneInfo, weeks: int = DEFAULT_WEEKS) -> datetime:
    """The earliest arrival the forecast from `now` can use: local midnight `weeks` weeks
    before today."""
    today = now.astimezone(zone).date()
    return datetime.combine(today - timedelta(weeks=weeks), datetime.min.time(), zone)


def expected_sessions(
    history: Iterable[PastSession],
    *,
    now: datetime,
    horizon_end: datetime,
    zone: ZoneInfo,
    weeks: int = DEFAULT_WEEKS,
) -> tuple[Session, ...]:
    """The sessions expected to arrive after `now` and before `horizon_end`, each date of the
    horizon (in `zone`) forecast from the same weekday of the `weeks` weeks before it."""
    if weeks <= 0:
        return ()
    dates = _local_dates(now, horizon_end, zone)
    # (weeks back, session) for every session on one of the horizon's weekdays; a site's
    # history is long, so each arrival's local date is worked out once.
    chosen = []
    for session in history:
        day = session.arrival.astimezone(zone).date()
        for target in dates:
            back, rest = divmod((target - day).days, 7)
            if rest == 0 and 1 <= back <= weeks:
                chosen.append((back, session))
    chosen.sort(key=lambda pair: pair[0])  # stable: by week back, then in history's order
    moved = (_moved(session, back, weeks, zone) for back, session in chosen)
    return tuple(s for s in moved if now < s.arrival < horizon_end)


def _local_dates(start: datetime, end: datetime, zone: ZoneInfo) -> set[date]:
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return {first + timedelta(days=k) for k in range((last - first).days + 1)}


def _moved(session: PastSession, back: int, weeks: int, zone: ZoneInfo) -> Session:
    """`session` `back` weeks later at the same local times, scaled to 1/`weeks`. Adding a
    timedelta to a zone-aware time keeps its wall-clock time; the zone then fixes the offset."""
    shift = timedelta(weeks=back)
    return Session(
        id=f"expected-{back}-{session.id}",
        circuit_id=session.circuit_id,
        arrival=(session.arrival.astimezone(zone) + shift).astimezone(UTC),
        departure=(session.departure.astimezone(zone) + shift).astimezone(UTC),
        energy_wh=session.energy_wh / weeks,
        max_power_w=session.max_power_w / weeks,
        phases=session.phases,
        priority=session.priority,
        expected=True,
    )
