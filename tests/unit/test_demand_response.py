"""Demand-response events as limits on a site's EV load, slot by slot (pure)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.domain.demand_response import (
    Effect,
    Event,
    EventStatus,
    Interval,
    OptState,
    Program,
    SlotLimit,
    effect_of,
    latest,
    site_limits,
)

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SLOT = timedelta(minutes=15)
STARTS = [T0 + i * SLOT for i in range(8)]
ENDS = [s + SLOT for s in STARTS]


def event(
    name: str = "SIMPLE",
    kind: str = "level",
    value: float = 2,
    start: datetime = T0 + SLOT,
    minutes: int = 30,
    **changes: object,
) -> Event:
    base = Event(
        program_id="P1",
        event_id="E1",
        modification_number=0,
        status=EventStatus.FAR,
        signal_name=name,
        signal_type=kind,
        intervals=(Interval(start, timedelta(minutes=minutes), value),),
        site_ids=("S1",),
        opt=OptState.IN,
        opt_reason="none",
        received_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def limits(*events: Event, site: str = "S1") -> tuple[SlotLimit, ...]:
    return site_limits(events, site, STARTS, ENDS)


def test_a_simple_level_cuts_the_slots_it_covers_by_the_default_share() -> None:
    got = limits(event(value=2))
    assert [s.cut for s in got] == [0.0, 0.6, 0.6, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert got[1].event_ids == ("E1",)
    assert got[0].event_ids == ()


@pytest.mark.parametrize(("level", "cut"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 1.0), (7, 1.0)])
def test_each_simple_level_has_its_cut(level: int, cut: float) -> None:
    assert limits(event(value=level))[1].cut == cut


def test_a_program_may_set_its_own_cuts_per_level() -> None:
    got = site_limits([event(value=1)], "S1", STARTS, ENDS, {"P1": (0.0, 0.5, 0.8, 1.0)})
    assert got[1].cut == 0.5


def test_load_dispatch_setpoint_is_an_absolute_limit_in_kw() -> None:
    got = limits(event("LOAD_DISPATCH", "setpoint", value=7.5))
    assert got[1].ev_limit_w == 7500.0
    assert got[0].ev_limit_w == math.inf


def test_load_control_capacity_leaves_its_share() -> None:
    got = limits(event("LOAD_CONTROL", "x-loadControlCapacity", value=0.25))
    assert got[1].cut == pytest.approx(0.75)


def test_an_interval_partly_inside_a_slot_holds_the_whole_slot() -> None:
    got = limits(event(start=T0 + SLOT + timedelta(minutes=5), minutes=15))
    assert [s.cut > 0 for s in got[:4]] == [False, True, True, False]


def test_the_strictest_of_overlapping_events_applies() -> None:
    a = event(value=1)
    b = event("LOAD_DISPATCH", "setpoint", value=3, event_id="E2", start=T0 + 2 * SLOT)
    got = limits(a, b)
    assert (got[1].cut, got[1].ev_limit_w) == (0.3, math.inf)
    assert (got[2].cut, got[2].ev_limit_w, got[2].event_ids) == (0.3, 3000.0, ("E1", "E2"))


def test_cancelled_opted_out_unsupported_and_other_sites_shape_nothing() -> None:
    assert not any(s.event_ids for s in limits(event(status=EventStatus.CANCELLED)))
    assert not any(s.event_ids for s in limits(event(opt=OptState.OUT)))
    assert not any(s.event_ids for s in limits(event("ELECTRICITY_PRICE", "price")))
    assert not any(s.event_ids for s in limits(event(), site="S2"))


def test_the_highest_modification_number_wins_whatever_the_order() -> None:
    first = event(value=1)
    modified = event(value=3, modification_number=1)
    cancelled = event(status=EventStatus.CANCELLED, modification_number=2)
    assert limits(modified, first)[1].cut == 1.0
    assert limits(cancelled, first, modified)[1].cut == 0.0
    assert latest([cancelled, first]) == [cancelled]


def test_effects() -> None:
    assert effect_of("SIMPLE", "level") is Effect.CUT
    assert effect_of("LOAD_DISPATCH", "setpoint") is Effect.LIMIT
    assert effect_of("LOAD_DISPATCH", "delta") is Effect.NONE


def test_a_program_refuses_a_poll_interval_or_cuts_out_of_range() -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        Program("P", "http://vtn", "ven", ("S1",), poll_interval_s=0)
    with pytest.raises(ValueError, match="level_cuts"):
        Program("P", "http://vtn", "ven", ("S1",), level_cuts=(0.0, 0.3, 0.6, 1.5))
