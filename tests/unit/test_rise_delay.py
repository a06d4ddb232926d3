"""Rises held back by their delay, falls at once (charging/rise_delay.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from ampnexus.charging.compiler import ALWAYS, steps_at
from ampnexus.charging.rise_delay import hold_steps, rise_holds

T0 = datetime(2026, 1, 12, 12, tzinfo=UTC)
MIN = timedelta(minutes=1)


def five_minutes_later(moment: datetime) -> datetime:
    return moment + 5 * MIN


def test_a_rise_now_waits_and_a_fall_does_not() -> None:
    new = ((ALWAYS, 7000.0), (T0 + 30 * MIN, 3000.0))
    holds = rise_holds(new, held_now=4000.0, since=T0, until_of=five_minutes_later)
    assert holds == [(T0, T0 + 5 * MIN, 4000.0)]
    cap = hold_steps(holds)
    assert steps_at(cap, T0 + 4 * MIN) == 4000.0
    assert steps_at(cap, T0 + 5 * MIN) == math.inf


def test_a_planned_rise_later_waits_from_its_own_instant() -> None:
    later = T0 + 2 * timedelta(hours=1)
    new = ((ALWAYS, 0.0), (later, 11000.0))
    holds = rise_holds(new, held_now=0.0, since=T0, until_of=five_minutes_later)
    assert holds == [(later, later + 5 * MIN, 0.0)]


def test_overlapping_rises_hold_the_lowest_until_each_ends() -> None:
    new = ((ALWAYS, 6000.0), (T0 + 2 * MIN, 10000.0))
    holds = rise_holds(new, held_now=0.0, since=T0, until_of=five_minutes_later)
    cap = hold_steps(holds)
    assert steps_at(cap, T0 + 3 * MIN) == 0.0  # the first rise still waits
    assert steps_at(cap, T0 + 6 * MIN) == 6000.0  # the second does
    assert steps_at(cap, T0 + 7 * MIN) == math.inf


def test_exempt_rises_and_rises_already_due_do_not_wait() -> None:
    window_end = T0 + 10 * MIN
    new = ((ALWAYS, 0.0), (window_end, 7000.0))
    assert rise_holds(new, 0.0, T0, five_minutes_later, exempt={window_end}) == []
    assert rise_holds(new, 0.0, T0, lambda moment: moment) == []
    assert rise_holds(((ALWAYS, 7000.0),), 7000.4, T0, five_minutes_later) == []
