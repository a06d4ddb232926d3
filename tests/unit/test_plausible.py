"""Physical bounds on what chargers report: the pure checks behind the planner's inputs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.charging.plausible import (
    CLOCK_SKEW,
    MAX_SESSION_AGE,
    finished_problem,
    physical_max_w,
    reading_problem,
    register_problem,
    start_problem,
)

NOW = datetime(2026, 6, 16, 12, tzinfo=UTC)
MAX_W, MARGIN = 11_000.0, 1.25


def test_the_maximum_is_the_placed_one_else_the_phases_at_32_amps() -> None:
    assert physical_max_w(7_400.0, 3, 230.0) == 7_400.0
    assert physical_max_w(None, 3, 230.0) == 3 * 230.0 * 32
    assert physical_max_w(None, 1, 120.0) == 120.0 * 32


@pytest.mark.parametrize("power_w", [0.0, 5_000.0, MAX_W, MAX_W * MARGIN])
def test_power_from_zero_to_the_maximum_times_the_margin_is_plausible(power_w: float) -> None:
    assert reading_problem(power_w, 12_345.0, MAX_W, MARGIN) is None


@pytest.mark.parametrize(
    "power_w", [-1.0, -40_000.0, MAX_W * MARGIN + 1, 1e9, math.inf, -math.inf, math.nan]
)
def test_power_outside_the_bounds_is_not(power_w: float) -> None:
    problem = reading_problem(power_w, None, MAX_W, MARGIN)
    assert problem is not None and "outside 0..13750 W" in problem


def test_the_margin_moves_the_upper_bound() -> None:
    assert reading_problem(12_000.0, None, MAX_W, 1.0) is not None
    assert reading_problem(12_000.0, None, MAX_W, 1.25) is None


@pytest.mark.parametrize("register_wh", [-1.0, math.inf, -math.inf, math.nan])
def test_a_register_that_is_no_meter_count_is_not_plausible(register_wh: float) -> None:
    problem = reading_problem(1_000.0, register_wh, MAX_W, MARGIN)
    assert problem is not None and "energy register" in problem


def test_a_start_within_the_clock_skew_and_the_maximum_age_is_plausible() -> None:
    for started_at in (NOW, NOW + CLOCK_SKEW, NOW - MAX_SESSION_AGE, NOW - timedelta(hours=5)):
        assert start_problem(started_at, NOW) is None


@pytest.mark.parametrize(
    ("started_at", "says"),
    [
        (NOW + CLOCK_SKEW + timedelta(seconds=1), "in the future"),
        (datetime(9999, 12, 31, 23, tzinfo=UTC), "in the future"),
        (NOW - MAX_SESSION_AGE - timedelta(seconds=1), "days ago"),
        (datetime(1, 1, 1, tzinfo=UTC), "days ago"),
    ],
)
def test_a_start_in_the_future_or_long_ago_is_not(started_at: datetime, says: str) -> None:
    problem = start_problem(started_at, NOW)
    assert problem is not None and says in problem


def test_a_register_below_meter_start_is_not_plausible() -> None:
    problem = register_problem(5_000.0, 2**40, MAX_W, MARGIN, timedelta(hours=1))
    assert problem is not None and "below its meter_start" in problem
    # Without a trustworthy start only the lower bound can be checked.
    assert register_problem(5_000.0, 2**40, MAX_W, MARGIN, None) is not None


def test_a_register_may_not_claim_more_than_the_maximum_could_deliver_since_the_start() -> None:
    hour = timedelta(hours=1)
    possible_wh = MAX_W * MARGIN * (hour + CLOCK_SKEW).total_seconds() / 3600
    assert register_problem(1_000 + possible_wh, 1_000, MAX_W, MARGIN, hour) is None
    problem = register_problem(1_000 + possible_wh + 1, 1_000, MAX_W, MARGIN, hour)
    assert problem is not None and "more than" in problem
    assert register_problem(1e12, 1_000, MAX_W, MARGIN, None) is None  # start unknown


def test_a_finished_session_that_fits_its_charger_is_plausible_history() -> None:
    start = NOW - timedelta(days=7)
    assert finished_problem(start, start + timedelta(hours=4), 20_000, MAX_W, MARGIN, NOW) is None


@pytest.mark.parametrize(
    ("started_at", "stopped_at", "energy_wh", "says"),
    [
        (
            datetime(9999, 12, 31, 20, tzinfo=UTC),
            datetime(9999, 12, 31, 23, tzinfo=UTC),
            1,
            "future",
        ),
        (NOW - timedelta(hours=1), NOW + timedelta(days=1), 1_000, "future"),
        (NOW - timedelta(hours=1), NOW - timedelta(hours=2), 1_000, "before it started"),
        (NOW - timedelta(hours=2), NOW - timedelta(hours=1), -5, "below its meter_start"),
        (NOW - timedelta(hours=2), NOW - timedelta(hours=1), 1e9, "more than"),
    ],
)
def test_implausible_history_is_named(
    started_at: datetime, stopped_at: datetime, energy_wh: float, says: str
) -> None:
    problem = finished_problem(started_at, stopped_at, energy_wh, MAX_W, MARGIN, NOW)
    assert problem is not None and says in problem
