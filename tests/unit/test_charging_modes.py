"""Charging modes as data: weekly windows in site-local time (across BST/GMT changes), the
settings of regulation and schedule modes, and which mode a charger is in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ampnexus.domain.charging_mode import (
    DEFAULT_PEAK_WINDOWS,
    ChargingMode,
    InsecureCharger,
    ModeChoice,
    ModeSetting,
    ModeSource,
    RegulationSettings,
    ScheduleSettings,
    WeeklyWindow,
    check_secure,
    covers,
    effective_mode,
    next_days,
    parse_window,
    settings_for,
    utc_intervals,
)
from ampnexus.domain.errors import Invalid
from ampnexus.domain.site import Site

LONDON = "Europe/London"
# 2026: clocks go forward on Sunday 29 March at 01:00 UTC, back on Sunday 25 October at 01:00.


def z(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- one window -----------------------------------------------------------------------------------
def test_a_window_covers_its_days_from_start_to_before_end() -> None:
    evening = parse_window(["mon", "fri"], "16:00", "22:00")
    assert evening.covers(datetime(2026, 3, 2, 16, 0))  # a Monday
    assert evening.covers(datetime(2026, 3, 6, 21, 59, 59))  # a Friday
    assert not evening.covers(datetime(2026, 3, 2, 22, 0))
    assert not evening.covers(datetime(2026, 3, 2, 15, 59))
    assert not evening.covers(datetime(2026, 3, 3, 17, 0))  # a Tuesday


def test_a_window_past_midnight_runs_into_the_next_day_and_sunday_into_monday() -> None:
    night = parse_window(["sun"], "23:00", "07:00")
    assert night.covers(datetime(2026, 3, 8, 23, 30))  # Sunday
    assert night.covers(datetime(2026, 3, 9, 6, 59))  # Monday morning
    assert not night.covers(datetime(2026, 3, 9, 7, 0))
    assert not night.covers(datetime(2026, 3, 8, 6, 0))  # Sunday morning: Saturday's night
    assert parse_window(["tue"], "00:00", "00:00").covers(datetime(2026, 3, 3, 23, 59))


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        ([], "08:00", "11:00", "one or more days"),
        (["mon", "funday"], "08:00", "11:00", "funday"),
        (["mon"], "08:00:30", "11:00", "whole minutes"),
    ],
)
def test_a_window_refuses_what_is_not_a_window(
    days: list[str], start: str, end: str, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        parse_window(days, start, end)


# --- windows as UTC intervals, across clock changes -----------------------------------------------
def test_the_default_peaks_move_an_hour_in_utc_when_the_clocks_go_forward() -> None:
    now = z(2026, 3, 26, 12, 0)  # Thursday, GMT
    assert next_days(DEFAULT_PEAK_WINDOWS, now, 7, LONDON) == [
        (z(2026, 3, 26, 16), z(2026, 3, 26, 22)),  # Thursday, GMT: as UTC
        (z(2026, 3, 27, 8), z(2026, 3, 27, 11)),
        (z(2026, 3, 27, 16), z(2026, 3, 27, 22)),
        (z(2026, 3, 30, 7), z(2026, 3, 30, 10)),  # Monday, BST: an hour earlier in UTC
        (z(2026, 3, 30, 15), z(2026, 3, 30, 21)),
        (z(2026, 3, 31, 7), z(2026, 3, 31, 10)),
        (z(2026, 3, 31, 15), z(2026, 3, 31, 21)),
        (z(2026, 4, 1, 7), z(2026, 4, 1, 10)),
        (z(2026, 4, 1, 15), z(2026, 4, 1, 21)),
        (z(2026, 4, 2, 7), z(2026, 4, 2, 10)),  # Thursday 12:00 UTC ends the 7 days
    ]


def test_the_default_peaks_move_back_when_the_clocks_go_back() -> None:
    now = z(2026, 10, 23, 12, 0)  # Friday, BST
    assert next_days(DEFAULT_PEAK_WINDOWS, now, 4, LONDON) == [
        (z(2026, 10, 23, 15), z(2026, 10, 23, 21)),  # Friday, BST
        (z(2026, 10, 26, 8), z(2026, 10, 26, 11)),  # Monday, GMT
        (z(2026, 10, 26, 16), z(2026, 10, 26, 22)),
        (z(2026, 10, 27, 8), z(2026, 10, 27, 11)),  # Tuesday 12:00 UTC ends the 4 days
    ]


def test_a_window_already_under_way_starts_now() -> None:
    assert next_days(DEFAULT_PEAK_WINDOWS, z(2026, 1, 5, 9, 30), 1, LONDON)[0] == (
        z(2026, 1, 5, 9, 30),
        z(2026, 1, 5, 11),
    )


def test_a_night_across_a_clock_change_is_as_long_as_the_wall_clock_says() -> None:
    night = [parse_window(["sat"], "23:00", "07:00")]
    spring = utc_intervals(night, z(2026, 3, 28), z(2026, 3, 30), LONDON)
    assert spring == [(z(2026, 3, 28, 23), z(2026, 3, 29, 6))]  # 7 hours
    autumn = utc_intervals(night, z(2026, 10, 24), z(2026, 10, 26), LONDON)
    assert autumn == [(z(2026, 10, 24, 22), z(2026, 10, 25, 7))]  # 9 hours


def test_a_skipped_hour_covers_nothing_and_a_repeated_hour_is_covered_twice() -> None:
    early = [parse_window(["sun"], "01:00", "02:00")]
    assert utc_intervals(early, z(2026, 3, 29), z(2026, 3, 30), LONDON) == []
    # 01:00 BST (00:00 UTC) to the second 02:00, GMT (02:00 UTC): the clock read 01:xx twice.
    assert utc_intervals(early, z(2026, 10, 25), z(2026, 10, 26), LONDON) == [
        (z(2026, 10, 25, 0), z(2026, 10, 25, 2))
    ]
    partly = [parse_window(["sun"], "01:30", "03:00")]  # the clock jumps 01:00 -> 02:00
    assert utc_intervals(partly, z(2026, 3, 29), z(2026, 3, 30), LONDON) == [
        (z(2026, 3, 29, 1), z(2026, 3, 29, 2))
    ]


@pytest.mark.parametrize(
    ("zone", "start"),
    [(LONDON, z(2026, 3, 23)), (LONDON, z(2026, 10, 19)), ("America/New_York", z(2026, 3, 5))],
)
def test_intervals_hold_exactly_the_instants_whose_wall_clock_is_covered(
    zone: str, start: datetime
) -> None:
    windows = [
        *DEFAULT_PEAK_WINDOWS,
        parse_window(["sat", "sun"], "23:30", "02:30"),
        parse_window(["sun"], "01:15", "01:45"),
    ]
    end = start + timedelta(days=14)
    intervals = utc_intervals(windows, start, end, zone)
    moment = start
    while moment < end:
        inside = any(a <= moment < b for a, b in intervals)
        assert inside == covers(windows, moment, zone), moment
        moment += timedelta(minutes=5)
    for a, b in intervals:  # and the ends are exact (but for those clipped to [start, end))
        assert covers(windows, a, zone) and covers(windows, b - timedelta(seconds=1), zone)
        assert b == end or not covers(windows, b, zone)
        assert a == start or not covers(windows, a - timedelta(seconds=1), zone)


def test_covers_reads_the_site_clock_for_any_offset() -> None:
    assert covers(DEFAULT_PEAK_WINDOWS, z(2026, 6, 1, 15, 30), ZoneInfo(LONDON))  # 16:30 BST
    assert not covers(DEFAULT_PEAK_WINDOWS, z(2026, 1, 5, 15, 30), LONDON)  # 15:30 GMT


# --- settings -------------------------------------------------------------------------------------
def test_regulation_defaults_are_the_regulations() -> None:
    settings = RegulationSettings()
    weekdays = frozenset(range(5))
    assert settings.peak_windows == (
        WeeklyWindow(weekdays, time(8), time(11)),
        WeeklyWindow(weekdays, time(16), time(22)),
    )
    assert (settings.random_delay_max_s, settings.charger_applies_delay) == (600, False)
    assert settings_for(ChargingMode.REGULATION_COMPLIANCE) == settings
    removed = settings_for(ChargingMode.REGULATION_COMPLIANCE, peak_windows=[])
    assert isinstance(removed, RegulationSettings) and removed.peak_windows == ()


@pytest.mark.parametrize("delay", [-1, 1801, 600.5, True])
def test_the_random_delay_is_whole_seconds_up_to_1800(delay: object) -> None:
    with pytest.raises(Invalid, match="random_delay_max_s"):
        RegulationSettings(random_delay_max_s=delay)  # type: ignore[arg-type]
    assert RegulationSettings(random_delay_max_s=1800).random_delay_max_s == 1800
    assert RegulationSettings(random_delay_max_s=0).random_delay_max_s == 0


def test_a_schedule_needs_windows_and_a_positive_energy() -> None:
    with pytest.raises(Invalid, match="at least one window"):
        ScheduleSettings(())
    with pytest.raises(Invalid, match="positive"):
        ScheduleSettings((parse_window(["mon"], "23:00", "07:00"),), energy_wh=0.0)


def test_settings_of_another_mode_are_refused() -> None:
    night = [parse_window(["mon"], "23:00", "07:00")]
    with pytest.raises(Invalid, match="windows do not apply to mode regulation_compliance"):
        settings_for(ChargingMode.REGULATION_COMPLIANCE, windows=night)
    with pytest.raises(Invalid, match="random_delay_max_s do not apply to mode smart"):
        settings_for(ChargingMode.SMART, random_delay_max_s=10)
    with pytest.raises(Invalid, match="at least one window"):
        settings_for(ChargingMode.SCHEDULE)
    with pytest.raises(Invalid, match="needs its settings"):
        ModeChoice(ChargingMode.SCHEDULE)
    with pytest.raises(Invalid, match="takes no settings"):
        ModeChoice(ChargingMode.SMART, RegulationSettings())
    with pytest.raises(Invalid, match="unknown charging mode 'eco'"):
        ModeChoice("eco")  # type: ignore[arg-type]


def test_schedule_cannot_be_a_site_default() -> None:
    with pytest.raises(Invalid, match="schedule cannot be a site's default_mode"):
        Site("s", "S", LONDON, default_mode=ChargingMode.SCHEDULE)
    site = Site("s", "S", LONDON, default_mode="user_controlled")  # type: ignore[arg-type]
    assert site.default_mode is ChargingMode.USER_CONTROLLED


# --- which mode a charger is in -------------------------------------------------------------------
AT = z(2026, 3, 2, 10)


def test_a_chargers_own_mode_comes_before_its_sites_and_smart_comes_last() -> None:
    own = ModeSetting("CP", ChargingMode.USER_CONTROLLED, None, "ops", AT)
    mine = effective_mode("CP", 1, own, "s", ChargingMode.PLUG_AND_CHARGE)
    assert (mine.mode, mine.source, mine.own) == (ChargingMode.USER_CONTROLLED, "charger", own)
    site = effective_mode("CP", 1, None, "s", ChargingMode.REGULATION_COMPLIANCE)
    assert (site.mode, site.source, site.settings) == (
        ChargingMode.REGULATION_COMPLIANCE,
        ModeSource.SITE,
        RegulationSettings(),
    )
    assert effective_mode("CP", 1, None, None, None).mode is ChargingMode.SMART


def test_an_insecure_charger_is_refused_regulation_mode_and_never_in_it() -> None:
    with pytest.raises(InsecureCharger, match="security profile 0"):
        check_secure("CP", 0, ChargingMode.REGULATION_COMPLIANCE)
    check_secure("CP", 0, ChargingMode.SMART)
    check_secure("CP", 1, ChargingMode.REGULATION_COMPLIANCE)
    via_site = effective_mode("CP", 0, None, "s", ChargingMode.REGULATION_COMPLIANCE)
    assert (via_site.mode, via_site.source) == (ChargingMode.SMART, ModeSource.DEFAULT)
    assert via_site.note is not None and "security profile 0" in via_site.note
