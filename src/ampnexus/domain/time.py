"""Time helpers: AmpNexus stores and computes in UTC and shows `Z` at the edges."""

from __future__ import annotations

from datetime import UTC, datetime
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
    return utc(datetime.fromisoformat(text))


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, millisecond precision, as OCPP-J expects."""
    return utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
