"""The session forecast: same weekday of the previous weeks, scaled, moved onto the horizon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ampnexus.charging.forecast import PastSession, expected_sessions, history_start
from ampnexus.charging.model import Priority, Session

LONDON = ZoneInfo("Europe/London")
TUESDAY = datetime(2026, 6, 16, tzinfo=LONDON)  # local midnight


def past(
    name: str, arrival: datetime, hours: float = 4, kwh: float = 20, kw: float = 11
) -> PastSession:
    return PastSession(
        id=name,
        circuit_id="feeder",
        arrival=arrival,
        departure=arrival + timedelta(hours=hours),
        energy_wh=kwh * 1000,
        max_power_w=kw * 1000,
        phases=(2,),
        priority=Priority.PREMIUM,
    )


def forecast(
    history: list[PastSession], now: datetime, hours: float = 24, weeks: int = 4
) -> tuple[Session, ...]:
    return expected_sessions(
        history, now=now, horizon_end=now + timedelta(hours=hours), zone=LONDON, weeks=weeks
    )


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute)


def test_only_the_same_weekday_of_the_previous_weeks_is_forecast_scaled_by_the_weeks() -> None:
    history = [
        past("a", at(TUESDAY - timedelta(weeks=1), 8)),
        past("b", at(TUESDAY - timedelta(weeks=2), 9, 30), kwh=12, kw=7.4),
        past("monday", at(TUESDAY - timedelta(days=8), 8)),  # a Monday: another weekday
        past("too-old", at(TUESDAY - timedelta(weeks=3), 8)),  # beyond weeks=2
    ]
    expected = forecast(history, at(TUESDAY, 6), hours=12, weeks=2)
    assert [s.id for s in expected] == ["expected-1-a", "expected-2-b"]
    first, second = expected
    assert first.arrival == at(TUESDAY, 8) and first.departure == at(TUESDAY, 12)
    assert second.arrival == at(TUESDAY, 9, 30)
    assert (first.energy_wh, first.max_power_w) == (10_000, 5_500)
    assert (second.energy_wh, second.max_power_w) == (6_000, 3_700)
    assert all(s.expected and s.min_power_w == 0 for s in expected)
    # Where and how it charged carries over; an expected EV weighs a tenth of a real one.
    assert (first.circuit_id, first.phases, first.priority) == ("feeder", (2,), Priority.PREMIUM)
    assert first.unmet_weight == Priority.PREMIUM.unmet_weight * 0.1


def test_arrivals_before_now_or_after_the_horizon_are_dropped() -> None:
    last_week = TUESDAY - timedelta(weeks=1)
    history = [past(f"h{hour}", at(last_week, hour)) for hour in (7, 9, 10, 16)]
    expected = forecast(history, at(TUESDAY, 9), hours=6)  # 09:00 to 15:00
    # 09:00 is not after now: that EV would already be here (or known not to come).
    assert [s.id for s in expected] == ["expected-1-h10"]


def test_a_horizon_over_midnight_takes_each_date_from_its_own_weekday() -> None:
    history = [
        past("tuesday", at(TUESDAY - timedelta(weeks=1), 20)),
        past("wednesday", at(TUESDAY - timedelta(days=6), 7)),
        past("wednesday-late", at(TUESDAY - timedelta(days=6), 19)),
    ]
    expected = forecast(history, at(TUESDAY, 18), hours=24)
    assert {s.id: s.arrival for s in expected} == {
        "expected-1-tuesday": at(TUESDAY, 20),
        "expected-1-wednesday": at(TUESDAY + timedelta(days=1), 7),
    }


def test_local_clock_time_is_kept_across_a_daylight_saving_change() -> None:
    spring_sunday = datetime(2026, 3, 29, tzinfo=LONDON)  # clocks go forward at 01:00 UTC
    autumn_sunday = datetime(2026, 10, 25, tzinfo=LONDON)  # clocks go back at 01:00 UTC
    for sunday in (spring_sunday, autumn_sunday):
        week_before = (sunday - timedelta(weeks=1)).replace(hour=8)
        (expected,) = forecast([past("s", week_before)], sunday.replace(hour=3), hours=12)
        assert expected.arrival.astimezone(LONDON).hour == 8
        assert expected.departure.astimezone(LONDON).hour == 12
        # The same 08:00 local is an hour apart in UTC from the week before.
        shift = expected.arrival.astimezone(UTC) - week_before.astimezone(UTC)
        assert shift == timedelta(weeks=1) + (
            timedelta(hours=-1) if sunday == spring_sunday else timedelta(hours=1)
        )


def test_no_weeks_means_no_forecast() -> None:
    history = [past("a", at(TUESDAY - timedelta(weeks=1), 8))]
    assert forecast(history, at(TUESDAY, 6), weeks=1)
    assert forecast(history, at(TUESDAY, 6), weeks=0) == ()


def test_history_starts_at_local_midnight_the_given_weeks_back() -> None:
    now = datetime(2026, 6, 16, 23, 30, tzinfo=UTC)  # already Wednesday 00:30 in London
    start = history_start(now, LONDON, weeks=4)
    assert start == datetime(2026, 5, 20, tzinfo=LONDON)
    assert start.astimezone(UTC) == datetime(2026, 5, 19, 23, tzinfo=UTC)
