"""Blocked hours of a charger's mode, and the profiles and plans that keep to them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ampnexus.charging.compiler import (
    MODE_PROFILE_ID,
    ChargerCapabilities,
    charge_point_max_profile,
    fail_safe_delay_s,
    fail_safe_profile,
    tx_profile,
)
from ampnexus.charging.model import Circuit, Plan, PlanRequest, Session, SlotGrid
from ampnexus.charging.planner import plan as make_plan
from ampnexus.domain.charging_mode import (
    ChargingMode,
    EffectiveMode,
    ModeSource,
    RegulationSettings,
    ScheduleSettings,
    WeeklyWindow,
)
from ampnexus.domain.charging_profile import ChargingRateUnit, ProfilePurpose
from ampnexus.domain.mode_enforcement import (
    DelayDraw,
    blocked_at,
    blocked_intervals,
    open_share,
)
from ampnexus.ocpp.v16.profiles import profile_to_ocpp
from ampnexus.ocpp.v16.schemas import validate_request

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2026, 1, 12, 0, 0, tzinfo=UTC)  # winter: London is UTC


def regulation(charger: str = "CP1", **settings: object) -> EffectiveMode:
    return EffectiveMode(
        charger,
        ChargingMode.REGULATION_COMPLIANCE,
        RegulationSettings(**settings),  # type: ignore[arg-type]
        ModeSource.CHARGER,
    )


def schedule(*windows: WeeklyWindow) -> EffectiveMode:
    return EffectiveMode(
        "CP1", ChargingMode.SCHEDULE, ScheduleSettings(windows), ModeSource.CHARGER
    )


def test_regulation_defaults_block_weekday_peaks_and_a_delay_after_each() -> None:
    draw = DelayDraw(b"k" * 32)
    blocked = blocked_intervals(regulation(), MONDAY, LONDON, draw, days=7)
    assert len(blocked) == 10  # two windows on five weekdays, none at the weekend
    for day in range(5):
        morning, evening = blocked[2 * day], blocked[2 * day + 1]
        date = MONDAY + timedelta(days=day)
        assert morning[0] == date + timedelta(hours=8)
        assert evening[0] == date + timedelta(hours=16)
        for (_, end), hour in ((morning, 11), (evening, 22)):
            delay = (end - (date + timedelta(hours=hour))).total_seconds()
            assert 0 <= delay <= 600 and delay == int(delay)
    delays = {(end - start).total_seconds() for start, end in blocked}
    assert len(delays) > 5  # they differ from window to window
    saturday = MONDAY + timedelta(days=5, hours=12)
    assert not blocked_at(blocked, saturday)


def test_delays_are_stable_on_re_issue_and_differ_across_chargers() -> None:
    draw = DelayDraw()
    first = blocked_intervals(regulation("CP1"), MONDAY, LONDON, draw)
    later = blocked_intervals(regulation("CP1"), MONDAY + timedelta(hours=9), LONDON, draw)
    # The same windows ahead end at the same instants: the same delays.
    assert [i for i in first if i[0] >= MONDAY + timedelta(hours=16)][:5] == [
        i for i in later if i[0] >= MONDAY + timedelta(hours=16)
    ][:5]
    other = blocked_intervals(regulation("CP2"), MONDAY, LONDON, draw)
    assert [end for _, end in first] != [end for _, end in other]


def test_no_delay_when_the_charger_applies_its_own_and_the_maximum_is_kept() -> None:
    draw = DelayDraw()
    own = blocked_intervals(regulation(charger_applies_delay=True), MONDAY, LONDON, draw)
    assert own[1] == (MONDAY + timedelta(hours=16), MONDAY + timedelta(hours=22))
    short = blocked_intervals(regulation(random_delay_max_s=30), MONDAY, LONDON, draw)
    assert all((end - start) <= timedelta(hours=6, seconds=30) for start, end in short)


def test_a_delay_after_a_window_already_over_still_blocks() -> None:
    draw = DelayDraw(b"x" * 32)
    whole = blocked_intervals(regulation(), MONDAY, LONDON, draw)
    delay_end = whole[1][1]
    assert delay_end > MONDAY + timedelta(hours=22)
    since = MONDAY + timedelta(hours=22)
    assert blocked_intervals(regulation(), since, LONDON, draw)[0] == (since, delay_end)


def test_the_windows_stay_at_local_time_across_the_clock_change() -> None:
    # Sunday 25 October 2026 01:00 UTC London goes from BST to GMT.
    friday = datetime(2026, 10, 23, 0, 0, tzinfo=UTC)
    draw = DelayDraw()
    blocked = blocked_intervals(regulation(), friday, LONDON, draw, days=4)
    starts = [start for start, _ in blocked if start.hour in (7, 8, 15, 16)]
    assert datetime(2026, 10, 23, 15, 0, tzinfo=UTC) in starts  # Friday 16:00 BST
    assert datetime(2026, 10, 26, 16, 0, tzinfo=UTC) in starts  # Monday 16:00 GMT
    for start in starts:
        assert start.astimezone(LONDON).hour in (8, 16)


def test_schedule_blocks_the_complement_of_its_windows_across_midnight() -> None:
    night = WeeklyWindow(frozenset(range(7)), time(23, 0), time(7, 0))
    blocked = blocked_intervals(schedule(night), MONDAY, LONDON, DelayDraw(), days=2)
    assert blocked == [
        (MONDAY + timedelta(hours=7), MONDAY + timedelta(hours=23)),
        (MONDAY + timedelta(hours=31), MONDAY + timedelta(hours=47)),
    ]


def test_other_modes_block_nothing() -> None:
    for mode in (ChargingMode.SMART, ChargingMode.PLUG_AND_CHARGE, ChargingMode.USER_CONTROLLED):
        effective = EffectiveMode("CP1", mode, None, ModeSource.CHARGER)
        assert blocked_intervals(effective, MONDAY, LONDON, DelayDraw()) == []


def test_open_share_of_a_slot() -> None:
    blocked = [(MONDAY + timedelta(minutes=10), MONDAY + timedelta(minutes=20))]
    assert open_share(blocked, MONDAY, MONDAY + timedelta(minutes=15)) == pytest.approx(2 / 3)
    assert open_share(blocked, MONDAY + timedelta(minutes=20), MONDAY + timedelta(minutes=35)) == 1


# --- the held profile ----------------------------------------------------------------------------
def limit_at(periods: list[tuple[int, float]], second: float) -> float:
    return [limit for start, limit in periods if start <= second][-1]


@pytest.mark.parametrize("unit", [ChargingRateUnit.W, ChargingRateUnit.A])
def test_the_charge_point_max_profile_is_0_in_every_blocked_interval(
    unit: ChargingRateUnit,
) -> None:
    caps = ChargerCapabilities(units=(unit,), max_periods=40)
    draw = DelayDraw()
    since = MONDAY + timedelta(hours=3, seconds=7)
    blocked = blocked_intervals(regulation(), since, LONDON, draw)
    profile = charge_point_max_profile(blocked, since, since + timedelta(days=8), 11_000, caps)
    assert profile.id == MODE_PROFILE_ID and profile.stack_level == 0
    assert profile.purpose is ProfilePurpose.CHARGE_POINT_MAX
    assert profile.schedule.start_schedule == since
    periods = [(p.start_period, p.limit) for p in profile.schedule.periods]
    top = 11_000.0 if unit is ChargingRateUnit.W else 15.9
    assert periods[0] == (0, top)
    for start, end in blocked:
        for moment in (start, end - timedelta(seconds=1)):
            assert limit_at(periods, (moment - since).total_seconds()) == 0.0
        assert limit_at(periods, (end - since).total_seconds() + 1) == top
    assert periods[-1] == (8 * 86_400, 0.0)  # beyond what it knows: closed
    validate_request(
        "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile_to_ocpp(profile)}
    )


def test_too_few_periods_cover_what_fits_and_end_closed() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,), max_periods=6)
    blocked = blocked_intervals(regulation(), MONDAY, LONDON, DelayDraw())
    profile = charge_point_max_profile(blocked, MONDAY, MONDAY + timedelta(days=8), 7400, caps)
    periods = [(p.start_period, p.limit) for p in profile.schedule.periods]
    assert len(periods) <= 6 and periods[-1][1] == 0.0
    # It ends at the start of the first window it could not hold: never open there.
    assert periods[-1][0] == (blocked[2][0] - MONDAY).total_seconds()
    assert limit_at(periods, (blocked[1][0] - MONDAY).total_seconds()) == 0.0


def test_a_fail_safe_with_a_start_delay() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,))
    profile = fail_safe_profile(7400, caps, delay_s=321)
    assert [(p.start_period, p.limit) for p in profile.schedule.periods] == [
        (0, 0.0),
        (321, 7400.0),
    ]
    assert fail_safe_delay_s(profile) == 321
    validate_request(
        "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile_to_ocpp(profile)}
    )
    assert fail_safe_delay_s(fail_safe_profile(7400, caps)) == 0


# --- tx profile and planner ----------------------------------------------------------------------
GRID = SlotGrid(MONDAY, 900, 8)


def test_the_tx_profile_is_0_to_the_second_in_blocked_parts_of_slots() -> None:
    caps = ChargerCapabilities(units=(ChargingRateUnit.W,))
    plan = Plan(GRID, {"s": (7400.0,) * 8}, {"s": 0.0}, "test", 0.0)
    blocked = [(MONDAY, MONDAY + timedelta(minutes=22, seconds=30, microseconds=5))]
    profile = tx_profile(plan, "s", 1, 1, caps, after_w=4000, blocked=blocked)
    periods = [(p.start_period, p.limit) for p in profile.schedule.periods]
    assert periods == [(0, 0.0), (1351, 7400.0), (7200, 4000.0)]


def test_the_planner_counts_only_the_open_share_of_a_slot() -> None:
    session = Session(
        id="s",
        circuit_id="site",
        arrival=MONDAY,
        departure=MONDAY + timedelta(hours=2),
        energy_wh=100_000,
        max_power_w=7200,
        blocked_slots=frozenset({0}),
        open_shares=((1, 0.5),),
    )
    request = PlanRequest(GRID, (Circuit("site", None, 50_000),), (session,))
    plan = make_plan(request)
    assert plan.power_w["s"][0] == 0.0
    assert plan.power_w["s"][1] == pytest.approx(7200)
    # 7 slots at full power, one only half open: 6.5 x 15 minutes at 7.2 kW.
    assert plan.energy_wh("s", session.open_shares) == pytest.approx(7200 * 6.5 / 4)
    assert plan.unmet_wh["s"] == pytest.approx(100_000 - 7200 * 6.5 / 4)
