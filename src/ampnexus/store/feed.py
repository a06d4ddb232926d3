"""The event feed's outbox table: rows written with the changes that caused them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import orjson
from sqlalchemy import Connection, func, select

from ampnexus.services.feed import Announce, FeedEntry, StoredEvent, entries
from ampnexus.store.bulk import Bulk
from ampnexus.store.database import Database, Parts, Then
from ampnexus.store.tables import charge_points, feed_events

T = TypeVar("T")

FEED_ROWS = Bulk(
    feed_events, ("uid", "type", "charge_point_id", "site_id", "created_at", "data", "fanned_out")
)


def feed_rows(events: Iterable[object]) -> Parts:
    """The outbox rows of these domain events, to commit with the change that caused them."""
    return feed_entry_rows(entries(events))


def announced(announce: Announce[T] | None) -> Then[T] | None:
    """What a write commits with its result: the outbox rows of the events it announces."""
    if announce is None:
        return None
    return lambda result: feed_rows(announce(result))


def feed_entry_rows(recorded: Sequence[FeedEntry]) -> Parts:
    if not recorded:
        return ()
    rows = [
        (e.uid, e.type, e.charge_point_id, e.site_id, e.created_at, _json(e.data), False)
        for e in recorded
    ]
    return ((FEED_ROWS, rows),)


def _json(data: object) -> str:
    return orjson.dumps(data).decode()


# The event's own site, else its charger's site now.
_SITE = func.coalesce(feed_events.c.site_id, charge_points.c.site_id).label("site")
_READ = (
    select(
        feed_events.c.seq,
        feed_events.c.uid,
        feed_events.c.type,
        feed_events.c.created_at,
        _SITE,
        feed_events.c.data,
    )
    .select_from(
        feed_events.outerjoin(charge_points, charge_points.c.id == feed_events.c.charge_point_id)
    )
    .order_by(feed_events.c.seq)
)


def stored(row: object) -> StoredEvent:
    seq, uid, type_, created_at, site, data = row  # type: ignore[misc]
    return StoredEvent(seq, uid, type_, created_at, site, data)


class SqlFeedStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, entries: Sequence[FeedEntry]) -> None:
        parts = feed_entry_rows(entries)
        if parts:
            await self._db.append_many(*parts)

    async def read(self, after_seq: int, limit: int) -> Sequence[StoredEvent]:
        def work(conn: Connection) -> list[StoredEvent]:
            rows = conn.execute(_READ.where(feed_events.c.seq > after_seq).limit(limit))
            return [stored(row) for row in rows]

        return await self._db.read(work)

    async def last_seq(self) -> int:
        query = select(func.coalesce(func.max(feed_events.c.seq), 0))
        return int(await self._db.read(lambda conn: conn.execute(query).scalar_one()))
