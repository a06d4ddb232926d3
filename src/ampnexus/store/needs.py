"""Session needs, and the past sessions a driver's default is learned from, in SQL.
An id tag is found by any spelling (id tags are case-insensitive)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, func, select

from ampnexus.domain.needs import PastSession, SessionNeed
from ampnexus.domain.transaction import energy_wh
from ampnexus.store.database import Database
from ampnexus.store.id_tags import same_id_tag
from ampnexus.store.tables import id_tags as id_tag_table
from ampnexus.store.tables import session_needs, transactions
from ampnexus.store.upsert import upsert


class SqlNeedStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, need: SessionNeed) -> None:
        key: dict[str, Any] = (
            {"transaction_id": need.transaction_id}
            if need.transaction_id is not None
            else {"id_tag": need.id_tag}
        )
        values = {
            "energy_wh": need.energy_wh,
            "target_soc": need.target_soc,
            "battery_wh": need.battery_wh,
            "departure": need.departure,
            "updated_at": need.updated_at,
        }
        await self._db.write(lambda conn: upsert(conn, session_needs, key, values))

    async def for_transaction(self, transaction_id: int) -> SessionNeed | None:
        return await self._find(session_needs.c.transaction_id == transaction_id)

    async def for_id_tag(self, id_tag: str) -> SessionNeed | None:
        return await self._find(_of_id_tag(id_tag))

    async def delete_for_transaction(self, transaction_id: int) -> bool:
        return await self._delete(session_needs.c.transaction_id == transaction_id)

    async def delete_for_id_tag(self, id_tag: str) -> bool:
        return await self._delete(_of_id_tag(id_tag))

    async def history(self, id_tags: Sequence[str], limit: int) -> list[PastSession]:
        """A charger names a tag as it likes: its sessions are found by any spelling."""

        def work(conn: Connection) -> list[PastSession]:
            rows = conn.execute(
                select(transactions)
                .where(
                    func.lower(transactions.c.id_tag).in_([func.lower(tag) for tag in id_tags]),
                    transactions.c.stopped_at.is_not(None),
                )
                .order_by(transactions.c.started_at.desc())
                .limit(limit)
            )
            return [
                PastSession(
                    row.started_at, row.stopped_at, energy_wh(row.meter_start, row.meter_stop) or 0
                )
                for row in rows
            ]

        return await self._db.read(work)

    async def for_transactions(self, transaction_ids: Sequence[int]) -> dict[int, SessionNeed]:
        def work(conn: Connection) -> dict[int, SessionNeed]:
            rows = conn.execute(
                select(session_needs).where(session_needs.c.transaction_id.in_(transaction_ids))
            )
            return {row.transaction_id: _need(row) for row in rows}

        return await self._db.read(work) if transaction_ids else {}

    async def for_id_tags(self, id_tags: Sequence[str]) -> dict[str, SessionNeed]:
        lower = sorted({tag.lower() for tag in id_tags})

        def work(conn: Connection) -> dict[str, SessionNeed]:
            rows = conn.execute(
                select(session_needs).where(func.lower(session_needs.c.id_tag).in_(lower))
            )
            return {row.id_tag.lower(): _need(row) for row in rows}

        return await self._db.read(work) if lower else {}

    async def histories(self, id_tags: Sequence[str], limit: int) -> dict[str, list[PastSession]]:
        """One read for many tags: each tag's newest sessions, ranked within the tag."""
        lower = sorted({tag.lower() for tag in id_tags})
        tag = func.lower(transactions.c.id_tag)
        ranked = (
            select(
                tag.label("tag"),
                transactions.c.started_at,
                transactions.c.stopped_at,
                transactions.c.meter_start,
                transactions.c.meter_stop,
                func.row_number()
                .over(partition_by=tag, order_by=transactions.c.started_at.desc())
                .label("rank"),
            )
            .where(tag.in_(lower), transactions.c.stopped_at.is_not(None))
            .subquery()
        )
        query = (
            select(ranked)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.tag, ranked.c.started_at.desc())
        )

        def work(conn: Connection) -> dict[str, list[PastSession]]:
            found: dict[str, list[PastSession]] = {}
            for row in conn.execute(query):
                energy = energy_wh(row.meter_start, row.meter_stop) or 0
                found.setdefault(row.tag, []).append(
                    PastSession(row.started_at, row.stopped_at, energy)
                )
            return found

        return await self._db.read(work) if lower else {}

    async def _find(self, where: ColumnElement[bool]) -> SessionNeed | None:
        def work(conn: Connection) -> SessionNeed | None:
            row = conn.execute(select(session_needs).where(where)).first()
            return _need(row) if row else None

        return await self._db.read(work)

    async def _delete(self, where: ColumnElement[bool]) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(delete(session_needs).where(where)).rowcount > 0

        return await self._db.write(work)


def _of_id_tag(id_tag: str) -> ColumnElement[bool]:
    """The need of the tag `id_tag` names in any case, through the tag's own index."""
    return session_needs.c.id_tag.in_(select(id_tag_table.c.id_tag).where(same_id_tag(id_tag)))


def _need(row: Row[Any]) -> SessionNeed:
    return SessionNeed(
        transaction_id=row.transaction_id,
        id_tag=row.id_tag,
        energy_wh=row.energy_wh,
        target_soc=row.target_soc,
        battery_wh=row.battery_wh,
        departure=row.departure,
        updated_at=row.updated_at,
    )
