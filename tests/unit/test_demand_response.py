"""Demand-response events as limits on a site's EV load, slot by slot (pure)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.charging.model import Circuit, PlanRequest, Session, SiteSeries, SlotGrid
from ampnexus.charging.planner import plan
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
    site_prices,
)
from ampnexus.services.smart_charging.demand_response import with_demand_response

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
    assert not any(s.event_ids for s in limits(event("LOAD_DISPATCH", "delta")))
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


# --- the limits in a plan request, as the site import cap ---------------------------------------


def request(
    *sessions: Session, base_w: float = 0.0, solar_w: float = 0.0, margin: float = 0.0
) -> PlanRequest:
    grid = SlotGrid(T0, 900, 4)
    return PlanRequest(
        grid=grid,
        circuits=(Circuit("site", None, 22_000.0),),
        sessions=sessions,
        series=SiteSeries(base_load_w=(base_w,) * 4, solar_w=(solar_w,) * 4),
        safety_margin=margin,
    )


def ev(name: str, max_w: float = 11_000.0, uncontrollable: bool = False) -> Session:
    return Session(
        name,
        "site",
        T0,
        T0 + timedelta(hours=1),
        50_000.0,
        max_w,
        uncontrollable=uncontrollable,
    )


CUT_60 = (SlotLimit(), SlotLimit(cut=0.6, event_ids=("E",)), SlotLimit(), SlotLimit())
LIMIT_5KW = (SlotLimit(), SlotLimit(ev_limit_w=5000.0, event_ids=("E",)), SlotLimit(), SlotLimit())


def test_without_limits_the_request_is_unchanged() -> None:
    plain = request(ev("a"))
    assert with_demand_response(plain, (SlotLimit(),) * 4) is plain
    assert with_demand_response(plain, ()) is plain


def test_a_cut_caps_only_its_slots_at_the_share_of_what_the_evs_could_draw() -> None:
    caps = with_demand_response(request(ev("a"), ev("b")), CUT_60).series.cap_w
    assert caps[0] == math.inf and caps[2] == math.inf
    assert caps[1] == pytest.approx(0.4 * 22_000.0)  # two 11 kW EVs, within the site's 22 kW


def test_the_building_load_is_added_so_the_evs_keep_exactly_their_limit() -> None:
    caps = with_demand_response(request(ev("a"), base_w=3000.0, solar_w=1000.0), LIMIT_5KW)
    assert caps.series.cap_w[1] == pytest.approx(5000.0 + 2000.0)


def test_the_safety_margin_is_not_taken_twice_from_the_evs_limit() -> None:
    caps = with_demand_response(request(ev("a"), margin=0.1), LIMIT_5KW).series.cap_w
    assert caps[1] * 0.9 == pytest.approx(5000.0)


def test_an_uncontrollable_ev_is_left_whole_by_a_cut_but_counts_against_a_limit() -> None:
    both = request(ev("a"), ev("stuck", 7000.0, uncontrollable=True))
    assert with_demand_response(both, CUT_60).series.cap_w[1] == pytest.approx(
        7000.0 + 0.4 * 11_000.0
    )
    assert with_demand_response(both, LIMIT_5KW).series.cap_w[1] == pytest.approx(5000.0)


def test_the_planner_keeps_the_evs_within_the_limit() -> None:
    capped = with_demand_response(request(ev("a"), ev("b")), LIMIT_5KW)
    planned = plan(capped)
    assert planned.power_w["a"][1] + planned.power_w["b"][1] <= 5000.0 + 1e-6
    assert planned.power_w["a"][0] + planned.power_w["b"][0] == pytest.approx(22_000.0)


def test_a_price_event_prices_the_slots_it_covers_most_of() -> None:
    relative = event("ELECTRICITY_PRICE", "priceRelative", value=0.1, minutes=20)
    got = site_prices([relative], "S1", STARTS, ENDS)
    assert [p.applied(0.2) if p else None for p in got[:4]] == [
        None,
        pytest.approx(0.3),
        None,
        None,
    ]
    times = event("ELECTRICITY_PRICE", "priceMultiplier", value=2.0)
    assert site_prices([times], "S1", STARTS, ENDS)[1].applied(0.2) == 0.4  # type: ignore[union-attr]


def test_price_events_move_charging_to_cheaper_slots() -> None:
    small = Session("a", "site", T0, T0 + timedelta(hours=1), 5_500.0, 11_000.0)
    dear = event("ELECTRICITY_PRICE", "price", value=0.5, start=T0, minutes=30)
    cheap = event("ELECTRICITY_PRICE", "price", value=0.1, start=T0 + 2 * SLOT, event_id="E2")
    prices = site_prices([dear, cheap], "S1", STARTS[:4], ENDS[:4])
    priced = with_demand_response(request(small), (), prices)
    assert priced.series.import_price == (0.5, 0.5, 0.1, 0.1)
    planned = plan(priced)
    assert planned.power_w["a"][0] == 0.0 and planned.power_w["a"][1] == 0.0
