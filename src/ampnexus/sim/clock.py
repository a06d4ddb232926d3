"""Simulated time: a clock that tests and demos can run faster than real time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from ampnexus.domain.time import utc


class SimClock:
    """`speed` simulated seconds pass per real second, and sleeps shrink to match.

    It starts at the real time now (or at `start`), so the default is the real clock.
    Its `now()` satisfies `ampnexus.domain.time.Clock`, so a server can share it.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin = utc(start) if start is not None else datetime.now(UTC)
        self._real_origin = time.monotonic()

    def elapsed(self) -> float:
        """Simulated seconds since the clock was made."""
        return (time.monotonic() - self._real_origin) * self.speed

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=self.elapsed())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def sleep_until(self, moment: datetime) -> None:
        await self.sleep((moment - self.now()).total_seconds())

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait for `event` at most `seconds` of simulated time; True if it was set."""
        try:
            async with asyncio.timeout(max(0.0, seconds) / self.speed):
                await event.wait()
        except TimeoutError:
            return False
        return True
