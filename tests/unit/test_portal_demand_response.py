"""What a site's page says each demand-response interval asks, as the plan takes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.domain.demand_response import (
    DEFAULT_LEVEL_CUTS,
    Event,
    EventStatus,
    Interval,
    OptState,
)
from ampnexus.portal.pages.site_demand_response import asks

AT = datetime(2026, 12, 4, 18, tzinfo=UTC)


def event(name: str, kind: str, value: float, watts_per_unit: float = 1000.0) -> Event:
    return Event(
        program_id="flex",
        event_id="e1",
        modification_number=0,
        status=EventStatus.FAR,
        signal_name=name,
        signal_type=kind,
        intervals=(Interval(AT, timedelta(hours=1), value),),
        site_ids=("S1",),
        opt=OptState.IN,
        opt_reason="participating",
        received_at=AT,
        watts_per_unit=watts_per_unit,
    )


@pytest.mark.parametrize(
    ("name", "kind", "value", "said"),
    [
        ("SIMPLE", "level", 1, "level 1: sheds 30 % of the flexible EV load"),
        ("SIMPLE", "level", 3.4, "level 3: sheds 100 % of the flexible EV load"),
        (
            "LOAD_CONTROL",
            "x-loadControlCapacity",
            0.25,
            "capacity 25 %: sheds 75 % of the flexible EV load",
        ),
        ("LOAD_DISPATCH", "setpoint", 7.5, "EV load at most 7.5 kW"),
        ("ELECTRICITY_PRICE", "price", 0.12, "price 0.12"),
        ("ELECTRICITY_PRICE", "priceRelative", -0.05, "price -0.05"),
        ("ELECTRICITY_PRICE", "priceMultiplier", 2, "price x2"),
        ("BID_LOAD", "setpoint", 3, "3 (not acted on)"),
    ],
)
def test_each_signal_is_told_as_the_plan_takes_it(
    name: str, kind: str, value: float, said: str
) -> None:
    shown = event(name, kind, value)
    assert asks(shown, shown.intervals[0], DEFAULT_LEVEL_CUTS) == said


def test_a_setpoint_in_watts_is_shown_in_kw() -> None:
    shown = event("LOAD_DISPATCH", "setpoint", 4200, watts_per_unit=1.0)
    assert asks(shown, shown.intervals[0], DEFAULT_LEVEL_CUTS) == "EV load at most 4.2 kW"


def test_a_programs_own_cuts_are_told() -> None:
    shown = event("SIMPLE", "level", 2, 1000.0)
    assert asks(shown, shown.intervals[0], (0.0, 0.1, 0.5, 0.9)).startswith("level 2: sheds 50 %")
