"""Alerts in SQL: one open row per key, counted while it stays open."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from ampnexus.domain.alert import Alert, AlertKey, AlertKind, Severity
from ampnexus.services.feed import Announce
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.feed import announced
from ampnexus.store.tables import alerts


class SqlAlertStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def raise_alert(
        self,
        key: AlertKey,
        severity: Severity,
        message: str,
        details: dict[str, Any],
        at: datetime,
        occurrences: int = 1,
        announce: Announce[Alert] | None = None,
    ) -> Alert:
        def work(conn: Connection) -> Alert:
            open_id = conn.execute(select(alerts.c.id).where(*_open(key))).scalar()
            if open_id is None:
                open_id = conn.execute(
                    insert(alerts)
                    .values(
                        kind=key.kind.value,
                        charge_point_id=key.charge_point_id,
                        site_id=key.site_id,
                        severity=severity.value,
                        message=message,
                        details=details,
                        count=occurrences,
                        first_raised_at=at,
                        last_raised_at=at,
                    )
                    .returning(alerts.c.id)
                ).scalar_one()
            else:
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == open_id)
                    .values(
                        severity=severity.value,
                        message=message,
                        details=details,
                        count=alerts.c.count + occurrences,
                        last_raised_at=at,
                    )
                )
            return _alert(conn.execute(select(alerts).where(alerts.c.id == open_id)).one())

        return await self._db.write(work, announced(announce))

    async def resolve(self, key: AlertKey, at: datetime) -> bool:
        def work(conn: Connection) -> bool:
            resolved = conn.execute(update(alerts).where(*_open(key)).values(resolved_at=at))
            return resolved.rowcount > 0

        return await self._db.write(work)

    async def resolve_id(self, alert_id: int, at: datetime) -> Alert | None:
        def work(conn: Connection) -> Alert | None:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.resolved_at.is_(None))
                .values(resolved_at=at)
            )
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
            return _alert(row) if row else None

        return await self._db.write(work)

    async def get(self, alert_id: int) -> Alert | None:
        def work(conn: Connection) -> Alert | None:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
            return _alert(row) if row else None

        return await self._db.read(work)

    async def list(
        self,
        open_only: bool | None,
        kind: AlertKind | None,
        charge_point_id: str | None,
        site_id: str | None,
        limit: int,
        offset: int,
    ) -> Page[Alert]:
        conditions: list[Any] = []
        if open_only is not None:
            resolved = alerts.c.resolved_at
            conditions.append(resolved.is_(None) if open_only else resolved.is_not(None))
        if kind is not None:
            conditions.append(alerts.c.kind == kind.value)
        if charge_point_id is not None:
            conditions.append(alerts.c.charge_point_id == charge_point_id)
        if site_id is not None:
            conditions.append(alerts.c.site_id == site_id)

        def work(conn: Connection) -> Page[Alert]:
            total = conn.scalar(select(func.count()).select_from(alerts).where(*conditions))
            rows = conn.execute(
                select(alerts)
                .where(*conditions)
                .order_by(alerts.c.last_raised_at.desc(), alerts.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_alert(row) for row in rows], total or 0)

        return await self._db.read(work)


def _open(key: AlertKey) -> list[Any]:
    # `== None` compiles to IS NULL, so a key without a charger matches only such alerts.
    return [
        alerts.c.kind == key.kind.value,
        alerts.c.charge_point_id == key.charge_point_id,
        alerts.c.site_id == key.site_id,
        alerts.c.resolved_at.is_(None),
    ]


def _alert(row: Row[Any]) -> Alert:
    return Alert(
        id=row.id,
        key=AlertKey(AlertKind(row.kind), row.charge_point_id, row.site_id),
        severity=Severity(row.severity),
        message=row.message,
        first_raised_at=row.first_raised_at,
        last_raised_at=row.last_raised_at,
        count=row.count,
        details=row.details,
        resolved_at=row.resolved_at,
    )
