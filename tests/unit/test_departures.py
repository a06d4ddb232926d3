"""Departures of sessions that outlast them: a car plugged in after the default departure time
of day leaves at it tomorrow, and a car still plugged in after its departure is planned to the
next default departure after now, across DST changes and in zones far from UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from ampnexus.domain.needs import NeedDefault, SessionNeed, resolve_need

LONDON = ZoneInfo("Europe/London")
AUCKLAND = ZoneInfo("Pacific/Auckland")  # UTC+13 in (southern) summer
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14, the furthest ahead
SITE = NeedDefault(10_000.0, time(18, 0))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    ("plugged_in", "zone", "leaves"),
    [
        # An ordinary day: 19:00 is after 18:00, so tomorrow at 18:00.
        ("2026-06-10 19:00", LONDON, "2026-06-11 18:00"),
        # Clocks go forward overnight: 23 hours later, at 18:00 BST.
        ("2026-03-28 19:00", LONDON, "2026-03-29 18:00"),
        # Clocks go back overnight: 25 hours later, at 18:00 GMT.
        ("2026-10-24 19:00", LONDON, "2026-10-25 18:00"),
        # Far from UTC the local day is not the UTC one (06:00 UTC is 19:00 here).
        ("2026-12-03 19:00", AUCKLAND, "2026-12-04 18:00"),
        ("2026-12-31 23:59", KIRITIMATI, "2027-01-01 18:00"),
    ],
)
def test_a_car_plugged_in_after_the_default_departure_leaves_at_it_tomorrow(
    plugged_in: str, zone: ZoneInfo, leaves: str
) -> None:
    arrival = local(plugged_in, zone)
    resolved = resolve_need(arrival, zone, [], [SITE], now=arrival)
    assert resolved.departure == local(leaves, zone)
    assert (resolved.departure_source, resolved.overdue) == ("site", False)


@pytest.mark.parametrize(
    ("plugged_in", "now", "zone", "leaves"),
    [
        # Plugged in before 18:00, still there at 21:00: tomorrow at 18:00, not 18:00 today.
        ("2026-06-10 08:00", "2026-06-10 21:00", LONDON, "2026-06-11 18:00"),
        # Past its departure during the night the clocks go forward.
        ("2026-03-28 08:00", "2026-03-29 02:30", LONDON, "2026-03-29 18:00"),
        # Past it on the day the clocks go back, still there into the next day.
        ("2026-10-24 08:00", "2026-10-25 19:00", LONDON, "2026-10-26 18:00"),
        # Overdue by days: the next 18:00 after now, not after the plug-in.
        ("2026-12-01 09:00", "2026-12-03 10:00", AUCKLAND, "2026-12-03 18:00"),
        ("2026-12-30 09:00", "2026-12-31 20:00", KIRITIMATI, "2027-01-01 18:00"),
    ],
)
def test_a_car_still_plugged_in_after_the_default_departure_is_planned_to_the_next_one(
    plugged_in: str, now: str, zone: ZoneInfo, leaves: str
) -> None:
    resolved = resolve_need(local(plugged_in, zone), zone, [], [SITE], now=local(now, zone))
    assert resolved.departure == local(leaves, zone)
    assert (resolved.departure_source, resolved.overdue) == ("site", True)


def test_a_departure_said_for_the_session_and_passed_gives_way_to_the_next_default() -> None:
    arrival, said = utc("2026-03-28 09:00"), utc("2026-03-28 12:00")
    need = SessionNeed(transaction_id=1, energy_wh=30_000, departure=said)
    driver = NeedDefault(departure=time(7, 30), source="driver")  # no energy of its own
    before = resolve_need(arrival, LONDON, [need], [driver, SITE], now=utc("2026-03-28 11:00"))
    assert (before.departure, before.departure_source, before.overdue) == (
        said,
        "transaction",
        False,
    )
    # At 12:00 sharp the car is overdue: the driver's 07:30, the next morning (now BST).
    for now in (said, utc("2026-03-28 23:00")):
        after = resolve_need(arrival, LONDON, [need], [driver, SITE], now=now)
        assert after.departure == local("2026-03-29 07:30", LONDON)
        assert (after.departure_source, after.overdue) == ("driver", True)
        assert (after.energy_wh, after.energy_source) == (30_000, "transaction")


def test_without_now_a_past_departure_is_kept_as_said() -> None:
    """Callers that ask about the plug-in alone (no clock) keep the old answer."""
    need = SessionNeed(transaction_id=1, departure=utc("2026-06-10 12:00"))
    resolved = resolve_need(utc("2026-06-10 09:00"), LONDON, [need], [SITE])
    assert (resolved.departure, resolved.overdue) == (utc("2026-06-10 12:00"), False)
