"""Energy per session and per site-local day: a session split across the days it ran, by
its register readings or else evenly in time, at the site's midnights (also around clock
changes); the export's range from dates and datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ampnexus.domain.energy import (
    energy_by_day,
    energy_curve,
    local_days,
    local_midnight,
    report_range,
)
from ampnexus.domain.errors import Invalid

LONDON = "Europe/London"
# Winter: London is on UTC (GMT).
WINTER_EVENING = datetime(2026, 1, 14, 22, 0, tzinfo=UTC)  # a Wednesday
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def by_day(curve: list[tuple[datetime, float]], tz: str = LONDON) -> dict[date, float]:
    return {day: round(wh, 6) for day, wh in energy_by_day(curve, tz, *EVER).items()}


def test_without_readings_a_session_over_midnight_splits_in_proportion_to_time() -> None:
    curve = energy_curve(WINTER_EVENING, 1000, [], WINTER_EVENING + timedelta(hours=4), 5000)
    assert curve[-1][1] == 4000
    assert by_day(curve) == {date(2026, 1, 14): 2000, date(2026, 1, 15): 2000}


def test_register_readings_say_when_the_energy_flowed() -> None:
    # 3 kWh by 23:00, the last 1 kWh over the three hours after: a third before midnight.
    readings = [(WINTER_EVENING + timedelta(hours=1), 4000.0)]
    curve = energy_curve(WINTER_EVENING, 1000, readings, WINTER_EVENING + timedelta(hours=4), 5000)
    split = by_day(curve)
    assert split[date(2026, 1, 14)] == pytest.approx(3000 + 1000 / 3)
    assert split[date(2026, 1, 15)] == pytest.approx(2000 / 3)
    assert sum(split.values()) == pytest.approx(4000)


def test_days_are_the_sites_not_utc() -> None:
    # In summer London is UTC+1: 22:30-00:30 UTC is 23:30-01:30 there, so the local day
    # changes at 23:00 UTC and only half an hour falls on the first day.
    start = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)
    curve = energy_curve(start, 0, [], start + timedelta(hours=2), 2000)
    assert by_day(curve) == {date(2026, 7, 1): 500, date(2026, 7, 2): 1500}
    assert by_day(curve, "UTC") == {date(2026, 7, 1): 1500, date(2026, 7, 2): 500}


def test_the_day_the_clocks_go_back_has_25_hours() -> None:
    # 100 Wh an hour from local midnight on Sunday 25 October 2026 for 49 hours.
    start = local_midnight(date(2026, 10, 25), LONDON)
    assert start == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # still BST
    curve = energy_curve(start, 0, [], start + timedelta(hours=49), 4900)
    assert by_day(curve) == {date(2026, 10, 25): 2500, date(2026, 10, 26): 2400}


def test_faulty_readings_are_left_out_so_the_days_add_up_to_the_session() -> None:
    stop = WINTER_EVENING + timedelta(hours=4)
    readings = [
        (WINTER_EVENING + timedelta(hours=1), 900.0),  # below the start: a reset or garbage
        (WINTER_EVENING + timedelta(hours=2), 9000.0),  # past the stop
        (WINTER_EVENING + timedelta(hours=3), 2000.0),  # kept
        (WINTER_EVENING - timedelta(hours=1), 1500.0),  # before the session
        (stop + timedelta(hours=1), 4000.0),  # after it
    ]
    curve = energy_curve(WINTER_EVENING, 1000, readings, stop, 3000)
    assert curve == [
        (WINTER_EVENING, 0.0),
        (WINTER_EVENING + timedelta(hours=3), 1000.0),
        (stop, 2000.0),
    ]
    assert sum(by_day(curve).values()) == pytest.approx(2000)


def test_a_register_that_went_backwards_over_the_session_delivered_nothing() -> None:
    readings = [(WINTER_EVENING + timedelta(hours=1), 6000.0)]
    curve = energy_curve(WINTER_EVENING, 5000, readings, WINTER_EVENING + timedelta(hours=2), 10)
    assert curve[-1][1] == 0
    assert by_day(curve) == {}


def test_a_running_session_counts_up_to_its_latest_reading() -> None:
    readings = [(WINTER_EVENING + timedelta(hours=3), 2500.0)]
    curve = energy_curve(WINTER_EVENING, 1000, readings, None, None)
    assert curve[-1] == (WINTER_EVENING + timedelta(hours=3), 1500.0)
    assert by_day(curve) == {date(2026, 1, 14): 1000, date(2026, 1, 15): 500}
    assert energy_curve(WINTER_EVENING, 1000, [], None, None) == [(WINTER_EVENING, 0.0)]


def test_two_readings_at_one_instant_count_on_that_instants_day() -> None:
    at = WINTER_EVENING + timedelta(hours=2)  # midnight
    readings = [(at, 1000.0), (at, 1500.0)]
    curve = energy_curve(WINTER_EVENING, 1000, readings, at + timedelta(hours=1), 1500)
    assert by_day(curve) == {date(2026, 1, 15): 500}


def test_only_the_energy_inside_the_range_counts() -> None:
    curve = energy_curve(WINTER_EVENING, 0, [], WINTER_EVENING + timedelta(hours=4), 4000)
    since = WINTER_EVENING + timedelta(hours=1)
    until = WINTER_EVENING + timedelta(hours=3)
    split = energy_by_day(curve, LONDON, since, until)
    assert split == {date(2026, 1, 14): pytest.approx(1000), date(2026, 1, 15): pytest.approx(1000)}


def test_local_days_are_every_date_the_range_touches() -> None:
    since = local_midnight(date(2026, 3, 28), LONDON)
    until = local_midnight(date(2026, 3, 31), LONDON)
    assert local_days(since, until, LONDON) == [
        date(2026, 3, 28),
        date(2026, 3, 29),
        date(2026, 3, 30),
    ]


# --- the range -----------------------------------------------------------------------------------
NOW = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)


def test_by_default_the_last_12_months_from_the_start_of_that_day() -> None:
    assert report_range(None, None, NOW, LONDON) == (
        datetime(2025, 7, 14, 23, 0, tzinfo=UTC),  # midnight BST, 15 July 2025
        NOW,
    )


def test_dates_are_whole_site_local_days_and_naive_datetimes_site_local() -> None:
    assert report_range(date(2026, 1, 1), date(2026, 6, 30), NOW, LONDON) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 30, 23, 0, tzinfo=UTC),  # the end of 30 June, BST
    )
    naive = datetime(2026, 7, 1, 8, 0)
    aware = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert report_range(naive, aware, NOW, LONDON) == (
        datetime(2026, 7, 1, 7, 0, tzinfo=UTC),
        aware,
    )
    assert report_range(date(2025, 8, 1), None, NOW, LONDON)[1] == NOW


def test_up_to_13_months_and_not_backwards() -> None:
    assert report_range(date(2025, 1, 1), date(2026, 1, 31), NOW, "UTC")[0] == datetime(
        2025, 1, 1, tzinfo=UTC
    )
    with pytest.raises(Invalid, match="13 months"):
        report_range(date(2024, 12, 31), date(2026, 1, 31), NOW, "UTC")
    with pytest.raises(Invalid, match="before"):
        report_range(date(2026, 2, 1), date(2026, 1, 31), NOW, "UTC")
    with pytest.raises(Invalid, match="before"):
        report_range(NOW, NOW, NOW, "UTC")
    with pytest.raises(Invalid, match="years"):
        report_range(None, date(1, 1, 15), NOW, "UTC")


def test_twelve_months_before_the_29th_of_february_is_the_28th() -> None:
    now = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert report_range(None, None, now, "UTC")[0] == datetime(2027, 2, 28, tzinfo=UTC)
