"""Chargers' security events and certificate signing requests (OCPP security extension)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, Row, func, insert, select, update

from ampnexus.domain.events import SecurityEventReported
from ampnexus.domain.security import SecurityEvent, SigningRecord, SigningState
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.feed import feed_rows
from ampnexus.store.tables import certificate_signings, security_events


class SqlSecurityStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_event(self, event: SecurityEvent) -> int:
        """Stored with its public event, in one transaction."""
        values = {
            "charge_point_id": event.charge_point_id,
            "type": event.type,
            "timestamp": event.timestamp,
            "tech_info": event.tech_info,
            "received_at": event.received_at,
        }
        reported = SecurityEventReported(
            event.charge_point_id,
            event.type,
            event.timestamp,
            event.tech_info,
            event.critical,
            event.received_at,
        )

        def work(conn: Connection) -> int:
            return _new_id(conn.execute(insert(security_events).values(values)))

        return await self._db.write(work, lambda _: feed_rows([reported]))

    async def events(self, charge_point_id: str, limit: int, offset: int) -> Page[SecurityEvent]:
        where = security_events.c.charge_point_id == charge_point_id

        def work(conn: Connection) -> Page[SecurityEvent]:
            total = conn.scalar(select(func.count()).select_from(security_events).where(where))
            rows = conn.execute(
                select(security_events)
                .where(where)
                .order_by(security_events.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_event(row) for row in rows], total or 0)

        return await self._db.read(work)

    async def add_signing(
        self,
        charge_point_id: str,
        csr: str,
        state: SigningState,
        problem: str | None,
        at: datetime,
    ) -> int:
        values = {
            "charge_point_id": charge_point_id,
            "state": state.value,
            "received_at": at,
            "csr": csr,
            "problem": problem,
        }

        def work(conn: Connection) -> int:
            return _new_id(conn.execute(insert(certificate_signings).values(values)))

        return await self._db.write(work)

    async def update_signing(self, signing_id: int, changes: dict[str, Any]) -> None:
        values = {k: (v.value if isinstance(v, SigningState) else v) for k, v in changes.items()}
        await self._db.write(
            lambda conn: conn.execute(
                update(certificate_signings)
                .where(certificate_signings.c.id == signing_id)
                .values(values)
            )
        )

    async def signing(self, signing_id: int) -> SigningRecord | None:
        def work(conn: Connection) -> SigningRecord | None:
            row = conn.execute(
                select(certificate_signings).where(certificate_signings.c.id == signing_id)
            ).first()
            return _signing(row) if row is not None else None

        return await self._db.read(work)

    async def signings(self, charge_point_id: str, limit: int, offset: int) -> Page[SigningRecord]:
        where = certificate_signings.c.charge_point_id == charge_point_id

        def work(conn: Connection) -> Page[SigningRecord]:
            count = select(func.count()).select_from(certificate_signings).where(where)
            rows = conn.execute(
                select(certificate_signings)
                .where(where)
                .order_by(certificate_signings.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_signing(row) for row in rows], conn.scalar(count) or 0)

        return await self._db.read(work)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _event(row: Row[Any]) -> SecurityEvent:
    return SecurityEvent(
        charge_point_id=row.charge_point_id,
        type=row.type,
        timestamp=row.timestamp,
        tech_info=row.tech_info,
        received_at=row.received_at,
        id=row.id,
    )


def _signing(row: Row[Any]) -> SigningRecord:
    return SigningRecord(
        id=row.id,
        charge_point_id=row.charge_point_id,
        state=SigningState(row.state),
        received_at=row.received_at,
        csr=row.csr,
        problem=row.problem,
        certificate_chain=row.certificate_chain,
        charger_status=row.charger_status,
        answered_at=row.answered_at,
    )
