"""Charge points, their connectors and the status history, in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ampnexus.domain.charge_point import BootInfo, ChargePoint, Connector, RegistrationStatus
from ampnexus.domain.errors import Conflict
from ampnexus.services.ports import Page, StatusRecord
from ampnexus.store.bulk import Bulk
from ampnexus.store.database import Database
from ampnexus.store.feed import feed_rows
from ampnexus.store.tables import charge_points, connectors, status_notifications

_STATE = ("status", "error_code", "info", "vendor_id", "vendor_error_code", "timestamp")
_KEY = ("charge_point_id", "connector_id")
STATUS_HISTORY_ROWS = Bulk(status_notifications, (*_KEY, *_STATE, "received_at"))
CONNECTOR_STATE_ROWS = Bulk(connectors, (*_KEY, *_STATE, "updated_at"), conflict=_KEY)

_CHARGE_POINT_FIELDS = (
    "id",
    "security_profile",
    "password_hash",
    "description",
    "registration_status",
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
    "last_seen",
    "last_boot",
    "created_at",
)


class SqlChargePointStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, charge_point_id: str) -> ChargePoint | None:
        def work(conn: Connection) -> ChargePoint | None:
            row = conn.execute(
                select(charge_points).where(charge_points.c.id == charge_point_id)
            ).first()
            return _charge_point(row, _connectors(conn, [charge_point_id])) if row else None

        return await self._db.read(work)

    async def list(self, limit: int, offset: int) -> Page[ChargePoint]:
        def work(conn: Connection) -> Page[ChargePoint]:
            total = conn.scalar(select(func.count()).select_from(charge_points)) or 0
            rows = conn.execute(
                select(charge_points).order_by(charge_points.c.id).limit(limit).offset(offset)
            ).all()
            by_id = _connectors(conn, [row.id for row in rows])
            return Page([_charge_point(row, by_id) for row in rows], total)

        return await self._db.read(work)

    async def add(self, charge_point: ChargePoint) -> None:
        values = {name: getattr(charge_point, name) for name in _CHARGE_POINT_FIELDS}
        values["registration_status"] = charge_point.registration_status.value

        def work(conn: Connection) -> None:
            conn.execute(insert(charge_points).values(values))

        try:
            await self._db.write(work)
        except IntegrityError as error:
            raise Conflict(f"charge point {charge_point.id!r} is already registered") from error

    async def update(self, charge_point_id: str, changes: dict[str, Any]) -> None:
        values = {
            k: (v.value if isinstance(v, RegistrationStatus) else v) for k, v in changes.items()
        }
        await self._db.write(
            lambda conn: conn.execute(
                update(charge_points).where(charge_points.c.id == charge_point_id).values(values)
            )
        )

    async def delete(self, charge_point_id: str) -> bool:
        def work(conn: Connection) -> bool:
            conn.execute(delete(connectors).where(connectors.c.charge_point_id == charge_point_id))
            result = conn.execute(
                delete(charge_points).where(charge_points.c.id == charge_point_id)
            )
            return result.rowcount > 0

        return await self._db.write(work)

    async def record_boot(
        self, charge_point_id: str, boot: BootInfo, at: datetime, heartbeat_interval: int
    ) -> None:
        values = {
            "vendor": boot.vendor,
            "model": boot.model,
            "serial_number": boot.serial_number,
            "charge_box_serial_number": boot.charge_box_serial_number,
            "firmware_version": boot.firmware_version,
            "iccid": boot.iccid,
            "imsi": boot.imsi,
            "meter_type": boot.meter_type,
            "meter_serial_number": boot.meter_serial_number,
            "heartbeat_interval": heartbeat_interval,
            "last_boot": at,
            "last_seen": at,
        }
        await self._db.write(
            lambda conn: conn.execute(
                update(charge_points).where(charge_points.c.id == charge_point_id).values(values)
            )
        )

    async def record_status(
        self, charge_point_id: str, record: StatusRecord, events: Sequence[object] = ()
    ) -> None:
        c = record.connector
        state = (c.status, c.error_code, c.info, c.vendor_id, c.vendor_error_code, c.timestamp)
        # One row serves both: the history keeps it, the connector's state becomes it.
        row = (charge_point_id, c.connector_id, *state, record.received_at)
        await self._db.append_many(
            (STATUS_HISTORY_ROWS, [row]), (CONNECTOR_STATE_ROWS, [row]), *feed_rows(events)
        )

    async def record_last_seen(self, seen: dict[str, datetime]) -> None:
        rows = [{"key": charge_point_id, "at": at} for charge_point_id, at in seen.items()]
        statement = (
            update(charge_points)
            .where(charge_points.c.id == bindparam("key"))
            .values(last_seen=bindparam("at"))
        )
        # One executemany: thousands of chargers must not hold the writer for long.
        await self._db.write(lambda conn: conn.execute(statement, rows))

    async def status_history(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[StatusRecord]:
        def work(conn: Connection) -> Page[StatusRecord]:
            where = status_notifications.c.charge_point_id == charge_point_id
            total = conn.scalar(select(func.count()).where(where)) or 0
            rows = conn.execute(
                select(status_notifications)
                .where(where)
                .order_by(status_notifications.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            return Page([StatusRecord(_connector(row), row.received_at) for row in rows], total)

        return await self._db.read(work)


def _connectors(conn: Connection, ids: list[str]) -> dict[str, list[Connector]]:
    by_id: dict[str, list[Connector]] = {charge_point_id: [] for charge_point_id in ids}
    if not ids:
        return by_id
    rows = conn.execute(
        select(connectors)
        .where(connectors.c.charge_point_id.in_(ids))
        .order_by(connectors.c.charge_point_id, connectors.c.connector_id)
    )
    for row in rows:
        by_id[row.charge_point_id].append(_connector(row))
    return by_id


def _connector(row: Row[Any]) -> Connector:
    return Connector(
        connector_id=row.connector_id,
        status=row.status,
        error_code=row.error_code,
        info=row.info,
        vendor_id=row.vendor_id,
        vendor_error_code=row.vendor_error_code,
        timestamp=row.timestamp,
    )


def _charge_point(row: Row[Any], by_id: dict[str, list[Connector]]) -> ChargePoint:
    return ChargePoint(
        id=row.id,
        security_profile=row.security_profile,
        registration_status=RegistrationStatus(row.registration_status),
        description=row.description,
        password_hash=row.password_hash,
        vendor=row.vendor,
        model=row.model,
        serial_number=row.serial_number,
        firmware_version=row.firmware_version,
        charge_box_serial_number=row.charge_box_serial_number,
        iccid=row.iccid,
        imsi=row.imsi,
        meter_type=row.meter_type,
        meter_serial_number=row.meter_serial_number,
        last_seen=row.last_seen,
        last_boot=row.last_boot,
        created_at=row.created_at,
        connectors=tuple(by_id.get(row.id, ())),
        site_id=row.site_id,
        circuit_id=row.circuit_id,
    )
