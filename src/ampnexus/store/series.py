"""Solar, carbon and site meter points in SQL: appended, never updated. Of points with the
same timestamp the newest (highest id) is the one in force."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from ampnexus.domain.series import Point, SeriesKind
from ampnexus.services.ports import Page
from ampnexus.store.bulk import Bulk
from ampnexus.store.database import Database
from ampnexus.store.tables import series_points

SERIES_ROWS = Bulk(series_points, ("site_id", "kind", "timestamp", "value", "received_at"))


class SqlSeriesStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, site_id: str, kind: SeriesKind, points: Sequence[Point], at: datetime
    ) -> None:
        rows = [(site_id, kind.value, point.timestamp, point.value, at) for point in points]
        await self._db.append(SERIES_ROWS, rows)

    async def points(
        self,
        site_id: str,
        kind: SeriesKind,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> Page[Point]:
        conditions = _of(site_id, kind)
        if start is not None:
            conditions.append(series_points.c.timestamp >= start)
        if end is not None:
            conditions.append(series_points.c.timestamp < end)
        newest = (
            select(func.max(series_points.c.id))
            .where(*conditions)
            .group_by(series_points.c.timestamp)
            .scalar_subquery()
        )

        def work(conn: Connection) -> Page[Point]:
            total = conn.scalar(
                select(func.count(func.distinct(series_points.c.timestamp))).where(*conditions)
            )
            rows = conn.execute(
                select(series_points.c.timestamp, series_points.c.value)
                .where(series_points.c.id.in_(newest))
                .order_by(series_points.c.timestamp)
                .limit(limit)
                .offset(offset)
            )
            return Page([Point(row.timestamp, row.value) for row in rows], total or 0)

        return await self._db.read(work)

    async def window(
        self, site_id: str, kind: SeriesKind, start: datetime, end: datetime
    ) -> list[Point]:
        columns = (series_points.c.timestamp, series_points.c.value)

        def work(conn: Connection) -> list[Point]:
            before = conn.execute(
                select(*columns)
                .where(*_of(site_id, kind), series_points.c.timestamp < start)
                .order_by(series_points.c.timestamp.desc(), series_points.c.id.desc())
                .limit(1)
            ).all()
            inside = conn.execute(
                select(*columns)
                .where(
                    *_of(site_id, kind),
                    series_points.c.timestamp >= start,
                    series_points.c.timestamp < end,
                )
                .order_by(series_points.c.timestamp, series_points.c.id)
            ).all()
            return [Point(row.timestamp, row.value) for row in [*before, *inside]]

        return await self._db.read(work)


def _of(site_id: str, kind: SeriesKind) -> list[ColumnElement[Any]]:
    return [series_points.c.site_id == site_id, series_points.c.kind == kind.value]
