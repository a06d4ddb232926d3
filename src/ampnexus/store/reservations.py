"""Reservations in SQL. An active row past its expiry counts as expired in every read; the
sweep (`expire`) stores that later in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, or_, select, update

from ampnexus.domain.reservation import (
    NewReservation,
    Reservation,
    ReservationFilter,
    ReservationState,
    ReserveStatus,
)
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.tables import reservations

ACTIVE = ReservationState.ACTIVE.value


class SqlReservationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, new: NewReservation, at: datetime) -> Reservation:
        values = {
            "charge_point_id": new.charge_point_id,
            "connector_id": new.connector_id,
            "id_tag": new.id_tag,
            "parent_id_tag": new.parent_id_tag,
            "expires_at": new.expires_at,
            "state": ACTIVE,
            "created_at": at,
        }

        def work(conn: Connection) -> Reservation:
            new_id = conn.execute(
                insert(reservations).values(values).returning(reservations.c.id)
            ).scalar_one()
            return _reservation(_row(conn, new_id))

        return await self._db.write(work)

    async def get(self, reservation_id: int) -> Reservation | None:
        def work(conn: Connection) -> Reservation | None:
            row = conn.execute(
                select(reservations).where(reservations.c.id == reservation_id)
            ).first()
            return _reservation(row) if row else None

        return await self._db.read(work)

    async def answered(self, reservation_id: int, answer: ReserveStatus) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                update(reservations)
                .where(reservations.c.id == reservation_id)
                .values(answer=answer.value)
            )
        )

    async def end(
        self,
        reservation_id: int,
        state: ReservationState,
        reason: str,
        at: datetime,
        answer: ReserveStatus | None = None,
        transaction_id: int | None = None,
    ) -> Reservation | None:
        """Close it if it is still active (by its stored state: a transaction may use one
        whose expiry the charger's clock has not reached); None if it no longer was."""
        values: dict[str, Any] = {"state": state.value, "reason": reason, "ended_at": at}
        if answer is not None:
            values["answer"] = answer.value
        if transaction_id is not None:
            values["transaction_id"] = transaction_id

        def work(conn: Connection) -> Reservation | None:
            closed = conn.execute(
                update(reservations)
                .where(reservations.c.id == reservation_id, reservations.c.state == ACTIVE)
                .values(values)
            )
            return _reservation(_row(conn, reservation_id)) if closed.rowcount else None

        return await self._db.write(work)

    async def active_on(
        self, charge_point_ids: Sequence[str], now: datetime
    ) -> Sequence[Reservation]:
        """The chargers' reservations in force now, oldest first."""
        if not charge_point_ids:
            return []

        def work(conn: Connection) -> list[Reservation]:
            rows = conn.execute(
                select(reservations)
                .where(
                    reservations.c.charge_point_id.in_(list(charge_point_ids)),
                    reservations.c.state == ACTIVE,
                    reservations.c.expires_at > now,
                )
                .order_by(reservations.c.id)
            )
            return [_reservation(row) for row in rows]

        return await self._db.read(work)

    async def reserved_chargers(self, now: datetime) -> set[str]:
        def work(conn: Connection) -> set[str]:
            rows = conn.execute(
                select(reservations.c.charge_point_id)
                .where(reservations.c.state == ACTIVE, reservations.c.expires_at > now)
                .distinct()
            )
            return {row.charge_point_id for row in rows}

        return await self._db.read(work)

    async def list(
        self, where: ReservationFilter, now: datetime, limit: int, offset: int
    ) -> Page[Reservation]:
        """Newest first."""
        conditions = _conditions(where, now)

        def work(conn: Connection) -> Page[Reservation]:
            total = conn.scalar(select(func.count()).select_from(reservations).where(*conditions))
            rows = conn.execute(
                select(reservations)
                .where(*conditions)
                .order_by(reservations.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_reservation(row) for row in rows], total or 0)

        return await self._db.read(work)

    async def expire(self, now: datetime) -> Sequence[Reservation]:
        """Store as expired every active reservation whose expiry date has passed; those."""
        due = and_(reservations.c.state == ACTIVE, reservations.c.expires_at <= now)

        def work(conn: Connection) -> list[Reservation]:
            rows = conn.execute(select(reservations).where(due)).all()
            if not rows:
                return []
            ids = [row.id for row in rows]
            conn.execute(
                update(reservations)
                .where(reservations.c.id.in_(ids), reservations.c.state == ACTIVE)
                .values(
                    state=ReservationState.EXPIRED.value,
                    reason="its expiry date passed unused",
                    ended_at=reservations.c.expires_at,
                )
            )
            fresh = conn.execute(select(reservations).where(reservations.c.id.in_(ids)))
            return [_reservation(row) for row in fresh]

        return await self._db.write(work)

    async def next_expiry(self) -> datetime | None:
        """The soonest expiry of an active reservation (the index on state, expires_at)."""

        def work(conn: Connection) -> datetime | None:
            soonest: datetime | None = conn.scalar(
                select(reservations.c.expires_at)
                .where(reservations.c.state == ACTIVE)
                .order_by(reservations.c.expires_at)
                .limit(1)
            )
            return soonest

        return await self._db.read(work)


def _conditions(where: ReservationFilter, now: datetime) -> list[Any]:
    conditions: list[Any] = []
    if where.charge_point_id is not None:
        conditions.append(reservations.c.charge_point_id == where.charge_point_id)
    if where.id_tag is not None:
        conditions.append(func.lower(reservations.c.id_tag) == where.id_tag.lower())
    state, stored = where.state, reservations.c.state
    if state is ReservationState.ACTIVE:
        conditions += [stored == ACTIVE, reservations.c.expires_at > now]
    elif state is ReservationState.EXPIRED:
        conditions.append(
            or_(stored == state.value, and_(stored == ACTIVE, reservations.c.expires_at <= now))
        )
    elif state is not None:
        conditions.append(stored == state.value)
    return conditions


def _row(conn: Connection, reservation_id: int) -> Row[Any]:
    return conn.execute(select(reservations).where(reservations.c.id == reservation_id)).one()


def _reservation(row: Row[Any]) -> Reservation:
    return Reservation(
        id=row.id,
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
        id_tag=row.id_tag,
        parent_id_tag=row.parent_id_tag,
        expires_at=row.expires_at,
        state=ReservationState(row.state),
        created_at=row.created_at,
        answer=ReserveStatus(row.answer) if row.answer else None,
        reason=row.reason,
        transaction_id=row.transaction_id,
        ended_at=row.ended_at,
    )
