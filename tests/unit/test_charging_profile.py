"""OCPP 1.6 charging profiles: the examples of §3.13, the OCTT smart charging cases, the install
and clear rules, unit conversion and the OCPP payloads.

Section numbers are from OCPP 1.6 edition 2 (ocpp-1.6_edition_2.txt) and its errata sheet;
"OCTT" is the OCA compliance test case document of 2024-04 (ocpp-1.6-octt-test-cases-2024-04.txt).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    InstalledProfiles,
    ProfileKind,
    ProfilePurpose,
    RecurrencyKind,
    SchedulePeriod,
    composite_schedule,
    limit_at,
    to_amps,
    to_watts,
)
from ampnexus.domain.errors import Invalid
from ampnexus.ocpp.v16.profiles import (
    composite_to_ocpp,
    parse_composite,
    parse_profile,
    profile_to_ocpp,
)
from ampnexus.ocpp.v16.schemas import validate_request, validate_response

A = ChargingRateUnit.A
W = ChargingRateUnit.W
MAX = ProfilePurpose.CHARGE_POINT_MAX
DEFAULT = ProfilePurpose.TX_DEFAULT
TX = ProfilePurpose.TX

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)  # a Friday
MONDAY = datetime(2025, 3, 10, tzinfo=UTC)
HOUR = 3600
DAY = 86_400


def schedule(
    pairs: list[tuple[int, float]],
    *,
    unit: ChargingRateUnit = A,
    duration: int | None = None,
    start: datetime | None = None,
    phases: int | None = None,
) -> ChargingSchedule:
    periods = tuple(SchedulePeriod(offset, limit, phases) for offset, limit in pairs)
    return ChargingSchedule(unit, periods, duration=duration, start_schedule=start)


def absolute(
    profile_id: int,
    purpose: ProfilePurpose,
    pairs: list[tuple[int, float]],
    *,
    stack_level: int = 0,
    start: datetime = T0,
    **options: Any,
) -> ChargingProfile:
    keys = ("unit", "duration", "phases")
    shape = {key: options.pop(key) for key in keys if key in options}
    return ChargingProfile(
        profile_id,
        stack_level,
        purpose,
        ProfileKind.ABSOLUTE,
        schedule(pairs, start=start, **shape),
        **options,
    )


def pairs_of(result: ChargingSchedule) -> list[tuple[int, float]]:
    return [(period.start_period, period.limit) for period in result.periods]


def composite(
    installed: InstalledProfiles,
    start: datetime,
    duration: int,
    unit: ChargingRateUnit = A,
    connector_id: int = 1,
    **keywords: Any,
) -> list[tuple[int, float]]:
    result = composite_schedule(installed, connector_id, start, duration, unit, **keywords)
    assert result.start_schedule == start and result.duration == duration and result.unit is unit
    return pairs_of(result)


# --- §3.13.7: the daily default profile -----------------------------------------------------------
# §3.13.7: "a daily default profile that limits the power to 6 kW between 08:00h and 20:00h":
# chargingProfileId 100, stackLevel 0, TxDefaultProfile, Recurring, Daily, duration 86400,
# startSchedule 2013-01-01T00:00Z, chargingRateUnit W, periods "startPeriod 0 (=00:00) limit
# 11000 numberPhases 3", "startPeriod 28800 (=08:00) limit 6000", "startPeriod 72000 (=20:00)
# limit 11000".
DAILY_EXAMPLE = {
    "chargingProfileId": 100,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "chargingSchedule": {
        "duration": 86400,
        "startSchedule": "2013-01-01T00:00Z",
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 11000, "numberPhases": 3},
            {"startPeriod": 28800, "limit": 6000, "numberPhases": 3},
            {"startPeriod": 72000, "limit": 11000, "numberPhases": 3},
        ],
    },
}


def daily_example_installed() -> InstalledProfiles:
    installed = InstalledProfiles()
    assert installed.install(1, parse_profile(DAILY_EXAMPLE, connector_id=1)) == "Accepted"
    return installed


def test_daily_default_profile_limits_to_6_kw_between_08_and_20_every_day():
    installed = daily_example_installed()
    midnight = datetime(2025, 3, 14, tzinfo=UTC)  # twelve years after startSchedule
    assert composite(installed, midnight, DAY, W) == [(0, 11000), (28800, 6000), (72000, 11000)]


def test_daily_default_profile_window_crossing_midnight():
    installed = daily_example_installed()
    evening = datetime(2025, 3, 14, 19, 0, tzinfo=UTC)
    # 19:00-20:00 at 6 kW, 20:00-08:00 (across midnight) at 11 kW, 08:00-09:00 at 6 kW.
    assert composite(installed, evening, 14 * HOUR, W) == [(0, 6000), (3600, 11000), (46800, 6000)]


def test_daily_default_profile_in_amps_uses_number_phases():
    installed = daily_example_installed()
    # §7.12: "Current per phase = Power / (Line Voltage * Number of Phases)":
    # 6000 / (230 * 3) = 8.69 A and 11000 / 690 = 15.94 A, floored to one decimal.
    midnight = datetime(2025, 3, 14, tzinfo=UTC)
    assert composite(installed, midnight, DAY, A) == [(0, 15.9), (28800, 8.6), (72000, 15.9)]
    assert limit_at(installed, 1, midnight + timedelta(hours=12), W) == 6000
    assert limit_at(installed, 1, midnight + timedelta(hours=12), A) == 8.6


def test_recurring_night_profile_runs_across_midnight():
    # §7.37 Daily: "The schedule restarts every 24 hours, at the same time as in the startSchedule."
    # A night profile starting at 22:00: 16 A until 06:00 (28800 s later), then 8 A.
    night = ChargingProfile(
        7,
        0,
        DEFAULT,
        ProfileKind.RECURRING,
        schedule([(0, 16), (28800, 8)], start=datetime(2025, 3, 1, 22, 0, tzinfo=UTC)),
        recurrency_kind=RecurrencyKind.DAILY,
    )
    installed = InstalledProfiles()
    installed.install(0, night)
    evening = datetime(2025, 3, 14, 20, 0, tzinfo=UTC)
    assert composite(installed, evening, 12 * HOUR) == [(0, 8), (7200, 16), (36000, 8)]


def test_recurring_profile_does_not_run_before_its_start_schedule():
    first_night = datetime(2025, 3, 14, 22, 0, tzinfo=UTC)
    night = ChargingProfile(
        7,
        0,
        DEFAULT,
        ProfileKind.RECURRING,
        schedule([(0, 16), (28800, 8)], start=first_night),
        recurrency_kind=RecurrencyKind.DAILY,
    )
    installed = InstalledProfiles()
    installed.install(1, night)
    assert composite(installed, T0, DAY, max_limit=32) == [(0, 32), (36000, 16), (64800, 8)]


def test_recurring_duration_shorter_than_recurrence_falls_back_to_lower_stack_level():
    # §5.16 note (errata 3.43): "When recurrencyKind is used in combination with a chargingSchedule
    # duration shorter than the recurrencyKind period, the Charge Point SHALL fall back to default
    # behaviour after the chargingSchedule duration ends. This fall back means that the Charge Point
    # SHALL use a ChargingProfile with a lower stackLevel if available. If no other ChargingProfile
    # is available, the Charge Point SHALL allow charging as if no ChargingProfile is installed."
    morning_boost = ChargingProfile(
        2,
        1,
        DEFAULT,
        ProfileKind.RECURRING,
        schedule([(0, 16)], duration=6 * HOUR, start=datetime(2025, 3, 1, tzinfo=UTC)),
        recurrency_kind=RecurrencyKind.DAILY,
    )
    installed = InstalledProfiles()
    installed.install(1, morning_boost)
    installed.install(1, absolute(1, DEFAULT, [(0, 10)], start=datetime(2025, 1, 1, tzinfo=UTC)))
    midnight = datetime(2025, 3, 14, tzinfo=UTC)
    assert composite(installed, midnight, DAY) == [(0, 16), (21600, 10)]
    installed.clear(stack_level=0)
    assert composite(installed, midnight, DAY, max_limit=32) == [(0, 16), (21600, 32)]


def test_recurring_periods_beyond_the_recurrence_are_never_executed():
    # §5.16 note: "When recurrencyKind is used in combination with a chargingSchedulePeriod and/or
    # duration that is longer then the recurrence period duration, the remainder periods SHALL not
    # be executed."
    profile = ChargingProfile(
        1,
        0,
        DEFAULT,
        ProfileKind.RECURRING,
        schedule([(0, 10), (DAY + HOUR, 6)], duration=2 * DAY, start=MONDAY),
        recurrency_kind=RecurrencyKind.DAILY,
    )
    installed = InstalledProfiles()
    installed.install(1, profile)
    assert composite(installed, MONDAY, 3 * DAY) == [(0, 10)]


# --- §3.13.2: stacking ----------------------------------------------------------------------------
FULL, REDUCED = 32.0, 8.0  # the example names no numbers: "full" and "reduced" current are ours


def weekly_calendar() -> ChargingProfile:
    """§3.13.2: "a charging profile of purpose TxDefaultProfile with a duration and recurrence of
    one week that allows full power or current charging on weekdays from 23:00h to 06:00h and from
    00:00h to 24:00h in weekends and reduced power or current charging at other times"."""
    pairs: list[tuple[int, float]] = [(0, FULL)]
    for weekday in range(5):  # Monday to Friday
        pairs += [(weekday * DAY + 6 * HOUR, REDUCED), (weekday * DAY + 23 * HOUR, FULL)]
    return ChargingProfile(
        1,
        0,
        DEFAULT,
        ProfileKind.RECURRING,
        schedule(pairs, duration=7 * DAY, start=MONDAY),
        recurrency_kind=RecurrencyKind.WEEKLY,
    )


def test_stacking_weekly_calendar_with_holiday_exception():
    # §3.13.2: "On top of that, one can define other TxDefaultProfiles that define exception to this
    # rule, for example for holidays." Wednesday 2025-03-12 is a holiday: full current all day.
    holiday = absolute(
        2, DEFAULT, [(0, FULL)], stack_level=1, start=MONDAY + timedelta(days=2), duration=DAY
    )
    installed = InstalledProfiles()
    installed.install(0, weekly_calendar())
    installed.install(0, holiday)
    tuesday = MONDAY + timedelta(days=1)
    # Tuesday: reduced 06:00-23:00; Wednesday: full all day; Thursday: reduced 06:00-23:00.
    expected = [(0, FULL), (6 * HOUR, REDUCED), (23 * HOUR, FULL), (54 * HOUR, REDUCED)]
    assert composite(installed, tuesday, 3 * DAY) == [*expected, (71 * HOUR, FULL)]
    assert composite(installed, MONDAY + timedelta(days=5), 2 * DAY) == [(0, FULL)]  # the weekend
    next_tuesday = tuesday + timedelta(weeks=1)
    assert composite(installed, next_tuesday, DAY) == [(0, FULL), (21600, REDUCED), (82800, FULL)]

    assert installed.clear(profile_id=2)
    wednesday = MONDAY + timedelta(days=2)
    assert composite(installed, wednesday, DAY) == [(0, FULL), (21600, REDUCED), (82800, FULL)]


def test_stacking_charging_profiles_octt_tc_072():
    # OCTT TC_072_CS "Stacking Charging Profiles" (Table 84): TxDefaultProfile stackLevel 0,
    # "duration 400", "startPeriod 0, limit 6 / startPeriod 100, limit 8 / startPeriod 200, limit
    # 10"; TxDefaultProfile stackLevel 1, "duration 150", "startPeriod 0, limit 7 / startPeriod 100,
    # limit 9"; both "validTo <current dateTime - <Configured max time deviation> + 401 seconds>".
    # Expected composite, "duration 350": "startPeriod _0, limit 7 / startPeriod (100 - x), limit 9
    # / startPeriod (150 - x), limit 8 / startPeriod (200 - x), limit 10".
    window = {"valid_from": T0, "valid_to": T0 + timedelta(seconds=401)}
    installed = InstalledProfiles()
    installed.install(
        1, absolute(1, DEFAULT, [(0, 6), (100, 8), (200, 10)], duration=400, **window)
    )
    installed.install(
        1, absolute(2, DEFAULT, [(0, 7), (100, 9)], stack_level=1, duration=150, **window)
    )
    assert composite(installed, T0, 350) == [(0, 7), (100, 9), (150, 8), (200, 10)]


def test_stacking_without_duration_never_falls_back():
    # §3.13.2 (errata 3.7): "If you use Stacking without a duration, on the highest stack level, the
    # Charge Point will never fall back to a lower stack level profile."
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 6)]))
    installed.install(1, absolute(2, DEFAULT, [(0, 16)], stack_level=1))
    assert composite(installed, T0, 30 * DAY) == [(0, 16)]


# --- §3.13.2: validFrom / validTo -----------------------------------------------------------------


def test_updated_profile_valid_from_in_future_replaces_and_reverts_to_default_until_then():
    # §3.13.2 note: "In the case an updated charging profile (with the same stackLevel and purpose)
    # is sent with a validFrom dateTime in the future, the Charge Point SHALL replace the installed
    # profile and SHALL revert to default behavior until validFrom is reached."
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 16)]))  # the default, stackLevel 0
    installed.install(1, absolute(2, DEFAULT, [(0, 10)], stack_level=1))
    assert composite(installed, T0, 2 * HOUR) == [(0, 10)]

    later = absolute(3, DEFAULT, [(0, 6)], stack_level=1, valid_from=T0 + timedelta(hours=1))
    assert installed.install(1, later) == "Accepted"
    assert [profile.id for _, profile in installed.profiles()] == [1, 3]
    assert composite(installed, T0, 2 * HOUR) == [(0, 16), (3600, 6)]


def test_profile_stops_at_valid_to_and_lower_stack_level_takes_over():
    # §3.13.2: "the prevailing charging profile SHALL be the charging profile with the highest
    # stackLevel among the profiles that are valid at that point in time, as determined by their
    # validFrom and validTo parameters."
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 16)]))
    installed.install(
        1, absolute(2, DEFAULT, [(0, 10)], stack_level=1, valid_to=T0 + timedelta(hours=2))
    )
    assert composite(installed, T0, 4 * HOUR) == [(0, 10), (7200, 16)]
    assert limit_at(installed, 1, T0 + timedelta(hours=2), A) == 16
    assert limit_at(installed, 1, T0 + timedelta(hours=2) - timedelta(seconds=1), A) == 10


# --- §3.13.1 and §3.13.3: combining purposes ------------------------------------------------------


def tc_066_installed(scale: float, unit: ChargingRateUnit) -> InstalledProfiles:
    window = {"valid_from": T0, "valid_to": T0 + timedelta(seconds=401)}

    def scaled(limits: list[float], starts: list[int]) -> list[tuple[int, float]]:
        return [(start, limit * scale) for start, limit in zip(starts, limits, strict=True)]

    installed = InstalledProfiles()
    cp_max = absolute(1, MAX, scaled([10], [0]), unit=unit, duration=86400, phases=3)
    tx_default = absolute(
        2,
        DEFAULT,
        scaled([6, 10, 8, 15, 8], [0, 60, 120, 180, 260]),
        unit=unit,
        duration=300,
        phases=3,
        **window,
    )
    tx = absolute(
        3,
        TX,
        scaled([8, 11, 16, 6, 12], [0, 50, 140, 200, 240]),
        unit=unit,
        duration=260,
        phases=3,
        **window,
    )
    assert installed.install(0, cp_max) == "Accepted"
    assert installed.install(1, tx_default) == "Accepted"
    assert installed.install(1, tx, active_transaction_id=42) == "Accepted"
    return installed


@pytest.mark.parametrize(("unit", "scale"), [(A, 1), (W, 1000)])
@pytest.mark.parametrize("x", [0, 7])
def test_get_composite_schedule_octt_tc_066(unit: ChargingRateUnit, scale: float, x: int):
    # OCTT TC_066_CS "Get Composite Schedule" (Table 82), with "If <Configured chargingRateUnit> is
    # W, then the limit field will be multiplied by 1000":
    #   ChargePointMaxProfile: "duration 86400", "startPeriod 0, limit 10"
    #   TxDefaultProfile: "duration 300", "startPeriod 0,60,120,180,260, limit 6,10,8,15,8"
    #   TxProfile: "duration 260", "startPeriod 0,50,140,200,240, limit 8,11,16,6,12"
    #   (both "validTo <current dateTime - <Configured max time deviation> + 401 seconds>")
    # Expected, "duration 400": "startPeriod 0, limit 8 / startPeriod (50 - x), limit 10 /
    # startPeriod (200 - x), limit 6 / startPeriod (240 - x), limit 10", where x is the time
    # between setting the profiles and scheduleStart. After 260 s the TxProfile's schedule has
    # ended yet it still overrules TxDefaultProfile (§3.13.1), so 10 (ChargePointMax) holds.
    installed = tc_066_installed(scale, unit)
    start = T0 + timedelta(seconds=x)
    expected = [(0, 8), (50 - x, 10), (200 - x, 6), (240 - x, 10)]
    got = composite(installed, start, 400, unit, now_transaction_id=42)
    assert got == [(offset, limit * scale) for offset, limit in expected]


def test_composite_change_within_a_second_is_reported_at_the_next_whole_second():
    installed = tc_066_installed(1, A)
    start = T0 + timedelta(milliseconds=250)  # TC_066 with x = 0.25 s
    assert composite(installed, start, 400) == [(0, 8), (50, 10), (200, 6), (240, 10)]


def test_clear_charging_profile_octt_tc_067():
    # OCTT TC_067_CS "Clear Charging Profile" (Table 83): profile 1 TxDefaultProfile stackLevel 1,
    # "duration 400", "startPeriod 0,60,200, limit 6,8,10"; profile 2 TxDefaultProfile stackLevel 0,
    # "duration 400", "startPeriod 0,100, limit 7,9"; profile 3 ChargePointMaxProfile,
    # "duration 86400", "startPeriod 0,200, limit 11,12". Step 1 clears "the chargingProfileId from
    # the first ChargingProfile" and expects "startPeriod 0, limit 7 / startPeriod (100 - x),
    # limit 9"; step 5 clears by "purpose" and "stackLevel from the second ChargingProfile" and
    # expects "startPeriod 0, limit 11 / startPeriod (200 - x), limit 12"; step 9 clears with "All
    # fields are omitted" and expects "startPeriod 0, limit <The local limit of the Charging
    # Station>". Every composite has "duration 350".
    window = {"valid_from": T0, "valid_to": T0 + timedelta(seconds=401)}
    installed = InstalledProfiles()
    installed.install(
        1, absolute(1, DEFAULT, [(0, 6), (60, 8), (200, 10)], stack_level=1, duration=400)
    )
    installed.install(1, absolute(2, DEFAULT, [(0, 7), (100, 9)], duration=400, **window))
    installed.install(0, absolute(3, MAX, [(0, 11), (200, 12)], duration=86400, **window))
    local_limit = 16.0

    assert installed.clear(profile_id=1)
    assert composite(installed, T0, 350, max_limit=local_limit) == [(0, 7), (100, 9)]
    assert installed.clear(purpose=DEFAULT, stack_level=0)
    assert composite(installed, T0, 350, max_limit=local_limit) == [(0, 11), (200, 12)]
    assert installed.clear()
    assert composite(installed, T0, 350, max_limit=local_limit) == [(0, local_limit)]
    assert installed.profiles() == []


def test_tx_profile_overrules_tx_default_even_when_higher():
    # §3.13.1: "If a transaction-specific profile with purpose TxProfile is present, it SHALL
    # overrule the default charging profile with purpose TxDefaultProfile for the duration of the
    # current transaction only." Overrule, not take the minimum: 20 A beats the default's 8 A.
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 8)]))
    tx = absolute(2, TX, [(0, 20)], valid_to=T0 + timedelta(hours=1))
    installed.install(1, tx, active_transaction_id=5)
    assert composite(installed, T0, 2 * HOUR) == [(0, 20), (3600, 8)]


def test_charge_point_max_caps_the_transaction_limit():
    # §3.13.3: "This Composite Schedule is calculated by taking the minimum value for each time
    # interval."
    installed = InstalledProfiles()
    installed.install(0, absolute(1, MAX, [(0, 16), (HOUR, 32)]))
    installed.install(1, absolute(2, TX, [(0, 25)]), active_transaction_id=5)
    assert composite(installed, T0, 2 * HOUR) == [(0, 16), (3600, 25)]


def test_relative_tx_profile_counts_from_transaction_start():
    # §7.9: "Relative: Schedule periods are relative to a situation-specific start point (such as
    # the start of a Transaction) that is determined by the charge point." The transaction started
    # 10 minutes before the request: the 16 A period at 1800 s begins 1200 s into the window.
    relative = ChargingProfile(1, 0, TX, ProfileKind.RELATIVE, schedule([(0, 10), (1800, 16)]))
    installed = InstalledProfiles()
    installed.install(1, relative, active_transaction_id=9)
    started = T0 - timedelta(minutes=10)
    assert composite(installed, T0, HOUR, transaction_start=started) == [(0, 10), (1200, 16)]
    assert limit_at(installed, 1, T0 + timedelta(seconds=1199), A, transaction_start=started) == 10
    assert limit_at(installed, 1, T0 + timedelta(seconds=1200), A, transaction_start=started) == 16


def test_relative_default_profile_without_transaction_counts_from_window_start():
    # Without a transaction the charge point reports the schedule a transaction starting now would
    # get (the start point "is determined by the charge point", §7.9).
    relative = ChargingProfile(1, 0, DEFAULT, ProfileKind.RELATIVE, schedule([(0, 10), (1800, 16)]))
    installed = InstalledProfiles()
    installed.install(0, relative)
    assert composite(installed, T0, HOUR) == [(0, 10), (1800, 16)]
    assert limit_at(installed, 1, T0, A) == 10


def test_tx_default_on_connector_0_applies_to_all_and_connector_profile_replaces_it_there():
    # §3.13.1: "If TxDefaultProfile is set to ConnectorId 0, the TxDefaultProfile is applicable to
    # all Connectors." ... "In the event a TxDefaultProfile for connector 0 is installed, and the
    # Central System sends a new profile with ConnectorId >0, the TxDefaultProfile SHALL be
    # replaced only for that specific connector."
    installed = InstalledProfiles()
    installed.install(0, absolute(1, DEFAULT, [(0, 10)]))
    assert composite(installed, T0, HOUR, connector_id=1) == [(0, 10)]
    assert composite(installed, T0, HOUR, connector_id=2) == [(0, 10)]

    assert installed.install(2, absolute(2, DEFAULT, [(0, 6)])) == "Accepted"
    assert composite(installed, T0, HOUR, connector_id=1) == [(0, 10)]
    assert composite(installed, T0, HOUR, connector_id=2) == [(0, 6)]
    assert [(connector, p.id) for connector, p in installed.profiles()] == [(0, 1), (2, 2)]


def test_connector_0_composite_is_the_charge_point_max_profile():
    # §3.13.3: "the limit value of ChargePointMaxProfile is the limit for all connectors combined";
    # §5.7: for connector 0 "the total expected power or current the Charge Point expects to
    # consume from the grid". A TxDefaultProfile limits each connector, not the total.
    installed = InstalledProfiles()
    installed.install(0, absolute(1, MAX, [(0, 40), (HOUR, 20)]))
    installed.install(0, absolute(2, DEFAULT, [(0, 10)]))
    assert composite(installed, T0, 2 * HOUR, connector_id=0, max_limit=63) == [(0, 40), (3600, 20)]
    assert composite(installed, T0, 2 * HOUR, connector_id=1) == [(0, 10)]


def test_no_profile_reports_the_chargers_own_limit():
    # §3.13.6: "without having any charging profiles, then it SHALL execute a transaction as if no
    # constraints apply": the charger's own limit, 32 A per phase by default.
    installed = InstalledProfiles()
    assert composite(installed, T0, HOUR) == [(0, 32)]
    assert composite(installed, T0, HOUR, W) == [(0, 32 * 230 * 3)]
    assert composite(installed, T0, HOUR, W, max_limit=7400) == [(0, 7400)]
    assert limit_at(installed, 1, T0, A) is None
    assert limit_at(installed, 1, T0, A, max_limit=16) == 16


def test_composite_merges_neighbouring_periods_with_equal_limits():
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 10), (600, 10), (1200, 12), (1800, 12)]))
    assert composite(installed, T0, HOUR) == [(0, 10), (1200, 12)]


def test_composite_converts_mixed_units_with_each_periods_phases():
    # §7.12: 'The "Number of Phases" is the numberPhases from the ChargingSchedulePeriod.'
    installed = InstalledProfiles()
    installed.install(0, absolute(1, MAX, [(0, 11040)], unit=W))  # 16 A on 3 phases at 230 V
    installed.install(1, absolute(2, DEFAULT, [(0, 3680), (HOUR, 20_000)], unit=W, phases=1))
    # 3680 W on one phase is 16 A; 20 000 W on one phase is 86.9 A, capped at ChargePointMax 16 A.
    assert composite(installed, T0, 2 * HOUR, A) == [(0, 16)]
    assert composite(installed, T0, 2 * HOUR, W) == [(0, 3680), (3600, 11040)]


def test_composite_ignores_tx_profiles_of_another_transaction():
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 10)]))
    installed.install(1, absolute(2, TX, [(0, 20)]), active_transaction_id=5)
    assert composite(installed, T0, HOUR, now_transaction_id=5) == [(0, 20)]
    assert composite(installed, T0, HOUR, now_transaction_id=6) == [(0, 10)]


# --- install rules --------------------------------------------------------------------------------


def test_charge_point_max_profile_only_on_connector_0():
    # §3.13.1: "ChargePointMaxProfile can only be set at Charge Point ConnectorId 0."
    installed = InstalledProfiles()
    assert installed.install(1, absolute(1, MAX, [(0, 32)])) == "Rejected"
    assert installed.install(0, absolute(1, MAX, [(0, 32)])) == "Accepted"


def test_tx_profile_only_on_a_connector_with_an_active_transaction():
    # §3.13.1: "TxProfile SHALL only be set at Charge Point ConnectorId >0." and "If there is no
    # transaction active on the connector specified in a charging profile of type TxProfile, then
    # the Charge Point SHALL discard it and return an error status" (OCTT TC_058_1_CS: Rejected).
    installed = InstalledProfiles()
    assert installed.install(0, absolute(1, TX, [(0, 16)]), active_transaction_id=5) == "Rejected"
    assert installed.install(1, absolute(1, TX, [(0, 16)])) == "Rejected"
    assert installed.profiles() == []
    assert installed.refusal(1, absolute(1, TX, [(0, 16)])) == (
        "a TxProfile needs an active transaction on its connector (§3.13.1)"
    )


def test_tx_profile_for_another_transaction_is_rejected():
    # OCTT TC_058_2_CS "Wrong transactionId": "The transactionId does NOT equal the transactionId
    # from step 6." ... "status is Rejected".
    installed = InstalledProfiles()
    wrong = absolute(1, TX, [(0, 16)], transaction_id=4)
    assert installed.install(1, wrong, active_transaction_id=5) == "Rejected"


def test_tx_profile_is_bound_to_the_active_transaction_and_removed_when_it_ends():
    # §7.10 TxProfile: "A profile with this purpose SHALL cease to be valid when the transaction
    # terminates." §5.16.2: a profile from RemoteStartTransaction carries no transactionId.
    installed = InstalledProfiles()
    installed.install(0, absolute(1, DEFAULT, [(0, 10)]))
    assert installed.install(1, absolute(2, TX, [(0, 16)]), active_transaction_id=5) == "Accepted"
    assert installed.install(2, absolute(3, TX, [(0, 12)]), active_transaction_id=6) == "Accepted"
    assert [p.transaction_id for _, p in installed.profiles()] == [None, 5, 6]

    installed.transaction_ended(1)
    assert [(connector, p.id) for connector, p in installed.profiles()] == [(0, 1), (2, 3)]
    assert composite(installed, T0, HOUR, connector_id=1) == [(0, 10)]


def test_same_id_replaces_wherever_it_was_installed():
    # §5.16.3: "If a charging profile with the same chargingProfileId ... exists on the Charge
    # Point, the new charging profile SHALL replace the existing charging profile".
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 10)]))
    installed.install(2, absolute(1, DEFAULT, [(0, 6)], stack_level=3))
    assert [(connector, p.stack_level) for connector, p in installed.profiles()] == [(2, 3)]


def test_same_stack_level_and_purpose_on_the_same_connector_replaces():
    # §3.13.2: "Whenever a Charge Point receives a Charging Profile with a stackLevel and Purpose
    # that already exists in the Charge Point, the Charge Point SHALL replace the existing profile."
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 10)], stack_level=2))
    installed.install(2, absolute(2, DEFAULT, [(0, 10)], stack_level=2))  # other connector: kept
    installed.install(0, absolute(3, MAX, [(0, 10)], stack_level=2))  # other purpose: kept
    installed.install(1, absolute(4, DEFAULT, [(0, 6)], stack_level=2))
    assert sorted(p.id for _, p in installed.profiles()) == [2, 3, 4]


def test_configuration_key_limits_reject_profiles():
    # §9.4: ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods, MaxChargingProfilesInstalled,
    # ChargingScheduleAllowedChargingRateUnit.
    installed = InstalledProfiles(max_stack_level=2, max_periods=2, max_profiles=2, rate_units=[A])
    assert installed.install(1, absolute(1, DEFAULT, [(0, 6)], stack_level=3)) == "Rejected"
    assert installed.install(1, absolute(1, DEFAULT, [(0, 6), (60, 8), (120, 6)])) == "Rejected"
    assert installed.install(1, absolute(1, DEFAULT, [(0, 4000)], unit=W)) == "Rejected"
    assert installed.install(1, absolute(1, DEFAULT, [(0, 6)])) == "Accepted"
    assert installed.install(1, absolute(2, DEFAULT, [(0, 6)], stack_level=1)) == "Accepted"
    assert installed.install(1, absolute(3, DEFAULT, [(0, 6)], stack_level=2)) == "Rejected"
    assert installed.install(1, absolute(2, DEFAULT, [(0, 8)], stack_level=1)) == "Accepted"
    third = absolute(3, DEFAULT, [(0, 6)], stack_level=2)
    assert installed.refusal(1, third) == "MaxChargingProfilesInstalled 2 reached"
    watts = absolute(1, DEFAULT, [(0, 4000)], unit=W)
    assert installed.refusal(1, watts) == "chargingRateUnit W is not supported"


def test_install_with_now_forgets_expired_profiles():
    installed = InstalledProfiles()
    installed.install(1, absolute(1, DEFAULT, [(0, 6)], valid_to=T0 + timedelta(hours=1)))
    installed.install(1, absolute(2, DEFAULT, [(0, 6)], stack_level=1))
    installed.install(1, absolute(3, DEFAULT, [(0, 6)], stack_level=2), now=T0 + timedelta(hours=1))
    assert [p.id for _, p in installed.profiles()] == [2, 3]


# --- ClearChargingProfile (errata 3.25, 3.26) -----------------------------------------------------


def clear_fixture() -> InstalledProfiles:
    installed = InstalledProfiles()
    installed.install(0, absolute(1, MAX, [(0, 32)]))
    installed.install(0, absolute(2, DEFAULT, [(0, 10)]))
    installed.install(1, absolute(3, DEFAULT, [(0, 10)]))
    installed.install(1, absolute(4, DEFAULT, [(0, 10)], stack_level=1))
    installed.install(2, absolute(5, DEFAULT, [(0, 10)], stack_level=1))
    return installed


@pytest.mark.parametrize(
    ("criteria", "left"),
    [
        # "If id is specified, then all other fields are ignored."
        ({"profile_id": 3, "connector_id": 2, "purpose": MAX}, [1, 2, 4, 5]),
        # "clear all ChargingProfiles that match (logical AND) all of the provided fields."
        ({"connector_id": 1}, [1, 2, 5]),
        ({"connector_id": 0, "purpose": DEFAULT}, [1, 3, 4, 5]),
        ({"purpose": DEFAULT, "stack_level": 1}, [1, 2, 3]),
        ({"connector_id": 1, "stack_level": 1}, [1, 2, 3, 5]),
        # "If no fields are provided, then all charging profiles will be cleared."
        ({}, []),
    ],
)
def test_clear_charging_profile_matching(criteria: dict[str, Any], left: list[int]):
    installed = clear_fixture()
    assert installed.clear(**criteria) is True
    assert [p.id for _, p in installed.profiles()] == left


def test_clear_charging_profile_with_no_match_is_unknown():
    # §7.21 ClearChargingProfileStatus: "Unknown: No Charging Profile(s) were found matching".
    installed = clear_fixture()
    assert installed.clear(profile_id=99) is False
    assert installed.clear(connector_id=2, purpose=MAX) is False
    assert len(installed.profiles()) == 5
    assert InstalledProfiles().clear() is False


# --- units ----------------------------------------------------------------------------------------


def test_conversion_between_amps_and_watts():
    # §7.12: "Current per phase = Power / (Line Voltage * Number of Phases)".
    assert to_watts(16, A, 3, 230) == 11040
    assert to_watts(16, A, 1, 230) == 3680
    assert to_watts(16, A, 3, 120) == 5760
    assert to_amps(11040, W, 3, 230) == pytest.approx(16)
    assert to_amps(11000, W, 3, 230) == pytest.approx(15.942, abs=1e-3)
    assert to_amps(3680, W, 1, 230) == pytest.approx(16)
    assert to_amps(16, A, 1, 230) == 16  # errata 3.34: an A limit is used "as is given"
    assert to_watts(7400, W, 1, 230) == 7400
    with pytest.raises(Invalid):
        to_amps(1000, W, 0, 230)


# --- OCPP payloads --------------------------------------------------------------------------------
TX_PAYLOAD = {
    "chargingProfileId": 12,
    "transactionId": 42,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Absolute",
    "validFrom": "2025-03-14T12:00:00Z",
    "validTo": "2025-03-14T12:06:41+00:00",
    "chargingSchedule": {
        "duration": 260,
        "startSchedule": "2025-03-14T13:00:00+01:00",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 8},
            {"startPeriod": 50, "limit": 11.5, "numberPhases": 1},
        ],
        "minChargingRate": 6.1,
    },
}
RELATIVE_PAYLOAD = {
    "chargingProfileId": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
    },
}


def test_parse_tx_profile():
    profile = parse_profile(TX_PAYLOAD, connector_id=1)
    assert profile == ChargingProfile(
        12,
        1,
        TX,
        ProfileKind.ABSOLUTE,
        ChargingSchedule(
            A,
            (SchedulePeriod(0, 8), SchedulePeriod(50, 11.5, 1)),
            duration=260,
            start_schedule=T0,
            min_charging_rate=6.1,
        ),
        valid_from=T0,
        valid_to=T0 + timedelta(seconds=401),
        transaction_id=42,
    )
    assert profile.schedule.start_schedule is not None
    assert profile.schedule.start_schedule.tzinfo is UTC


@pytest.mark.parametrize("payload", [DAILY_EXAMPLE, TX_PAYLOAD, RELATIVE_PAYLOAD])
def test_round_trip_parse_to_ocpp_parse(payload: dict[str, Any]):
    profile = parse_profile(payload)
    assert parse_profile(profile_to_ocpp(profile)) == profile


@pytest.mark.parametrize("payload", [DAILY_EXAMPLE, TX_PAYLOAD, RELATIVE_PAYLOAD])
def test_profile_to_ocpp_validates_against_set_charging_profile_schema(payload: dict[str, Any]):
    wire = profile_to_ocpp(parse_profile(payload))
    validate_request("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": wire})
    for stamp in (wire.get("validFrom"), wire["chargingSchedule"].get("startSchedule")):
        assert stamp is None or stamp.endswith("Z")


def test_profile_to_ocpp_rounds_limits_down_to_one_decimal():
    profile = absolute(1, DEFAULT, [(0, 15.96), (60, 0.7), (120, 8.695652)])
    wire = profile_to_ocpp(profile)
    periods = wire["chargingSchedule"]["chargingSchedulePeriod"]
    assert [period["limit"] for period in periods] == [15.9, 0.7, 8.6]
    assert wire == {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 15.9},
                {"startPeriod": 60, "limit": 0.7},
                {"startPeriod": 120, "limit": 8.6},
            ],
            "startSchedule": "2025-03-14T12:00:00.000Z",
        },
    }


def test_composite_to_ocpp_is_a_valid_get_composite_schedule_conf():
    # Errata 3.57: in a GetCompositeSchedule.conf, chargingSchedule.startSchedule "must be
    # omitted"; the start is scheduleStart (§6.22).
    installed = daily_example_installed()
    result = composite_schedule(installed, 1, T0, 12 * HOUR, A)
    conf = composite_to_ocpp(1, result)
    validate_response("GetCompositeSchedule", conf)
    assert conf["scheduleStart"] == "2025-03-14T12:00:00.000Z"
    assert "startSchedule" not in conf["chargingSchedule"]
    assert conf["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 8.6},
        {"startPeriod": 8 * HOUR, "limit": 15.9},
    ]
    assert parse_composite(conf) == result
    assert parse_composite({"status": "Rejected"}) is None


def mutated(change: Any) -> dict[str, Any]:
    payload = copy.deepcopy(TX_PAYLOAD)
    change(payload)
    return payload


def periods_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return payload["chargingSchedule"]["chargingSchedulePeriod"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (mutated(lambda p: periods_of(p)[0].update(startPeriod=10)), "must have startPeriod 0"),
        (mutated(lambda p: periods_of(p)[1].update(startPeriod=0)), "must ascend"),
        (mutated(lambda p: periods_of(p).clear()), "at least one period"),
        (mutated(lambda p: periods_of(p)[1].update(limit=-1)), "limit must be a number >= 0"),
        (mutated(lambda p: periods_of(p)[1].update(limit="8")), "limit: expected a number"),
        (mutated(lambda p: periods_of(p)[1].update(numberPhases=4)), "numberPhases must be 1"),
        (mutated(lambda p: p["chargingSchedule"].update(chargingRateUnit="kW")), "one of A, W"),
        (mutated(lambda p: p["chargingSchedule"].pop("chargingRateUnit")), "chargingRateUnit is"),
        (mutated(lambda p: p["chargingSchedule"].update(duration=0)), "duration must be positive"),
        (mutated(lambda p: p["chargingSchedule"].pop("startSchedule")), "need chargingSchedule.st"),
        (mutated(lambda p: p.pop("chargingSchedule")), "chargingSchedule is required"),
        (mutated(lambda p: p.update(chargingSchedule=[])), "chargingSchedule must be an object"),
        (mutated(lambda p: p.update(stackLevel=-1)), "stackLevel must be >= 0"),
        (mutated(lambda p: p.update(stackLevel=1.5)), "stackLevel: expected an integer"),
        (mutated(lambda p: p.update(chargingProfilePurpose="Tx")), "ChargePointMaxProfile, TxDef"),
        (mutated(lambda p: p.update(chargingProfileKind="Recurring")), "needs recurrencyKind"),
        (mutated(lambda p: p.update(recurrencyKind="Daily")), "only allowed on Recurring"),
        (mutated(lambda p: p.update(chargingProfilePurpose="TxDefaultProfile")), "transactionId"),
        (mutated(lambda p: p.update(validTo="2025-03-14T11:00:00Z")), "validFrom must be before"),
        (mutated(lambda p: p.update(validFrom="yesterday")), "validFrom: Invalid isoformat"),
        (mutated(lambda p: p.update(chargingProfileKind="Relative")), "cannot have startSchedule"),
        ("not an object", "csChargingProfiles must be an object"),
    ],
)
def test_parse_errors(payload: Any, message: str):
    with pytest.raises(Invalid, match=message):
        parse_profile(payload)


@pytest.mark.parametrize(
    ("connector_id", "payload", "message"),
    [
        (0, TX_PAYLOAD, "a TxProfile can only be set on a connector > 0"),
        (
            2,
            {**RELATIVE_PAYLOAD, "chargingProfilePurpose": "ChargePointMaxProfile"},
            "a ChargePointMaxProfile can only be set on connector 0",
        ),
        (-1, RELATIVE_PAYLOAD, "connector id must not be negative"),
    ],
)
def test_parse_errors_for_the_connector(connector_id: int, payload: dict[str, Any], message: str):
    with pytest.raises(Invalid, match=message):
        parse_profile(payload, connector_id=connector_id)
