"""Chargers' local authorization lists in SQL: one row per charger, its entries as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from ampnexus.domain.errors import NotFound
from ampnexus.domain.id_tag import AuthorizationStatus, IdTagInfo
from ampnexus.domain.local_list import ListEntry, LocalList, UpdateStatus
from ampnexus.domain.time import utc
from ampnexus.store.database import Database
from ampnexus.store.tables import charge_points, local_lists
from ampnexus.store.upsert import upsert


class SqlLocalListStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, charge_point_id: str) -> LocalList | None:
        def work(conn: Connection) -> LocalList | None:
            row = conn.execute(
                select(local_lists).where(local_lists.c.charge_point_id == charge_point_id)
            ).first()
            return _record(row) if row else None

        return await self._db.read(work)

    async def put(self, record: LocalList) -> None:
        """NotFound if the charger is gone (deleted meanwhile)."""

        def work(conn: Connection) -> None:
            known = conn.scalar(
                select(charge_points.c.id).where(charge_points.c.id == record.charge_point_id)
            )
            if known is None:
                raise NotFound(f"charge point {record.charge_point_id!r} does not exist")
            upsert(conn, local_lists, {"charge_point_id": record.charge_point_id}, _values(record))

        await self._db.write(work)


def _values(record: LocalList) -> dict[str, Any]:
    return {
        "version": record.version,
        "held": None if record.held is None else [_entry_json(e) for e in record.held],
        "reported_version": record.reported_version,
        "reported_at": record.reported_at,
        "last_status": record.last_status and record.last_status.value,
        "problem": record.problem,
        "unsupported": record.unsupported,
        "max_length": record.max_length,
        "left_out": list(record.left_out),
        "updated_at": record.updated_at,
    }


def _record(row: Row[Any]) -> LocalList:
    return LocalList(
        charge_point_id=row.charge_point_id,
        version=row.version,
        held=None if row.held is None else tuple(_entry(item) for item in row.held),
        reported_version=row.reported_version,
        reported_at=row.reported_at,
        last_status=UpdateStatus(row.last_status) if row.last_status else None,
        problem=row.problem,
        unsupported=row.unsupported,
        max_length=row.max_length,
        left_out=tuple(row.left_out),
        updated_at=row.updated_at,
    )


def _entry_json(entry: ListEntry) -> dict[str, Any]:
    info = entry.info
    if info is None:
        return {"id_tag": entry.id_tag}
    expiry = info.expiry_date
    return {
        "id_tag": entry.id_tag,
        "status": info.status.value,
        "expiry_date": utc(expiry).isoformat() if expiry else None,  # exact: compared
        "parent_id_tag": info.parent_id_tag,
    }


def _entry(item: dict[str, Any]) -> ListEntry:
    if "status" not in item:
        return ListEntry(item["id_tag"], None)
    expiry = item.get("expiry_date")
    info = IdTagInfo(
        AuthorizationStatus(item["status"]),
        datetime.fromisoformat(expiry) if expiry else None,
        item.get("parent_id_tag"),
    )
    return ListEntry(item["id_tag"], info)
