"""The smart-charging planner: hand-solved cases for the LP and the heuristic, the checker,
the fallback, and random instances where the LP must never lose to the heuristic."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ampnexus.charging.check import cost, violations
from ampnexus.charging.model import (
    EXPECTED_WEIGHT,
    Circuit,
    Plan,
    PlanRequest,
    Priority,
    Session,
    SiteSeries,
    SlotGrid,
    Weights,
)
from ampnexus.charging.planner import LinearProgram, PlanningError, periods, plan
from ampnexus.charging.problem import compile_problem, to_plan

START = datetime(2025, 1, 6, tzinfo=UTC)
BOTH = ("lp", "heuristic")


def ev(sid: str, kwh: float, kw: float, *, circuit: str = "site", **fields: object) -> Session:
    """A session plugged in for the whole horizon unless `arrival`/`departure` say otherwise."""
    base = Session(sid, circuit, START, START + timedelta(days=2), kwh * 1000, kw * 1000)
    return replace(base, **fields)


def site_request(
    slots: int,
    sessions: list[Session],
    *,
    site_kw: float | None = None,
    circuits: tuple[Circuit, ...] = (),
    minutes: int = 60,
    **options: object,
) -> PlanRequest:
    site = Circuit("site", None, None if site_kw is None else site_kw * 1000)
    return PlanRequest(
        SlotGrid(START, minutes * 60, slots),
        (site, *circuits),
        tuple(sessions),
        **options,
    )


def planned(request: PlanRequest, method: str) -> Plan:
    """A plan that must break no constraint."""
    result = plan(request, method=method)
    assert violations(request, result) == []
    return result


def kw_of(result: Plan, sid: str) -> list[float]:
    return [round(p / 1000, 3) for p in result.power_w[sid]]


def total_kw(result: Plan) -> list[float]:
    return [round(sum(slot) / 1000, 3) for slot in zip(*result.power_w.values(), strict=True)]


# --- hand-solved cases -------------------------------------------------------------------------
@pytest.mark.parametrize("method", BOTH)
def test_cheap_slots_are_shared_under_the_site_cap(method: str):
    request = site_request(
        4,
        [ev("a", 10, 7), ev("b", 10, 7)],
        site_kw=10,
        series=SiteSeries(import_price=(0.3, 0.1, 0.1, 0.3)),
    )
    result = planned(request, method)
    assert total_kw(result) == [0, 10, 10, 0]
    assert result.energy_wh("a") == pytest.approx(10_000)
    assert result.energy_wh("b") == pytest.approx(10_000)
    assert result.unmet_wh == {"a": pytest.approx(0), "b": pytest.approx(0)}
    assert [s.binding for s in result.slots] == ["price", "site power", "site power", "price"]
    assert cost(request, result) == pytest.approx(20 * 0.1)


@pytest.mark.parametrize("method", BOTH)
def test_premium_is_served_before_standard_under_a_tight_cap(method: str):
    premium = ev("premium", 15, 10, priority=Priority.PREMIUM)
    request = site_request(2, [ev("standard", 15, 10), premium], site_kw=10)
    result = planned(request, method)
    assert result.energy_wh("premium") == pytest.approx(15_000)
    assert result.unmet_wh["standard"] == pytest.approx(10_000)


@pytest.mark.parametrize("method", BOTH)
def test_premium_takes_its_maximum_in_every_contended_slot_until_full(method: str):
    # Costs alone would put the premium EV in the cheap hours and the standard one in the dear.
    premium = ev("premium", 15, 10, priority=Priority.PREMIUM)
    prices = SiteSeries(import_price=(0.3, 0.3, 0.1, 0.1))
    request = site_request(4, [ev("standard", 15, 10), premium], site_kw=10, series=prices)
    result = planned(request, method)
    assert kw_of(result, "premium") == [10, 5, 0, 0]
    assert kw_of(result, "standard") == [0, 0, 10, 5]  # the cheap hours, earlier first
    assert result.unmet_wh["standard"] == pytest.approx(0)


@pytest.mark.parametrize("method", BOTH)
def test_premium_is_served_first_even_when_a_standard_ev_then_leaves_short(method: str):
    leaving = ev("standard", 10, 10, departure=START + timedelta(hours=1))
    premium = ev("premium", 10, 10, priority=Priority.PREMIUM)
    result = planned(site_request(3, [leaving, premium], site_kw=10), method)
    assert kw_of(result, "premium") == [10, 0, 0]
    assert result.unmet_wh["standard"] == pytest.approx(10_000)


@pytest.mark.parametrize("method", BOTH)
@pytest.mark.parametrize("priority", list(Priority))
def test_sessions_of_one_class_still_share_the_cheap_slots(method: str, priority: Priority):
    sessions = [ev("a", 10, 7, priority=priority), ev("b", 10, 7, priority=priority)]
    prices = SiteSeries(import_price=(0.3, 0.1, 0.1, 0.3))
    result = planned(site_request(4, sessions, site_kw=10, series=prices), method)
    assert total_kw(result) == [0, 10, 10, 0]
    assert result.unmet_wh == {"a": pytest.approx(0), "b": pytest.approx(0)}


def test_premium_alone_on_a_site_with_room_waits_for_the_cheap_hours():
    premium = ev("premium", 10, 10, priority=Priority.PREMIUM)
    prices = SiteSeries(import_price=(0.3, 0.1, 0.3))
    request = site_request(3, [premium, ev("standard", 5, 5)], site_kw=20, series=prices)
    assert kw_of(planned(request, "lp"), "premium") == [0, 10, 0]


@pytest.mark.parametrize("elapsed", [0, 600, 880])
def test_equal_sessions_split_the_current_slot_equally(elapsed: int):
    grid = SlotGrid(START, 900, 8, elapsed_seconds=elapsed)
    sessions = [ev("a", 20, 7), ev("b", 20, 7)]
    request = replace(site_request(8, sessions, site_kw=10, minutes=15), grid=grid)
    result = planned(request, "lp")
    assert result.power_w["a"][0] == pytest.approx(5000, abs=1)
    assert result.power_w["b"][0] == pytest.approx(5000, abs=1)


def test_solar_is_absorbed_rather_than_exported():
    series = SiteSeries(
        solar_w=(0, 6000, 6000, 0), import_price=(0.3,) * 4, export_price=(0.05,) * 4
    )
    result = planned(site_request(4, [ev("a", 12, 7)], series=series), "lp")
    assert kw_of(result, "a") == [0, 6, 6, 0]


def test_heuristic_charges_in_the_solar_slots_too():
    series = SiteSeries(
        solar_w=(0, 6000, 6000, 0), import_price=(0.3,) * 4, export_price=(0.05,) * 4
    )
    result = planned(site_request(4, [ev("a", 12, 7)], series=series), "heuristic")
    assert kw_of(result, "a")[0] == kw_of(result, "a")[3] == 0
    assert result.energy_wh("a") == pytest.approx(12_000)


@pytest.mark.parametrize("method", BOTH)
def test_demand_charge_flattens_the_import_peak(method: str):
    # Import peak P: the EV gets P - 4 kW beside the base load, P elsewhere; 4P - 4 = 20 kWh.
    request = site_request(
        4,
        [ev("a", 20, 11)],
        series=SiteSeries(base_load_w=(4000, 0, 0, 0), import_price=(0.1,) * 4),
        weights=Weights(demand_charge_per_kw=5.0),
    )
    assert kw_of(planned(request, method), "a") == [2, 6, 6, 6]


def test_without_demand_charge_equal_prices_charge_as_early_as_possible():
    result = planned(site_request(4, [ev("a", 10, 7)]), "lp")
    assert kw_of(result, "a") == [7, 3, 0, 0]


@pytest.mark.parametrize("method", BOTH)
def test_a_plugged_in_ev_is_never_sacrificed_for_an_expected_one(method: str):
    real, expected = ev("real", 14, 7), ev("expected", 14, 7, expected=True)
    request = site_request(2, [expected, real], site_kw=7)
    result = planned(request, method)
    assert result.energy_wh("real") == pytest.approx(14_000)
    assert result.unmet_wh["expected"] == pytest.approx(14_000)
    assert cost(request, result) == pytest.approx(14 * 10.0 * EXPECTED_WEIGHT)


def test_the_lp_keeps_the_cheap_slots_an_expected_ev_will_need():
    # The plugged-in EV could take the cheap slots; the expected one can only charge then.
    later = ev("expected", 14, 7, arrival=START + timedelta(hours=2), expected=True)
    prices = SiteSeries(import_price=(0.5, 0.5, 0.1, 0.1))
    request = site_request(4, [ev("real", 14, 7), later], site_kw=7, series=prices)
    result = planned(request, "lp")
    assert kw_of(result, "real") == [7, 7, 0, 0]
    assert kw_of(result, "expected") == [0, 0, 7, 7]
    alone = planned(site_request(4, [ev("real", 14, 7)], site_kw=7, series=prices), "lp")
    assert kw_of(alone, "real") == [0, 0, 7, 7]


def hedged(kwh: float, risk: float, *, forecast: bool = True) -> list[float]:
    """EV a under a 10 kW site for 4 hours, the last hour 2p cheaper; with `forecast`, an EV
    expected in the last hour needing 2 kWh at 2 kW."""
    prices = SiteSeries(import_price=(0.30, 0.30, 0.30, 0.28))
    later = ev("b", 2, 2, arrival=START + timedelta(hours=3), expected=True)
    request = site_request(
        4,
        [ev("a", kwh, 10), *([later] if forecast else [])],
        site_kw=10,
        series=prices,
        weights=Weights(defer_risk_per_hour=risk),
    )
    return kw_of(planned(request, "lp"), "a")


def test_a_congested_ev_charges_early_rather_than_wait_for_a_slightly_cheaper_hour():
    # 32 of the 40 kWh the site can deliver: congestion 0.8, so waiting 3 hours risks
    # 0.008 x 10 x 0.8^3 x 3 = 0.12 per kWh, more than the 0.02 it would save.
    assert hedged(30, 0.008) == [10, 10, 10, 0]
    assert hedged(30, 0.0) == [10, 10, 2, 8]  # costs alone (perfect foresight)


def test_with_room_to_spare_the_hedge_leaves_the_cheapest_hour_alone():
    # 7 of 40 kWh: congestion 0.175, the risk of waiting (0.0013 per kWh) is below the saving.
    assert hedged(5, 0.008) == [0, 0, 0, 5]


def test_without_a_forecast_there_is_no_hedge():
    # Nothing says another EV will come: the cheapest hour is taken, however full the site.
    assert hedged(30, 0.008, forecast=False) == [10, 10, 0, 10]


def test_congestion_is_the_need_over_what_the_tightest_limit_can_deliver():
    feeder = Circuit("feeder", "site", max_power_w=5000)
    sessions = [ev("on_feeder", 10, 7, circuit="feeder"), ev("on_site", 4, 7)]
    request = site_request(4, sessions, site_kw=12, circuits=(feeder,))
    # Feeder: 10 kWh of 4 h x 5 kW; site: 14 kWh of 4 h x min(12, 14) kW.
    congestion = compile_problem(request).congestion()
    assert congestion.tolist() == pytest.approx([10 / 20, 14 / 48])


def test_a_limit_that_cannot_bind_adds_no_congestion():
    # 14 kW at most under a 20 kW site: nobody can take the site's room, so the EV on it is
    # held back by its own maximum only (before ADR 0007's change: 14 / 56).
    feeder = Circuit("feeder", "site", max_power_w=5000)
    sessions = [ev("on_feeder", 10, 7, circuit="feeder"), ev("on_site", 4, 7)]
    request = site_request(4, sessions, site_kw=20, circuits=(feeder,))
    assert compile_problem(request).congestion().tolist() == pytest.approx([10 / 20, 0])


def test_an_ev_with_room_to_spare_waits_for_the_cheapest_hour_however_little_its_slack():
    # 30 of the 40 kWh its own 10 kW can take, under a 20 kW site that it and the expected
    # EV (2 kW) can never fill: no EV to come could take the cheap hour, so no hedge.
    prices = SiteSeries(import_price=(0.30, 0.30, 0.30, 0.28))
    later = ev("b", 2, 2, arrival=START + timedelta(hours=3), expected=True)
    request = site_request(4, [ev("a", 30, 10), later], site_kw=20, series=prices)
    assert kw_of(planned(request, "lp"), "a") == [10, 10, 0, 10]


@pytest.mark.parametrize("method", BOTH)
def test_a_plan_made_mid_slot_counts_only_what_is_left_of_that_slot(method: str):
    """Replanned 45 minutes into the first hour: that slot gives a quarter of its energy."""
    grid = SlotGrid(START, 3600, 2, elapsed_seconds=2700)
    request = replace(site_request(2, [ev("a", 10, 7)]), grid=grid)
    result = planned(request, method)
    assert kw_of(result, "a") == [7, 7]  # all it can: 7 kW for 15 minutes, then an hour
    assert result.energy_wh("a") == pytest.approx(7000 * 1.25)
    assert result.unmet_wh["a"] == pytest.approx(10_000 - 8750)


@pytest.mark.parametrize("method", BOTH)
def test_mid_slot_the_need_is_met_by_what_the_slots_really_give(method: str):
    grid = SlotGrid(START, 3600, 3, elapsed_seconds=1800)
    request = replace(site_request(3, [ev("a", 6, 4)]), grid=grid)
    result = planned(request, method)
    assert result.energy_wh("a") == pytest.approx(6000)
    assert result.unmet_wh["a"] == pytest.approx(0)
    # The cheapest-looking early slot is only half an hour: the rest goes to the next ones.
    assert kw_of(result, "a")[0] * 0.5 + sum(kw_of(result, "a")[1:]) == pytest.approx(6)


def test_the_elapsed_part_lies_within_the_first_slot():
    with pytest.raises(ValueError, match="elapsed_seconds"):
        SlotGrid(START, 900, 4, elapsed_seconds=900)


@pytest.mark.parametrize("method", BOTH)
def test_unmet_energy_when_the_window_is_too_short(method: str):
    result = planned(site_request(2, [ev("a", 30, 7)]), method)
    assert kw_of(result, "a") == [7, 7]
    assert result.unmet_wh["a"] == pytest.approx(16_000)


def test_phase_current_limit_with_a_single_phase_and_a_three_phase_ev():
    # 16 A at 230 V is 3680 W per phase. The three-phase EV costs a third of its power on L1,
    # so the LP gives it full power (3000 W per phase) and the L1 EV the rest: 680 W.
    circuit = Circuit("C", "site", max_current_a=16)
    one_phase = ev("one", 20, 7.4, circuit="C", phases=(1,))
    three_phase = ev("three", 20, 9, circuit="C")
    request = site_request(1, [one_phase, three_phase], circuits=(circuit,))
    result = planned(request, "lp")
    assert kw_of(result, "three") == [9]
    assert kw_of(result, "one") == [0.68]
    assert result.slots[0].binding == "circuit C phase L1"


def test_heuristic_respects_the_phase_current_limit():
    circuit = Circuit("C", "site", max_current_a=16)
    evs = [ev("one", 20, 7.4, circuit="C", phases=(1,)), ev("three", 20, 9, circuit="C")]
    result = planned(site_request(1, evs, circuits=(circuit,)), "heuristic")
    on_l1 = result.power_w["one"][0] + result.power_w["three"][0] / 3
    assert on_l1 == pytest.approx(3680)


@pytest.mark.parametrize("method", BOTH)
@pytest.mark.parametrize(
    ("site_kw", "a_plus_b_kw", "binding"), [(20, 8, "circuit F1 power"), (12, 5, "site power")]
)
def test_nested_circuits_limit_everything_below_them(
    method: str, site_kw: float, a_plus_b_kw: float, binding: str
):
    circuits = (
        Circuit("F1", "site", max_power_w=8000),
        Circuit("P1", "F1", max_power_w=5000),
        Circuit("F2", "site"),
    )
    evs = [
        ev("a", 10, 7, circuit="P1"),
        ev("b", 10, 7, circuit="F1"),
        ev("c", 10, 7, circuit="F2", priority=Priority.PREMIUM),
    ]
    result = planned(site_request(1, evs, site_kw=site_kw, circuits=circuits), method)
    assert kw_of(result, "c") == [7]
    assert result.power_w["a"][0] + result.power_w["b"][0] == pytest.approx(a_plus_b_kw * 1000)
    assert result.power_w["a"][0] <= 5000 + 1e-6
    assert result.slots[0].binding == binding


@pytest.mark.parametrize("method", BOTH)
def test_blocked_slots_are_skipped_even_when_cheapest(method: str):
    request = site_request(
        3,
        [ev("a", 7, 7, blocked_slots=frozenset({0}))],
        series=SiteSeries(import_price=(0.1, 0.2, 0.3)),
    )
    assert kw_of(planned(request, method), "a") == [0, 7, 0]


@pytest.mark.parametrize("method", BOTH)
def test_uncontrollable_session_is_counted_at_its_maximum(method: str):
    sessions = [ev("stubborn", 5, 7, uncontrollable=True), ev("smart", 20, 7)]
    result = planned(site_request(2, sessions, site_kw=10), method)
    assert kw_of(result, "stubborn") == [7, 7]
    assert kw_of(result, "smart") == [3, 3]


@pytest.mark.parametrize("method", BOTH)
def test_partial_slots_are_not_charged_but_reserved_for_uncontrollables(method: str):
    window = {"arrival": START + timedelta(minutes=30), "departure": START + timedelta(hours=2.5)}
    sessions = [ev("smart", 20, 7, **window), ev("stubborn", 20, 2, uncontrollable=True, **window)]
    result = planned(site_request(4, sessions), method)
    assert kw_of(result, "smart") == [0, 7, 0, 0]
    assert kw_of(result, "stubborn") == [2, 2, 2, 0]


@pytest.mark.parametrize("method", BOTH)
def test_safety_margin_and_the_dynamic_cap_shrink_the_room(method: str):
    # Site cap min(20 kW, cap_w) less 10 %, less 2 kW of base load: 7 kW, then 3.4 kW.
    series = SiteSeries(base_load_w=(2000, 2000), cap_w=(10_000, 6000))
    request = site_request(2, [ev("a", 50, 11)], site_kw=20, series=series, safety_margin=0.1)
    result = planned(request, method)
    assert kw_of(result, "a") == [7, 3.4]
    assert [s.cap_w for s in result.slots] == [pytest.approx(9000), pytest.approx(5400)]
    assert [s.base_load_w for s in result.slots] == [2000, 2000]


@pytest.mark.parametrize("method", BOTH)
def test_a_last_piece_below_the_minimum_rate_is_borrowed_from_a_bigger_slot(method: str):
    # 9 kWh at 7 kW leaves 2 kWh for the dearer slot, under the 4 kW minimum: 5 + 4 instead.
    request = site_request(
        2, [ev("a", 9, 7, min_power_w=4000)], series=SiteSeries(import_price=(0.1, 0.2))
    )
    assert kw_of(planned(request, method), "a") == [5, 4]


@pytest.mark.parametrize("method", BOTH)
def test_minimum_rate_rounding_never_breaks_a_limit(method: str):
    evs = [ev(sid, 10, 7, min_power_w=4000) for sid in "abc"]
    circuit = Circuit("C", "site", max_current_a=20)
    one_phase = ev("d", 10, 7, circuit="C", phases=(2,), min_power_w=1400)
    result = planned(site_request(1, [*evs, one_phase], site_kw=10, circuits=(circuit,)), method)
    rates = [p[0] for p in result.power_w.values()]
    assert all(r == 0 or r >= 1400 for r in rates)
    assert sum(rates) <= 10_000 + 1e-6
    assert sum(rates) >= 7000


# --- fallback -----------------------------------------------------------------------------------
def test_auto_falls_back_to_the_heuristic_when_highs_fails():
    # HiGHS takes costs from 1e20 up as infinite and gives no optimum.
    request = site_request(
        2,
        [ev("a", 5, 7)],
        series=SiteSeries(import_price=(0.2, 0.1)),
        weights=Weights(unmet_per_kwh=1e21),
    )
    result = planned(request, "auto")
    assert result.method == "heuristic"
    assert result.status.startswith("fallback: HiGHS")
    assert kw_of(result, "a") == [0, 5]
    with pytest.raises(PlanningError):
        plan(request, method="lp")


def test_auto_uses_the_heuristic_when_the_lp_cannot_fit_the_budget():
    request = site_request(4, [ev("a", 10, 7)])
    result = plan(request, time_budget_s=1e-6)
    assert (result.method, result.status) == (
        "heuristic",
        "fallback: too large for the time budget",
    )
    assert violations(request, result) == []
    assert plan(request).method == "highs"


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="unknown circuit"):
        plan(site_request(2, [ev("a", 5, 7, circuit="nowhere")]))
    with pytest.raises(ValueError, match="NaN"):
        plan(site_request(2, [ev("a", 5, 7)], series=SiteSeries(import_price=(0.1, np.nan))))
    with pytest.raises(ValueError, match="method"):
        plan(site_request(2, [ev("a", 5, 7)]), method="magic")


# --- the checker --------------------------------------------------------------------------------
def test_check_names_every_broken_constraint():
    circuit = Circuit("C", "site", max_current_a=10)
    sessions = [
        ev("late", 20, 7, arrival=START + timedelta(hours=1)),
        ev("blocked", 20, 7, blocked_slots=frozenset({0}), min_power_w=4000),
        ev("full", 1, 7),
        ev("stubborn", 5, 3, uncontrollable=True),
        ev("phase", 20, 7, circuit="C", phases=(3,)),
    ]
    request = site_request(2, sessions, site_kw=30, circuits=(circuit,))
    power = {
        "late": (7000.0, 0.0),  # before its arrival
        "blocked": (5000.0, 2000.0),  # in its blocked slot, then below its minimum
        "full": (8000.0, 0.0),  # above its maximum and more energy than it needs
        "stubborn": (0.0, 3000.0),  # planned below what it will draw
        "phase": (7000.0, 0.0),  # 30 A on L3 of a 10 A circuit; the site then takes 27 kW
    }
    unmet = {"late": 20_000.0, "blocked": 13_000.0, "full": 0.0, "stubborn": 2000.0}
    bad = Plan(request.grid, power, {**unmet, "phase": 0.0}, "hand", 0.0)
    found = "\n".join(violations(request, bad))
    for expected in (
        "session late slot 0: charges outside its plug-in window",
        "session blocked slot 0: charges in a blocked slot",
        "session blocked slot 1: 2000 W below its minimum 4000 W",
        "session full slot 0: 8000 W above its maximum 7000 W",
        "session full: delivers 8000 Wh, needs only 1000 Wh",
        "session stubborn slot 0: uncontrollable, planned 0 W, draws 3000 W",
        "session phase: unmet_wh 0.0 but the plan leaves 13000 Wh",
        "slot 0: circuit C phase L3 30.4 A above the limit 10.0 A",
    ):
        assert expected in found
    tight = replace(request, circuits=(Circuit("site", None, 20_000), circuit))
    assert "slot 0: site import 27000 W above the limit 20000 W" in violations(tight, bad)


def test_check_blames_a_plan_only_for_load_it_controls():
    request = site_request(1, [ev("a", 5, 7)], site_kw=10, series=SiteSeries(base_load_w=(12_000,)))
    idle = Plan(request.grid, {"a": (0.0,)}, {"a": 5000.0}, "hand", 0.0)
    charging = Plan(request.grid, {"a": (1000.0,)}, {"a": 4000.0}, "hand", 0.0)
    assert violations(request, idle) == []
    assert violations(request, charging) == ["slot 0: site import 13000 W above the limit 10000 W"]


# --- random instances ---------------------------------------------------------------------------
def random_request(seed: int, *, with_minimum: bool) -> PlanRequest:
    rng = random.Random(seed)
    slots = rng.randint(4, 12)
    grid = SlotGrid(START, rng.choice((900, 3600)), slots)
    circuits = [
        Circuit("site", None, rng.choice((None, rng.uniform(8e3, 40e3))), rng.uniform(20, 80))
    ]
    for name in ("F1", "F2"):
        if rng.random() < 0.7:
            parent = rng.choice([c.id for c in circuits])
            power = rng.choice((None, rng.uniform(4e3, 20e3)))
            circuits.append(Circuit(name, parent, power, rng.choice((None, rng.uniform(10, 32)))))
    sessions = []
    for i in range(rng.randint(1, 6)):
        arrival = grid.slot_start(rng.randint(-1, slots - 1))
        max_w = rng.choice((3700.0, 7400.0, 11_000.0, 22_000.0))
        sessions.append(
            Session(
                f"s{i}",
                rng.choice([c.id for c in circuits]),
                arrival,
                arrival + rng.randint(1, slots) * timedelta(seconds=grid.slot_seconds),
                rng.uniform(1e3, 40e3),
                max_w,
                rng.choice((1380.0, 4140.0)) if with_minimum else 0.0,
                rng.choice(((1,), (2,), (3,), (1, 2, 3))),
                rng.choice(tuple(Priority)),
                frozenset(rng.sample(range(slots), 2)) if rng.random() < 0.3 else frozenset(),
                uncontrollable=rng.random() < 0.1,
            )
        )
    prices = tuple(rng.uniform(0.05, 0.5) for _ in range(slots))
    series = SiteSeries(
        base_load_w=tuple(rng.uniform(0, 5e3) for _ in range(slots)),
        solar_w=tuple(rng.choice((0.0, rng.uniform(0, 15e3))) for _ in range(slots)),
        import_price=prices,
        export_price=tuple(p * rng.uniform(0, 0.8) for p in prices),
        carbon_g_per_kwh=tuple(rng.uniform(50, 400) for _ in range(slots)),
        cap_w=tuple(rng.uniform(10e3, 40e3) for _ in range(slots)) if rng.random() < 0.4 else (),
    )
    weights = Weights(
        carbon_per_kg=rng.choice((0.0, 0.1)), demand_charge_per_kw=rng.choice((0.0, 0.0, 3.0))
    )
    return PlanRequest(
        grid, tuple(circuits), tuple(sessions), series, 230.0, rng.choice((0.0, 0.05)), weights
    )


@pytest.mark.parametrize("seed", range(40))
def test_lp_never_costs_more_than_the_heuristic(seed: int):
    # Costs alone: the deferral hedge deliberately pays a little to charge congested EVs early.
    request = random_request(seed, with_minimum=False)
    request = replace(request, weights=replace(request.weights, defer_risk_per_hour=0.0))
    lp, greedy = planned(request, "lp"), planned(request, "heuristic")
    # The LP's tie-break may cost up to 1e-3 of the top price per kWh.
    top_price = max(request.series.import_price) + 0.4 * request.weights.carbon_per_kg
    slack = 1e-3 * top_price * sum(s.energy_wh for s in request.sessions) / 1000 + 1e-6
    assert cost(request, lp) <= cost(request, greedy) + slack


@pytest.mark.parametrize("seed", range(40))
def test_plans_with_minimum_rates_break_no_constraint(seed: int):
    request = random_request(1000 + seed, with_minimum=True)
    for method in ("lp", "heuristic"):
        planned(request, method)


@pytest.mark.parametrize("merge", [2, 4])
def test_merged_periods_still_respect_every_slot(merge: int):
    # 30 EVs over 12 hours in 15-minute slots: periods merge slots after the first 3 hours.
    rng = random.Random(merge)
    sessions = [
        ev(
            f"s{i}",
            rng.uniform(5, 40),
            rng.choice((7.4, 11)),
            circuit=rng.choice(("F1", "F2")),
            arrival=START + timedelta(minutes=rng.randint(0, 400)),
            departure=START + timedelta(minutes=rng.randint(420, 720)),
        )
        for i in range(30)
    ]
    circuits = (Circuit("F1", "site", 40e3, 63), Circuit("F2", "site", 30e3))
    request = site_request(
        48,
        sessions,
        site_kw=60,
        circuits=circuits,
        minutes=15,
        series=SiteSeries(
            base_load_w=tuple(10e3 + 5e3 * np.sin(t / 7) for t in range(48)),
            import_price=tuple(0.2 + 0.1 * np.cos(t / 5) for t in range(48)),
        ),
    )
    problem = compile_problem(request)
    lp = LinearProgram(problem, periods(problem, merge))
    result = to_plan(problem, lp.solve(10.0), "highs", 0.0, "optimal")
    assert violations(request, result) == []
    fine = planned(request, "lp")
    tie_slack = 1e-3 * 0.3 * sum(s.energy_wh for s in sessions) / 1000
    assert cost(request, fine) <= cost(request, result) + tie_slack


# --- slot caps (an operator's profile kept as an upper bound) ------------------------------------
@pytest.mark.parametrize("method", BOTH)
def test_slot_caps_hold_a_session_below_them_even_in_its_cheapest_slots(method: str):
    request = site_request(
        3,
        [ev("a", 20, 7, slot_caps_w=((0, 2000.0), (1, 0.0)))],
        series=SiteSeries(import_price=(0.1, 0.1, 0.3)),
    )
    result = planned(request, method)
    assert kw_of(result, "a") == [2, 0, 7]
    assert result.unmet_wh["a"] == pytest.approx(11_000)


@pytest.mark.parametrize("method", BOTH)
def test_a_cap_below_the_minimum_rate_leaves_the_slot_empty(method: str):
    sessions = [ev("a", 7, 7, min_power_w=4140, slot_caps_w=((0, 3000.0),))]
    request = site_request(2, sessions, series=SiteSeries(import_price=(0.1, 0.3)))
    assert kw_of(planned(request, method), "a") == [0, 7]


@pytest.mark.parametrize("method", BOTH)
def test_room_a_capped_session_leaves_goes_to_the_others(method: str):
    sessions = [ev("capped", 20, 11, slot_caps_w=((0, 3000.0),)), ev("free", 20, 11)]
    result = planned(site_request(1, sessions, site_kw=16), method)  # 8 kW each, uncapped
    assert kw_of(result, "capped") == [3]
    assert kw_of(result, "free") == [11]


def test_an_uncontrollable_session_ignores_its_caps():
    sessions = [ev("stubborn", 5, 7, uncontrollable=True, slot_caps_w=((0, 1000.0),))]
    assert kw_of(planned(site_request(1, sessions), "lp"), "stubborn") == [7]


def test_check_names_a_slot_above_its_cap():
    request = site_request(2, [ev("a", 20, 7, slot_caps_w=((1, 3000.0),))])
    bad = Plan(request.grid, {"a": (7000.0, 5000.0)}, {"a": 8000.0}, "hand", 0.0)
    assert violations(request, bad) == ["session a slot 1: 5000 W above its cap there 3000 W"]


def with_random_caps(request: PlanRequest, seed: int) -> PlanRequest:
    rng = random.Random(seed)
    slots = request.grid.count
    sessions = tuple(
        replace(
            x,
            slot_caps_w=tuple(
                (t, rng.choice((0.0, rng.uniform(1000, x.max_power_w))))
                for t in rng.sample(range(slots), rng.randint(0, slots))
            ),
        )
        for x in request.sessions
    )
    return replace(request, sessions=sessions)


@pytest.mark.parametrize("seed", range(20))
def test_capped_plans_break_no_constraint_and_the_lp_never_loses(seed: int):
    request = with_random_caps(random_request(2000 + seed, with_minimum=seed % 2 == 0), seed)
    request = replace(request, weights=replace(request.weights, defer_risk_per_hour=0.0))
    lp, greedy = planned(request, "lp"), planned(request, "heuristic")
    if seed % 2:  # without minimum rates the LP's plan is optimal, not rounded
        top_price = max(request.series.import_price) + 0.4 * request.weights.carbon_per_kg
        slack = 1e-3 * top_price * sum(s.energy_wh for s in request.sessions) / 1000 + 1e-6
        assert cost(request, lp) <= cost(request, greedy) + slack


def test_merged_periods_keep_the_lowest_cap_of_their_slots():
    # 15-minute slots, merged by 4 after the first 3 hours: a cap in one slot of a period.
    sessions = [ev("a", 40, 7, slot_caps_w=((13, 1500.0),))]
    request = site_request(
        24, sessions, minutes=15, series=SiteSeries(import_price=(0.5,) * 12 + (0.1,) * 12)
    )
    problem = compile_problem(request)
    lp = LinearProgram(problem, periods(problem, 4))
    result = to_plan(problem, lp.solve(10.0), "highs", 0.0, "optimal")
    assert violations(request, result) == []
    assert kw_of(result, "a")[12:16] == [1.5] * 4
