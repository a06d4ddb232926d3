"""An operator's bound as per-slot caps: each slot capped at the bound's lowest anywhere in
it, to the instant (issue 17)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from ampnexus.services.smart_charging.request import slot_lowest

START = datetime(2026, 1, 12, 9, tzinfo=UTC)
SLOT = timedelta(minutes=15)
STARTS = [START + i * SLOT for i in range(4)]
ENDS = [START + (i + 1) * SLOT for i in range(4)]


def test_a_bound_that_drops_mid_slot_caps_the_whole_slot() -> None:
    steps = ((START, 7000.0), (START + 20 * timedelta(minutes=1), 3000.0))
    assert slot_lowest(steps, STARTS, ENDS) == [7000.0, 3000.0, 3000.0, 3000.0]


def test_a_short_dip_inside_a_slot_caps_it_and_no_other() -> None:
    dip = START + timedelta(minutes=31)
    steps = ((START, 7000.0), (dip, 0.0), (dip + timedelta(seconds=1), math.inf))
    assert slot_lowest(steps, STARTS, ENDS) == [7000.0, 7000.0, 0.0, math.inf]


def test_before_the_bound_begins_nothing_limits() -> None:
    steps = ((START + SLOT + timedelta(minutes=5), 2000.0),)
    assert slot_lowest(steps, STARTS, ENDS) == [math.inf, 2000.0, 2000.0, 2000.0]
