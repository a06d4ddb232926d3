"""Time helpers: AmpNexus stores and computes in UTC and shows `Z` at the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """A timestamp without an offset is taken as UTC (what most chargers mean)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 / ISO 8601 with any offset (or none: UTC), `t` and `z` in either case.

    Raises ValueError for text that names no instant between the years 1 and 9999 in UTC
    (year 0, year 10000, 9999-12-31T23:59:59-14:00), so callers need catch nothing else.
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as refused:
        # Python 3.11 reads only the capitals RFC 3339 also allows in lower case; only a
        # text refused once pays for the second try.
        try:
            parsed = datetime.fromisoformat(text.upper())
        except ValueError:
            raise refused from None
    try:
        return utc(parsed)
    except OverflowError:
        raise ValueError(f"{text!r} lies beyond the years 1 to 9999 in UTC") from None


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, millisecond precision, as OCPP-J expects."""
    return utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far from the server's clock an instant a device reports may lie and still be
    believed: a charger whose clock never got set says 1970, a broken one says 2099."""

    ahead: timedelta = timedelta(days=1)
    behind: timedelta = timedelta(days=365)

    def contains(self, value: datetime, now: datetime) -> bool:
        return now - self.behind <= value <= now + self.ahead
