"""Solar, carbon and site meter series: recording what a site reports, and reading it back
per planning slot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import SiteMeterRead
from ampnexus.domain.series import Point, SeriesKind, Slots, check_points, resample, value_at
from ampnexus.domain.time import Clock
from ampnexus.services.ports import EventPublisher, Page, SeriesStore, SiteStore


class SeriesService:
    def __init__(
        self,
        store: SeriesStore,
        sites: SiteStore,
        clock: Clock,
        events: EventPublisher | None = None,
    ) -> None:
        self._store = store
        self._sites = sites
        self._clock = clock
        self._events = events

    async def record(self, site_id: str, kind: SeriesKind, points: Sequence[Point]) -> int:
        await self._check_site(site_id)
        check_points(kind, points)
        await self._store.add(site_id, kind, points, self._clock.now())
        if kind is SeriesKind.SITE_METER and self._events is not None:
            newest = max(points, key=lambda point: point.timestamp)  # one pass, not a sort
            self._events.publish(
                SiteMeterRead(site_id, newest.value, newest.timestamp, self._clock.now())
            )
        return len(points)

    async def points(
        self,
        site_id: str,
        kind: SeriesKind,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> Page[Point]:
        await self._check_site(site_id)
        return await self._store.points(site_id, kind, start, end, limit, offset)

    async def resampled(
        self,
        site_id: str,
        kind: SeriesKind,
        grid: Slots,
        *,
        max_hold: timedelta | None = None,
        missing: float = 0.0,
    ) -> tuple[float, ...]:
        """One value per slot (see `domain.series.resample`)."""
        end = grid.start + timedelta(seconds=grid.slot_seconds * grid.count)
        points = await self._store.window(site_id, kind, grid.start, end)
        return resample(points, grid, max_hold=max_hold, missing=missing)

    async def latest(self, site_id: str, kind: SeriesKind, max_age: timedelta) -> float | None:
        """The value in force now, if reported within `max_age` (e.g. the live meter)."""
        now = self._clock.now()
        points = await self._store.window(site_id, kind, now - max_age, now + timedelta(seconds=1))
        return value_at(points, now, max_age)

    async def recent(self, site_id: str, kind: SeriesKind, since: datetime) -> list[Point]:
        """The points since `since` and the last one before it, however old (a meter that
        stopped reporting still says what it last saw), oldest first."""
        now = self._clock.now()
        return await self._store.window(site_id, kind, since, now + timedelta(seconds=1))

    async def _check_site(self, site_id: str) -> None:
        if await self._sites.get(site_id) is None:
            raise NotFound(f"site {site_id!r} does not exist")
