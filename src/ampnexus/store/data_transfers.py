"""DataTransfer messages in both directions, kept for the vendor integrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from ampnexus.domain.data_transfer import DataTransferRecord, Direction
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.tables import data_transfers


class SqlDataTransferStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        charge_point_id: str,
        direction: str,
        vendor_id: str,
        message_id: str | None,
        data: str | None,
        status: str | None,
        at: datetime,
    ) -> None:
        values = {
            "charge_point_id": charge_point_id,
            "direction": direction,
            "vendor_id": vendor_id,
            "message_id": message_id,
            "data": data,
            "status": status,
            "received_at": at,
        }
        await self._db.write(lambda conn: conn.execute(insert(data_transfers).values(values)))

    async def list(self, charge_point_id: str, limit: int, offset: int) -> Page[DataTransferRecord]:
        """Newest first: by id, the order they were recorded in."""
        where = data_transfers.c.charge_point_id == charge_point_id
        counted = select(func.count()).select_from(data_transfers).where(where)
        query = (
            select(data_transfers)
            .where(where)
            .order_by(data_transfers.c.id.desc())
            .limit(limit)
            .offset(offset)
        )

        def work(conn: Connection) -> Page[DataTransferRecord]:
            total = conn.scalar(counted) or 0
            return Page([_record(row) for row in conn.execute(query)], total)

        return await self._db.read(work)


def _record(row: Row[Any]) -> DataTransferRecord:
    return DataTransferRecord(
        id=row.id,
        charge_point_id=row.charge_point_id,
        direction=Direction(row.direction),
        vendor_id=row.vendor_id,
        message_id=row.message_id,
        data=row.data,
        status=row.status,
        at=row.received_at,
    )
