"""DataTransfer messages in both directions, kept for the vendor integrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert

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
