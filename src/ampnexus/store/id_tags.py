"""Id tags in SQL. OCPP id tags are case-insensitive: every lookup compares lower(id_tag),
which the unique index uq_id_tags_lower_id_tag answers in one read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ampnexus.domain.errors import Conflict
from ampnexus.domain.id_tag import AuthorizationStatus, IdTag
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.tables import id_tags


class SqlIdTagStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, id_tag: str) -> IdTag | None:
        def work(conn: Connection) -> IdTag | None:
            row = conn.execute(select(id_tags).where(same_id_tag(id_tag))).first()
            return _id_tag(row) if row else None

        return await self._db.read(work)

    async def list(self, limit: int, offset: int) -> Page[IdTag]:
        def work(conn: Connection) -> Page[IdTag]:
            total = conn.scalar(select(func.count()).select_from(id_tags)) or 0
            rows = conn.execute(
                select(id_tags).order_by(id_tags.c.id_tag).limit(limit).offset(offset)
            )
            return Page([_id_tag(row) for row in rows], total)

        return await self._db.read(work)

    async def add(self, tag: IdTag, at: datetime) -> None:
        values = {**_values(tag), "id_tag": tag.id_tag, "created_at": at}
        try:
            await self._db.write(lambda conn: conn.execute(insert(id_tags).values(values)))
        except IntegrityError as error:
            raise Conflict(f"id tag {tag.id_tag!r} already exists") from error

    async def replace(self, tag: IdTag) -> None:
        values = _values(tag)
        await self._db.write(
            lambda conn: conn.execute(
                update(id_tags).where(id_tags.c.id_tag == tag.id_tag).values(values)
            )
        )

    async def delete(self, id_tag: str) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(delete(id_tags).where(same_id_tag(id_tag))).rowcount > 0

        return await self._db.write(work)


def same_id_tag(id_tag: str) -> ColumnElement[bool]:
    """The id tag spelt `id_tag` in any case; lower() on both sides, so that the database
    folds both alike and uses the index."""
    return func.lower(id_tags.c.id_tag) == func.lower(id_tag)


def _values(tag: IdTag) -> dict[str, Any]:
    return {
        "status": tag.status.value,
        "expiry_date": tag.expiry_date,
        "parent_id_tag": tag.parent_id_tag,
        "description": tag.description,
        "charge_point_id": tag.charge_point_id,
    }


def _id_tag(row: Row[Any]) -> IdTag:
    return IdTag(
        id_tag=row.id_tag,
        status=AuthorizationStatus(row.status),
        expiry_date=row.expiry_date,
        parent_id_tag=row.parent_id_tag,
        description=row.description,
        charge_point_id=row.charge_point_id,
    )
