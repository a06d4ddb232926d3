"""The plan -> OCPP profile compiler: exact periods, units, merging, fail-safe, ordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.charging.compiler import (
    Change,
    ChargerCapabilities,
    IdleConnectors,
    Lowered,
    Steps,
    constant_steps,
    fail_safe_per_connector_w,
    fail_safe_profile,
    idle_room_w,
    lower_of,
    profile_steps,
    spans_where,
    stack_level_above,
    steps_at,
    tx_profile,
)
from ampnexus.charging.model import Circuit, Plan, PlanRequest, Session, SiteSeries, SlotGrid
from ampnexus.domain.charging_profile import (
    ChargingRateUnit,
    InstalledProfiles,
    ProfileKind,
    ProfilePurpose,
    limit_at,
)
from ampnexus.ocpp.v16.profiles import profile_to_ocpp
from ampnexus.ocpp.v16.schemas import validate_request

START = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
GRID = SlotGrid(START, 900, 8)


def plan(*powers: float) -> Plan:
    return Plan(GRID, {"s": tuple(powers)}, {"s": 0.0}, "test", 0.0)


def test_power_charger_gets_one_period_per_change_in_watts() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W, ChargingRateUnit.A))
    profile = tx_profile(plan(0, 0, 7400, 7400, 3680, 3680, 0, 0), "s", 42, 1, caps)
    assert profile.purpose is ProfilePurpose.TX and profile.kind is ProfileKind.ABSOLUTE
    assert profile.transaction_id == 42
    assert profile.schedule.unit is ChargingRateUnit.W
    assert profile.schedule.start_schedule == START
    assert profile.schedule.duration is None  # its last period holds until replaced
    assert [(p.start_period, p.limit) for p in profile.schedule.periods] == [
        (0, 0.0),
        (1800, 7400.0),
        (3600, 3680.0),
        (5400, 0.0),
    ]


def test_current_only_charger_gets_amps_per_phase_floored() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.A,), phases=3, voltage=230)
    profile = tx_profile(plan(*[11_000] * 4, *[4140] * 4), "s", 1, 2, caps, after_w=4140)
    # 11 kW / (3 x 230 V) = 15.94 A -> 15.9 A (floored, never up); 4140 W = 6.0 A exactly.
    assert [(p.start_period, p.limit) for p in profile.schedule.periods] == [(0, 15.9), (3600, 6.0)]
    assert all(p.number_phases == 3 for p in profile.schedule.periods)


def test_too_many_periods_are_merged_at_the_lower_limit() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,), max_periods=3)
    powers = (1000, 5000, 1000, 5000, 1000, 5000, 1000, 5000)
    profile = tx_profile(plan(*powers), "s", 1, 1, caps)
    periods = profile.schedule.periods
    assert len(periods) <= 3
    # Never above the plan at any slot.
    for slot, planned in enumerate(powers):
        active = [p for p in periods if p.start_period <= slot * 900][-1]
        assert active.limit <= planned


def test_charger_obeys_the_compiled_profile() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,))
    profile = tx_profile(plan(0, 7400, 7400, 0, 0, 0, 0, 0), "s", 9, 1, caps)
    held = InstalledProfiles()
    assert held.install(1, profile, active_transaction_id=9) == "Accepted"

    def at(minutes: int) -> float | None:
        moment = START + timedelta(minutes=minutes)
        return limit_at(held, 1, moment, ChargingRateUnit.W, now_transaction_id=9)

    assert at(5) == 0.0
    assert at(20) == 7400.0
    assert at(50) == 0.0


def test_profiles_are_valid_ocpp() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.A,))
    for profile in (
        tx_profile(plan(7400, 0, 3680, 3680, 0, 0, 22000, 0), "s", 5, 1, caps),
        fail_safe_profile(4140, caps),
    ):
        validate_request(
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": profile_to_ocpp(profile)},
        )


def test_fail_safe_is_an_open_ended_tx_default_on_stack_level_0() -> None:
    profile = fail_safe_profile(4140, ChargerCapabilities(units=(ChargingRateUnit.A,)))
    assert profile.purpose is ProfilePurpose.TX_DEFAULT and profile.stack_level == 0
    assert profile.schedule.duration is None
    assert [(p.start_period, p.limit) for p in profile.schedule.periods] == [(0, 6.0)]


@pytest.mark.parametrize(
    ("share_w", "connectors", "unit", "limit"),
    [
        (22_080, 2, ChargingRateUnit.A, 16.0),  # 11,040 W per connector on 3 x 230 V
        (22_080, 2, ChargingRateUnit.W, 11_040.0),
        (8_280, 2, ChargingRateUnit.A, 6.0),  # exactly the 6 A minimum each
        (8_000, 2, ChargingRateUnit.A, 0.0),  # 5.8 A each: none, rather than too much
        (8_000, 1, ChargingRateUnit.A, 11.5),
    ],
)
def test_the_fail_safe_splits_the_chargers_share_among_its_connectors(
    share_w: float, connectors: int, unit: ChargingRateUnit, limit: float
) -> None:
    """A connector-0 TxDefaultProfile binds each connector on its own (OCPP 1.6 §3.13.1):
    together the connectors stay within the charger's share."""
    caps = ChargerCapabilities(units=(unit,), connectors=connectors)
    profile = fail_safe_profile(share_w, caps)
    assert [p.limit for p in profile.schedule.periods] == [limit]
    assert fail_safe_per_connector_w(share_w, caps) * connectors <= share_w


def steps_of(*limits_w: float) -> Steps:
    """One step per slot of GRID, in W."""
    return tuple((GRID.slot_start(t), w) for t, w in enumerate(limits_w))


def test_a_change_is_judged_on_every_instant_from_now_not_only_now() -> None:
    held = steps_of(7000, 7000, 7000, 7000)
    now = START + timedelta(minutes=20)  # in slot 1: slot 0 is past
    assert Change.of(steps_of(9000, 7000, 7000, 3000), held, now) == Change(True, False)
    assert Change.of(steps_of(0, 9000, 7000, 7000), held, now) == Change(False, True)
    assert Change.of(steps_of(0, 7000, 7000, 7000), held, now) == Change(False, False)
    assert Change.of(steps_of(7000, 7000, 9000, 3000), held, now) == Change(True, True)
    assert Change.of(held, constant_steps(4000), now) == Change(False, True)


def test_a_profile_that_lowers_and_raises_goes_first_as_the_lower_of_both() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,))
    new = tx_profile(plan(7000, 7000, 9000, 9000, 3000, 3000, 3000, 3000), "s", 1, 1, caps)
    held = steps_of(7000, 7000, 7000, 7000, 7000, 7000, 7000, 7000)
    now = START + timedelta(minutes=20)
    lowered = lower_of(new, held, now, caps)
    assert lowered.schedule.start_schedule == now
    assert [(p.start_period, p.limit) for p in lowered.schedule.periods] == [
        (0, 7000.0),
        (3600 - 1200, 3000.0),  # from slot 4 on: the new plan's 3 kW
        (8 * 900 - 1200, 0.0),  # after the horizon: the new profile's fail-safe (0 here)
    ]
    lowered_steps = profile_steps(lowered, caps)
    assert not Change.of(lowered_steps, held, now).raises
    assert not Change.of(lowered_steps, profile_steps(new, caps), now).raises


def test_lowered_spans_merge_and_meet_only_what_overlaps() -> None:
    at = [GRID.slot_start(t) for t in range(6)]
    lowered = Lowered.of([(at[3], at[4]), (at[1], at[2]), (at[2], at[3])])
    assert lowered.spans == ((at[1], at[4]),)
    assert lowered.meets([(at[0], at[2])]) and lowered.meets([(at[3], at[5])])
    assert not lowered.meets([(at[0], at[1]), (at[4], at[5])])  # touching is not meeting
    assert Lowered.everywhere().meets([(at[5], at[5] + timedelta(seconds=1))])


def test_the_lower_of_both_only_where_a_limit_goes_down_elsewhere() -> None:
    """Raised at once wherever nobody's limit goes down; held back only where one does."""
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,))
    new = tx_profile(plan(9000, 9000, 9000, 9000, 3000, 3000, 3000, 3000), "s", 1, 1, caps)
    held = steps_of(7000, 7000, 7000, 7000, 7000, 7000, 7000, 7000)
    others_down = steps_of(9000, 9000, 5000, 5000, 5000, 5000, 5000, 5000)
    lowered = Lowered.of(spans_where(others_down, held, START, lambda n, h: n < h))
    first = lower_of(new, held, START, caps, where=lowered)
    assert [(p.start_period, p.limit) for p in first.schedule.periods] == [
        (0, 9000.0),  # slots 0-1: nobody goes down, the rise goes out at once
        (1800, 7000.0),  # slots 2-3: another limit goes down there, the rise waits
        (3600, 3000.0),  # from slot 4: the new plan's lower limit
        (8 * 900, 0.0),
    ]
    assert [(p.start_period, p.limit) for p in lower_of(new, held, START, caps).schedule.periods][
        :2
    ] == [(0, 7000.0), (3600, 3000.0)]


@pytest.mark.parametrize("after_w", [0.0, 4140.0])
def test_after_the_horizon_the_charger_holds_its_fail_safe_not_its_maximum(after_w: float) -> None:
    """A TxProfile whose schedule ended would still overrule the TxDefaultProfile, leaving the
    charger at its own maximum (our model of §3.13, OCTT TC_066): its last period holds."""
    caps = ChargerCapabilities(units=(ChargingRateUnit.A,), phases=3, voltage=230)
    profile = tx_profile(plan(*[11_000] * 8), "s", 1, 1, caps, after_w=after_w)
    installed = InstalledProfiles()
    installed.install(0, fail_safe_profile(11_000, caps))
    assert installed.install(1, profile, active_transaction_id=1) == "Accepted"
    for hours in (2, 30, 24 * 7):
        moment = START + timedelta(hours=hours)
        amps = limit_at(
            installed, 1, moment, ChargingRateUnit.A, now_transaction_id=1, max_limit=32
        )
        assert amps == pytest.approx(after_w / 690, abs=0.1)


def test_idle_connectors_get_what_the_plan_leaves_free_in_every_slot() -> None:
    """A 36 kW site: one car planned at 22 kW, then 30 kW; five idle connectors share the
    least room (6 kW), and a building of 2 kW counts."""
    site = Circuit("site", None, 36_000.0)
    car = Session("car", "site", START, START + timedelta(hours=2), 50_000.0, 22_000.0)
    request = PlanRequest(GRID, (site,), (car,), SiteSeries(base_load_w=(2_000.0,) * GRID.count))
    powers = (22_000.0, 30_000.0) + (0.0,) * (GRID.count - 2)
    planned = Plan(GRID, {"car": powers}, {"car": 0.0}, "test", 0.0)
    idle = [IdleConnectors(f"cp{n}", "site", (1, 2, 3), 1) for n in range(5)]
    room = idle_room_w(request, planned, idle)
    assert room == {f"cp{n}": pytest.approx((36_000 - 2_000 - 30_000) / 5) for n in range(5)}


def test_idle_room_respects_a_circuit_current_limit_per_phase() -> None:
    """A 16 A circuit: a three-phase car at 7 kW leaves 16 A - 10.1 A per phase; one idle
    single-phase connector on L1 may take all of L1's room."""
    site = Circuit("site", None, None)
    circuit = Circuit("c", "site", None, 16.0)
    car = Session("car", "c", START, START + timedelta(hours=2), 50_000.0, 11_000.0)
    request = PlanRequest(GRID, (site, circuit), (car,), SiteSeries())
    planned = Plan(GRID, {"car": (6_900.0,) * GRID.count}, {"car": 0.0}, "test", 0.0)
    room = idle_room_w(request, planned, [IdleConnectors("cp", "c", (1,), 1)])
    assert room["cp"] == pytest.approx(16 * 230 - 6_900 / 3)


# --- an operator's bound, kept ------------------------------------------------------------------
def test_the_planned_profile_is_the_lower_of_the_plan_and_the_operators_bound() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,))
    # The bound: from 10 past, 5,520 W; from 20 past for 40 s, 1,000 W; then none.
    since = START + timedelta(minutes=10)
    bound = (
        (since, 5520.0),
        (START + timedelta(minutes=20), 1000.0),
        (START + timedelta(minutes=20, seconds=40), float("inf")),
    )
    profile = tx_profile(plan(*[11_000] * 8), "s", 7, 1, caps, after_w=11_000, bound=bound)
    assert [(p.start_period, p.limit) for p in profile.schedule.periods] == [
        (0, 11_000.0),  # before `since`: the past, the bound says nothing of it
        (600, 5520.0),
        (1200, 1000.0),
        (1240, 11_000.0),
    ]


def test_a_bound_changing_between_whole_seconds_holds_the_whole_second() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.A,), phases=3, voltage=230)
    moment = START + timedelta(seconds=100, milliseconds=500)
    bound = ((START, 11_000.0), (moment, 5520.0), (moment + timedelta(seconds=1), 11_000.0))
    profile = tx_profile(plan(*[11_000] * 8), "s", 7, 1, caps, after_w=11_000, bound=bound)
    steps = profile_steps(profile, caps)
    for offset in (100, 100.5, 101, 101.5):
        assert steps_at(steps, START + timedelta(seconds=offset)) <= 5520.0 + 1e-6
    assert [(p.start_period, p.limit) for p in profile.schedule.periods][1:3] == [
        (100, 8.0),
        (102, 15.9),
    ]


def test_merging_periods_keeps_the_bound() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,), max_periods=2)
    bound = steps_of(11_000, 3000, 11_000, 2000, 11_000, 1000)
    profile = tx_profile(plan(*[7400] * 8), "s", 7, 1, caps, after_w=7400, bound=bound)
    assert len(profile.schedule.periods) <= 2
    steps = profile_steps(profile, caps)
    for t in range(8):
        moment = GRID.slot_start(t)
        assert steps_at(steps, moment) <= min(7400, steps_at(bound, moment))


@pytest.mark.parametrize(
    ("theirs", "highest", "level"),
    [
        ((), 8, 1),  # no operator TxProfile: the usual level
        ((), 0, 0),  # a charger with one level only
        ((0,), 8, 1),  # below ours already
        ((1,), 8, 2),  # theirs at ours: ours goes above, never replaces it
        ((1, 4), 8, 5),
        ((8,), 8, None),  # no level free above theirs
    ],
)
def test_the_planned_profile_goes_above_the_operators(
    theirs: tuple[int, ...], highest: int, level: int | None
) -> None:
    assert stack_level_above(theirs, ChargerCapabilities(max_stack_level=highest), 1) == level


def test_the_stack_level_given_is_the_one_sent() -> None:
    profile = tx_profile(plan(7400), "s", 7, 1, ChargerCapabilities(), stack_level=3)
    assert profile.stack_level == 3
