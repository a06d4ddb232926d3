"""The building load is estimated from meter and EV readings of the same moment, filtered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ampnexus.charging.base_load import FALL_WINDOW, Connector, base_load_w, ev_power_at
from ampnexus.domain.series import Point

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_each_meter_reading_is_paired_with_the_ev_power_of_its_own_moment() -> None:
    # A steady 20 kW building; the EV went from 22 kW to 6 kW at 30 s (a new profile) and
    # has not reported it yet. The latest meter reading minus the latest EV power says 4.
    ev = [(at(0), 22_000.0), (at(9), 22_000.0)]
    meter = [Point(at(5), 42_000.0), Point(at(40), 26_000.0)]
    assert base_load_w(meter, [ev]) == 20_000.0


def test_a_reading_taken_while_the_ev_changed_power_is_left_out() -> None:
    ev = [(at(0), 22_000.0), (at(15), 22_000.0), (at(45), 6_000.0)]
    # At 40 s the EV drew something between 6 and 22 kW: 30 kW on the meter says nothing sure.
    meter = [Point(at(10), 42_000.0), Point(at(40), 30_000.0)]
    assert ev_power_at(ev, at(40)) == (6_000.0, 22_000.0)
    assert base_load_w(meter, [ev]) == 20_000.0


def test_a_rise_counts_at_once_a_fall_only_after_the_window() -> None:
    ev = [(at(0), 10_000.0)]
    meter = [Point(at(10), 30_000.0), Point(at(20), 50_000.0)]
    assert base_load_w(meter, [ev]) == 40_000.0
    fallen = [*meter, Point(at(30), 15_000.0)]
    assert base_load_w(fallen, [ev]) == 40_000.0
    later = at(20) + FALL_WINDOW + timedelta(seconds=1)
    assert base_load_w([*fallen, Point(later, 15_000.0)], [ev]) == 5_000.0


def test_a_meter_that_stopped_reporting_keeps_its_last_estimate() -> None:
    # The window ends at the newest reading, however old: the value stays, never 0.
    meter = [Point(at(0), 25_000.0)]
    assert base_load_w(meter, []) == 25_000.0
    assert base_load_w([], []) is None


def test_when_every_reading_is_ambiguous_the_worst_case_counts() -> None:
    ev = [(at(0), 22_000.0), (at(60), 6_000.0)]
    assert base_load_w([Point(at(40), 26_000.0)], [ev]) == 20_000.0  # 26 - 6: the most


def test_a_raised_limit_makes_the_readings_until_its_next_report_ambiguous() -> None:
    # The EV drew 6 kW; its limit went to 22 kW at 30 s and it has not reported since. The
    # meter's 42 kW at 40 s is no building rise: it says only that the building draws 20+.
    ev = Connector([(at(0), 6_000.0)], raised=[(at(30), 22_000.0)])
    meter = [Point(at(10), 26_000.0), Point(at(40), 42_000.0)]
    assert ev_power_at(ev, at(40)) == (6_000.0, 22_000.0)
    assert base_load_w(meter, [ev]) == 20_000.0
    # A building that really rose with it is counted at once, as far as the meter proves.
    assert base_load_w([*meter, Point(at(50), 62_000.0)], [ev]) == 40_000.0


def test_an_ev_reading_of_the_meters_own_instant_may_come_after_the_change() -> None:
    # A car plugged in at 60 s and reported 6 kW that same second; the meter's reading of
    # that second (8 kW) may have been taken before it drew: the building is not 2 kW.
    ev = [(at(60), 6_000.0)]
    assert ev_power_at(ev, at(60)) == (0.0, 6_000.0)
    assert base_load_w([Point(at(60), 8_000.0)], [ev]) == 8_000.0
