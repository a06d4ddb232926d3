"""Scenario files, baseline strategies and the online replay, on cases small enough to check
by hand."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest

from ampnexus.charging import baselines
from ampnexus.charging.model import Priority
from ampnexus.charging.replay import replay, rolling_view, with_expected
from ampnexus.charging.scenario import Scenario, ScenarioError, parse_scenario

SMALL = Path(__file__).parents[1] / "data" / "small_scenario.json"


def site(sessions: list[dict[str, Any]], hours: int = 2, **site_fields: Any) -> dict[str, Any]:
    """A scenario of one-hour slots from midnight UTC."""
    return {
        "site": {"time_zone": "UTC", "voltage": 230, **site_fields},
        "slots": {"minutes": 60, "start": "2024-01-01T00:00", "end": f"2024-01-01T{hours:02}:00"},
        "sessions": sessions,
    }


def ev(sid: str, arrive: int = 0, leave: int = 2, kwh: float = 10, max_kw: float = 7, **more: Any):
    return {
        "id": sid,
        "circuit": more.pop("circuit", "site"),
        "arrival": f"2024-01-01T{arrive:02}:00",
        "departure": f"2024-01-01T{leave:02}:00" if leave < 24 else "2024-01-02T00:00",
        "energy_kwh": kwh,
        "max_kw": max_kw,
        **more,
    }


def first_slot_kw(strategy: baselines.Strategy, data: dict[str, Any]) -> dict[str, float]:
    powers = strategy(parse_scenario(data).request)
    return {sid: round(w / 1000, 3) for sid, w in powers.items()}


# --- the format --------------------------------------------------------------------------------
def test_small_scenario_file_parses_into_model_units():
    scenario = parse_scenario(json.loads(SMALL.read_text()))
    request = scenario.request
    assert request.grid.start == datetime(2023, 6, 14, 11, 0, tzinfo=UTC)  # 12:00 BST
    assert (request.grid.slot_seconds, request.grid.count) == (3600, 10)
    root, garage = request.circuits
    assert (root.id, root.parent_id, root.max_power_w, root.max_current_a) == (
        "site",
        None,
        30_000,
        45,
    )
    assert (garage.parent_id, garage.max_power_w, garage.max_current_a) == ("site", 18_000, 32)
    assert request.voltage == 230 and request.safety_margin == 0.05
    assert request.series.base_load_w[0] == 12_000 and request.series.solar_w[1] == 7_000
    assert request.series.export_price == (0.05,) * 10  # a single number is every slot's value
    first = request.sessions[0]
    assert (first.energy_wh, first.max_power_w, first.min_power_w) == (20_000, 11_000, 1_400)
    assert first.priority is Priority.PREMIUM and first.phases == (1, 2, 3)
    assert request.sessions[1].phases == (1,) and request.sessions[1].priority is Priority.STANDARD
    assert scenario.peak_window == (time(16), time(19))
    assert [scenario.in_peak_window(t) for t in range(10)] == [False] * 4 + [True] * 3 + [False] * 3


def test_local_times_without_offset_are_site_time():
    data = site([ev("a", 1, 2)], time_zone="America/Los_Angeles")
    session = parse_scenario(data).request.sessions[0]
    assert session.arrival == datetime(2024, 1, 1, 9, 0, tzinfo=UTC)  # 01:00 PST


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(json.loads(SMALL.read_text()))
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("site"), "site: missing"),
        (lambda d: d["site"].pop("time_zone"), "site.time_zone: missing"),
        (lambda d: d["site"].update(time_zone="Mars/Olympus"), "unknown time zone"),
        (lambda d: d["site"].update(limit_kw=-1), "site.limit_kw: must be positive"),
        (lambda d: d["site"].update(safety_margin=1.5), "site.safety_margin"),
        (lambda d: d["site"].update(phases=2), "site.phases: must be 1 or 3"),
        (lambda d: d["site"].update(colour="red"), "site: unknown field(s) colour"),
        (lambda d: d["slots"].update(end="2023-06-14T11:00"), "slots.end: must be after"),
        (lambda d: d["slots"].update(minutes=45), "whole number of slots"),
        (lambda d: d["slots"].update(start="noon"), "slots.start: not an ISO 8601 time"),
        (lambda d: d["series"].update(solar_kw=[1, 2]), "series.solar_kw: has 2 values"),
        (lambda d: d["series"].update(base_load_kw="a lot"), "expected a number"),
        (lambda d: d["series"].update(carbon_g_per_kwh=-5), "must not be negative"),
        (lambda d: d["series"].update(wind_kw=3), "series: unknown field(s) wind_kw"),
        (lambda d: d["circuits"][0].update(parent="shed"), "garage has unknown parent shed"),
        (lambda d: d["circuits"].append({"id": "garage"}), "circuits: duplicate id garage"),
        (lambda d: d["sessions"][1].update(circuit="roof"), "sessions[1].circuit: unknown"),
        (
            lambda d: d["sessions"][0].update(departure="2023-06-14T11:00"),
            "sessions[0].departure: must be after arrival",
        ),
        (lambda d: d["sessions"][2].update(min_kw=12), "sessions[2].min_kw: must not exceed"),
        (lambda d: d["sessions"][2].update(phases=[1, 4]), "sessions[2].phases"),
        (lambda d: d["sessions"][3].update(priority="vip"), "'standard' or 'premium'"),
        (lambda d: d["sessions"][3].pop("energy_kwh"), "sessions[3].energy_kwh: missing"),
        (lambda d: d["sessions"][3].update(id="ev-1"), "sessions: duplicate id ev-1"),
        (lambda d: d["weights"].update(carbon_per_kg=True), "expected a number"),
        (lambda d: d.update(forecast_sessions={}), "forecast_sessions: expected a list"),
        (
            lambda d: d.update(forecast_sessions=[{**d["sessions"][0], "id": "ev-2"}]),
            "forecast_sessions: duplicate id ev-2",
        ),
        (
            lambda d: d.update(forecast_sessions=[{**d["sessions"][0], "max_kw": 0}]),
            "forecast_sessions[0].max_kw: must be positive",
        ),
    ],
)
def test_malformed_scenarios_are_refused_with_the_field_named(change: Any, message: str):
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(_broken(change))
    assert message in str(raised.value)


def test_circuit_cycles_are_refused():
    data = site([])
    data["circuits"] = [{"id": "a", "parent": "b"}, {"id": "b", "parent": "a"}]
    with pytest.raises(ScenarioError, match="cycle"):
        parse_scenario(data)


# --- baselines ---------------------------------------------------------------------------------
def test_uncontrolled_charges_at_full_power_until_full_ignoring_limits():
    data = site([ev("a", kwh=10), ev("b", 1, 2, kwh=3)], limit_kw=2)
    result = replay(parse_scenario(data), "uncontrolled")
    assert result.power_w == {"a": (7000, 3000), "b": (0, 3000)}
    assert result.metrics.cap_violations == 2


def test_equal_share_splits_the_cap_and_gives_back_what_an_ev_cannot_take():
    data = site([ev("a"), ev("b", max_kw=2), ev("c")], limit_kw=10)
    assert first_slot_kw(baselines.equal_share, data) == {"a": 4, "b": 2, "c": 4}


def test_equal_share_respects_a_circuit_and_gives_the_rest_to_the_others():
    data = site([ev("a", circuit="c1"), ev("b", circuit="c1"), ev("c")], limit_kw=10)
    data["circuits"] = [{"id": "c1", "limit_kw": 3}]
    assert first_slot_kw(baselines.equal_share, data) == {"a": 1.5, "b": 1.5, "c": 7}


def test_equal_share_leaves_out_the_latest_deadline_rather_than_go_below_a_minimum():
    sessions = [ev("a", leave=1, min_kw=2), ev("b", leave=2, min_kw=2), ev("c", leave=3, min_kw=2)]
    data = site(sessions, hours=3, limit_kw=5)
    assert first_slot_kw(baselines.equal_share, data) == {"a": 2.5, "b": 2.5, "c": 0}


def test_edf_serves_the_earliest_departure_first():
    data = site([ev("a", leave=2), ev("b", leave=1), ev("c", leave=3)], hours=3, limit_kw=10)
    assert first_slot_kw(baselines.edf, data) == {"b": 7, "a": 3, "c": 0}


def test_edf_keeps_each_phase_within_its_current_limit():
    sessions = [
        ev("a", leave=1, max_kw=7.4, phases=[1]),
        ev("b", leave=2, max_kw=7.4, phases=[1]),
        ev("c", leave=2, max_kw=7.4, phases=[2]),
    ]
    data = site(sessions, limit_a_per_phase=16)  # 16 A x 230 V = 3.68 kW per phase
    assert first_slot_kw(baselines.edf, data) == {"a": 3.68, "b": 0, "c": 3.68}


def test_baselines_leave_room_for_base_load_and_count_solar_and_the_margin():
    data = site([ev("a")], limit_kw=10, safety_margin=0.1)
    data["series"] = {"base_load_kw": 6, "solar_kw": 2}  # room: 10 x 0.9 - 6 + 2 = 5 kW
    assert first_slot_kw(baselines.edf, data) == {"a": 5}
    assert first_slot_kw(baselines.equal_share, data) == {"a": 5}


def test_a_cap_series_lowers_the_room_in_its_slot():
    data = site([ev("a")], limit_kw=10)
    data["series"] = {"cap_kw": [4, 10]}
    assert first_slot_kw(baselines.edf, data) == {"a": 4}


# --- the replay --------------------------------------------------------------------------------
def metered_site(**site_fields: Any) -> Scenario:
    """One EV (4 kW, 6 kWh) over two one-hour slots; the second is the peak window."""
    data = site([ev("a", kwh=6, max_kw=4)], peak_window=["01:00", "02:00"], **site_fields)
    data["series"] = {
        "base_load_kw": [2, 1],
        "solar_kw": [3, 0],
        "import_price": [0.10, 0.30],
        "export_price": 0.05,
        "carbon_g_per_kwh": [100, 200],
    }
    return parse_scenario(data)


def test_replay_metrics_by_hand():
    metrics = replay(metered_site(), "uncontrolled").metrics
    # EV 4 then 2 kW; net import 2 + 4 - 3 = 3 kW, then 1 + 2 = 3 kW.
    assert metrics.energy_requested_kwh == metrics.energy_delivered_kwh == 6
    assert metrics.sessions_fully_met == 1
    assert metrics.cost == pytest.approx(3 * 0.10 + 3 * 0.30)
    # Without the EV: 1 kW exported at 0.05, then 1 kW imported at 0.30.
    assert metrics.cost_per_kwh == pytest.approx((1.2 - (-0.05 + 0.30)) / 6)
    assert metrics.peak_import_kw == pytest.approx(3)
    assert metrics.carbon_kg == pytest.approx((3 * 100 + 3 * 200) / 1000)
    assert metrics.peak_window_kwh == pytest.approx(2)
    assert metrics.cap_violations == 0
    assert metrics.decisions == 2


def test_replay_counts_every_slot_over_the_cap():
    # Room for EVs: 2.5 - (2 - 3) = 3.5 kW, then 2.5 - 1 = 1.5 kW.
    assert replay(metered_site(limit_kw=2.5), "uncontrolled").metrics.cap_violations == 2
    edf = replay(metered_site(limit_kw=2.5), "edf")
    assert edf.power_w["a"] == pytest.approx((3500, 1500))
    assert edf.metrics.cap_violations == 0 and edf.metrics.sessions_fully_met == 0


def contended_site() -> Scenario:
    """A 7 kW site, dear then cheap. EV a is there from the start; b comes when it is cheap.
    Knowing b will come, a charges at once (28 kWh in all); not knowing, a waits for the
    cheap hours b will need too."""
    data = site([ev("a", 0, 4, kwh=14), ev("b", 2, 4, kwh=14)], hours=4, limit_kw=7)
    data["series"] = {"import_price": [0.5, 0.5, 0.1, 0.1]}
    return parse_scenario(data)


def test_offline_optimal_knows_the_future_and_delivers_at_least_as_much_as_smart():
    offline = replay(contended_site(), "offline_optimal").metrics
    smart = replay(contended_site(), "smart").metrics
    assert offline.energy_delivered_kwh == pytest.approx(28)
    assert smart.energy_delivered_kwh <= offline.energy_delivered_kwh + 1e-6
    assert smart.decisions >= 2  # planned at the start, again when b arrived
    assert offline.decisions == 1


def test_smart_hedges_a_congested_ev_and_offline_optimal_plans_on_costs_alone():
    # 30 of the 40 kWh a 10 kW site can deliver in 4 hours, the last hour slightly cheaper,
    # an EV forecast (that never comes): online, waiting risks the room; with perfect
    # foresight nothing can.
    data = site([ev("a", 0, 4, kwh=30, max_kw=10)], hours=4, limit_kw=10)
    data["forecast_sessions"] = [ev("b", 3, 4, kwh=2, max_kw=2)]
    data["series"] = {"import_price": [0.30, 0.30, 0.30, 0.295]}
    scenario = parse_scenario(data)
    smart = replay(scenario, "smart").power_w["a"]
    offline = replay(scenario, "offline_optimal").power_w["a"]
    assert [round(w / 1000, 3) for w in smart] == [10, 10, 10, 0]
    assert [round(w / 1000, 3) for w in offline] == [10, 10, 0, 10]


def contended_site_with_forecast() -> Scenario:
    """The contended site, with b's coming forecast (say, from earlier days)."""
    data = site([ev("a", 0, 4, kwh=14), ev("b", 2, 4, kwh=14)], hours=4, limit_kw=7)
    data["series"] = {"import_price": [0.5, 0.5, 0.1, 0.1]}
    data["forecast_sessions"] = [ev("usual-b", 2, 4, kwh=14)]
    return parse_scenario(data)


def test_forecast_sessions_are_expected_and_not_part_of_the_offline_view():
    scenario = contended_site_with_forecast()
    assert [s.id for s in scenario.request.sessions] == ["a", "b"]
    (usual,) = scenario.forecast
    assert usual.id == "usual-b" and usual.expected and usual.energy_wh == 14_000
    assert not any(s.expected for s in scenario.request.sessions)
    assert parse_scenario(json.loads(SMALL.read_text())).forecast == ()


def test_smart_keeps_room_for_a_forecast_arrival():
    # Without the forecast a waits for the cheap hours b needs too (14 kWh in all); expecting
    # b, a charges 7 kW in the dear hours and b gets the cheap ones, as offline_optimal plans.
    blind = replay(contended_site(), "smart")
    informed = replay(contended_site_with_forecast(), "smart")
    assert blind.metrics.energy_delivered_kwh == pytest.approx(14)
    assert informed.metrics.energy_delivered_kwh == pytest.approx(28)
    assert informed.power_w["a"] == pytest.approx((7000, 7000, 0, 0))
    assert informed.metrics.sessions == 2  # the forecast is never counted as a session
    assert informed.metrics.energy_requested_kwh == pytest.approx(28)
    assert informed.violations == ()


def test_an_expected_session_leaves_the_plan_once_its_arrival_has_passed():
    scenario = contended_site_with_forecast()
    outlook = replace(scenario.request, sessions=())
    a = scenario.request.sessions[0]
    at = {
        slot: rolling_view(scenario.request, slot, [a], {"a": 14_000}, {"a": range(4)})
        for slot in (0, 2)
    }
    before = with_expected(outlook, 0, at[0], scenario.forecast)
    assert [(s.id, s.expected) for s in before.sessions] == [("a", False), ("usual-b", True)]
    assert before.grid.count == 4 and before.series.import_price == (0.5, 0.5, 0.1, 0.1)
    assert with_expected(outlook, 2, at[2], scenario.forecast) is at[2]


def test_uncontrolled_gets_its_energy_only_by_breaking_the_cap():
    tight = contended_site()
    uncontrolled = replay(tight, "uncontrolled").metrics
    offline = replay(tight, "offline_optimal").metrics
    assert uncontrolled.energy_delivered_kwh >= offline.energy_delivered_kwh
    squeezed = parse_scenario(site([ev("a", 0, 2, kwh=14), ev("b", 0, 2, kwh=14)], limit_kw=7))
    assert replay(squeezed, "uncontrolled").metrics.cap_violations == 2
    assert replay(squeezed, "offline_optimal").metrics.energy_delivered_kwh == pytest.approx(14)


@pytest.mark.parametrize("strategy", ["smart", "equal_share", "edf", "offline_optimal"])
def test_controlled_strategies_never_break_a_limit(strategy: str):
    small = parse_scenario(json.loads(SMALL.read_text()))
    for scenario in (small, contended_site(), metered_site(limit_kw=2.5)):
        result = replay(scenario, strategy)
        assert result.violations == ()
        assert result.metrics.cap_violations == 0
        assert result.metrics.energy_delivered_kwh > 0


def test_smart_reports_its_planner_and_solve_times():
    small = parse_scenario(json.loads(SMALL.read_text()))
    result = replay(small, "smart")
    metrics = result.metrics
    charging = [t for t in range(10) if any(p[t] > 0 for p in result.power_w.values())]
    assert len(charging) <= metrics.decisions <= 10  # replans every slot with an EV to plan for
    assert sum(metrics.methods.values()) == metrics.decisions
    assert 0 < metrics.solve_ms_p50 <= metrics.solve_ms_p95
