"""A clock the test sets and moves by hand, so time-dependent rules are tested without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# A Monday, so weekday rules (tariff bands) read plainly; 10:00 UTC, before the default
# departure of 18:00 in Europe/London.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by `by` or by timedelta(**parts), e.g. advance(seconds=9.9)."""
        step = by if by is not None else timedelta(**parts)
        if step < timedelta(0):
            raise ValueError("a clock does not run backwards; use set()")
        self._now += step
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the services compute in UTC: give an aware datetime")
        self._now = moment
