"""Transactions and meter values in SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import cache
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.sql.dml import ReturningInsert

from ampnexus.domain.transaction import (
    DEFAULT_UNITS,
    NO_FILTER,
    ChargerReading,
    LeftOpen,
    MeterReading,
    ReadingFilter,
    SampledValue,
    SessionFilter,
    Transaction,
    TransactionOwner,
    TransactionStart,
    TransactionStop,
    import_register_wh,
)
from ampnexus.services.feed import Announce
from ampnexus.services.ports import Page
from ampnexus.store.bulk import Bulk
from ampnexus.store.bulk import Row as BulkRow
from ampnexus.store.database import Database, Parts
from ampnexus.store.feed import announced, feed_rows
from ampnexus.store.tables import (
    charge_points,
    meter_values,
    transaction_overrides,
    transactions,
)
from ampnexus.store.upsert import conflict_insert

METER_VALUE_ROWS = Bulk(
    meter_values,
    (
        "charge_point_id",
        "connector_id",
        "transaction_id",
        "timestamp",
        "value",
        "number",
        "measurand",
        "unit",
        "phase",
        "context",
        "location",
        "format",
        "received_at",
    ),
)
# Readings refused for naming a transaction not the charger's own: the same columns and the
# id claimed (a statement of its own, so the usual rows carry no extra column).
REJECTED_METER_VALUE_ROWS = Bulk(
    meter_values, (*METER_VALUE_ROWS.columns, "rejected_transaction_id")
)


# Built once: the hot path then skips building statements and their cache keys. Each
# answer costs one statement in the usual case; a replayed start or stop (a charger back
# online resending what it queued) takes a second one to find what is already there.
_START_KEY = ("charge_point_id", "connector_id", "id_tag", "meter_start", "started_at")
_FIND_START = select(transactions.c.id).where(
    *(transactions.c[name] == bindparam(name) for name in _START_KEY)
)
_FIND_STOP = select(transactions.c.id).where(
    transactions.c.id == bindparam("key"), transactions.c.charge_point_id == bindparam("cp")
)
_OWNER = select(
    transactions.c.charge_point_id, transactions.c.connector_id, transactions.c.meter_start
).where(transactions.c.id == bindparam("key"))
_HIGHEST_ID = select(func.coalesce(func.max(transactions.c.id), 0))
_RECORD_STOP = (
    update(transactions)
    .where(
        transactions.c.id == bindparam("key"),
        transactions.c.charge_point_id == bindparam("cp"),
        transactions.c.stopped_at.is_(None),
    )
    .returning(transactions.c.connector_id)
)


# Every read of a transaction says whether it is overridden ("charge now"): a correlated
# EXISTS on the override's primary key, so active_on stays one statement.
_CHARGE_NOW = (
    exists().where(transaction_overrides.c.transaction_id == transactions.c.id).label("charge_now")
)
_TRANSACTION = select(transactions, _CHARGE_NOW)
_ENERGY_REGISTER = "Energy.Active.Import.Register"
# A session's latest total import register reading: where a session its charger left open
# is closed at, and with what energy.
_LAST_REGISTER = (
    select(meter_values.c.timestamp, meter_values.c.value, meter_values.c.unit)
    .where(
        meter_values.c.transaction_id == bindparam("key"),
        meter_values.c.measurand == _ENERGY_REGISTER,
        meter_values.c.phase.is_(None),
    )
    .order_by(meter_values.c.timestamp.desc(), meter_values.c.id.desc())
    .limit(1)
)
_CLOSE_LEFT_OPEN = update(transactions).where(
    transactions.c.id == bindparam("key"), transactions.c.stopped_at.is_(None)
)


@cache
def _insert_start(dialect: str) -> ReturningInsert[tuple[int]]:
    """INSERT unless this very start is already stored (the unique key): then no row."""
    return (
        conflict_insert(transactions, dialect)
        .on_conflict_do_nothing(index_elements=list(_START_KEY))
        .returning(transactions.c.id)
    )


class SqlTransactionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(
        self, start: TransactionStart, at: datetime, announce: Announce[int] | None = None
    ) -> int:
        params = {
            "charge_point_id": start.charge_point_id,
            "connector_id": start.connector_id,
            "id_tag": start.id_tag,
            "meter_start": start.meter_start,
            "started_at": start.timestamp,
        }

        added = {
            **params,
            "reservation_id": start.reservation_id,
            "started_remotely": start.started_remotely,
            "created_at": at,
        }

        def work(conn: Connection) -> int:
            new = conn.execute(_insert_start(conn.dialect.name), added).scalar()
            if new is not None:
                return int(new)
            return int(conn.execute(_FIND_START, params).scalar_one())  # a replayed start

        return await self._db.write(work, announced(announce))

    async def stop(
        self, stop: TransactionStop, at: datetime, events: Sequence[object] = ()
    ) -> bool:
        """`events` are recorded only when this stop closes the transaction (not for a
        replayed stop that is already recorded)."""
        key = {"key": stop.transaction_id, "cp": stop.charge_point_id}
        values = {
            **key,
            "stopped_at": stop.timestamp,
            "meter_stop": stop.meter_stop,
            "stop_reason": stop.reason or "Local",
            "stop_id_tag": stop.id_tag,
        }

        def work(conn: Connection) -> tuple[bool, bool]:  # known, closed now
            connector_id = conn.execute(_RECORD_STOP, values).scalar()
            if connector_id is None:  # unknown, or a replayed stop that is already recorded
                return conn.execute(_FIND_STOP, key).first() is not None, False
            _insert_readings(
                conn,
                stop.charge_point_id,
                connector_id,
                stop.transaction_id,
                stop.transaction_data,
                at,
            )
            return True, True

        def then(outcome: tuple[bool, bool]) -> Parts:
            return feed_rows(events) if outcome[1] else ()

        known, _ = await self._db.write(work, then)
        return known

    async def add_meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        readings: Sequence[MeterReading],
        at: datetime,
        events: Sequence[object] = (),
    ) -> None:
        rows = _reading_rows(charge_point_id, connector_id, transaction_id, readings, at)
        await self._db.append_many((METER_VALUE_ROWS, rows), *feed_rows(events))

    async def add_rejected_meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        claimed_transaction_id: int,
        readings: Sequence[MeterReading],
        at: datetime,
    ) -> None:
        rows = _reading_rows(charge_point_id, connector_id, None, readings, at)
        rejected = [(*row, claimed_transaction_id) for row in rows]
        await self._db.append(REJECTED_METER_VALUE_ROWS, rejected)

    async def close_left_open(
        self, left: LeftOpen, announce: Announce[list[Transaction]] | None = None
    ) -> list[Transaction]:
        """Close the transactions `left` finds still open, each at its latest register
        reading (else at `left.fallback_at`, with no energy); those closed, as now stored."""
        conditions = _left_open_conditions(left)
        query = _TRANSACTION.where(*conditions).order_by(transactions.c.id)
        # Nearly every StartTransaction asks, and nearly always nothing was left open: a read
        # answers that without a turn of the writer.
        found = select(transactions.c.id).where(*conditions).limit(1)
        if await self._db.read(lambda conn: conn.execute(found).first()) is None:
            return []

        def work(conn: Connection) -> list[Transaction]:
            closed = []
            for row in conn.execute(query).all():
                stopped_at, meter_stop = _last_known(conn, row, left.fallback_at)
                values = {
                    "stopped_at": stopped_at,
                    "meter_stop": meter_stop,
                    "stop_reason": left.reason,
                    "stop_detail": left.detail,
                }
                if conn.execute(_CLOSE_LEFT_OPEN, {"key": row.id, **values}).rowcount:
                    closed.append(
                        replace(
                            _transaction(row, ()),
                            stopped_at=stopped_at,
                            meter_stop=meter_stop,
                            stop_reason=left.reason,
                            stop_detail=left.detail,
                        )
                    )
            return closed

        return await self._db.write(work, announced(announce))

    async def charger_readings(
        self, charge_point_id: str, where: ReadingFilter, limit: int, offset: int
    ) -> Page[ChargerReading]:
        conditions = [
            meter_values.c.charge_point_id == charge_point_id,
            meter_values.c.transaction_id.is_(None),
            meter_values.c.rejected_transaction_id.is_(None),
        ]
        if where.connector_id is not None:
            conditions.append(meter_values.c.connector_id == where.connector_id)
        if where.since is not None:
            conditions.append(meter_values.c.timestamp >= where.since)
        if where.until is not None:
            conditions.append(meter_values.c.timestamp < where.until)
        counted = select(func.count()).select_from(meter_values).where(*conditions)
        query = (
            select(meter_values)
            .where(*conditions)
            .order_by(meter_values.c.timestamp.desc(), meter_values.c.id)
            .limit(limit)
            .offset(offset)
        )

        def work(conn: Connection) -> Page[ChargerReading]:
            total = conn.scalar(counted) or 0
            return Page([_charger_reading(row) for row in conn.execute(query)], total)

        return await self._db.read(work)

    async def owner(self, transaction_id: int) -> TransactionOwner | None:
        def work(conn: Connection) -> TransactionOwner | None:
            row = conn.execute(_OWNER, {"key": transaction_id}).first()
            if row is None:
                return None
            return TransactionOwner(row.charge_point_id, row.connector_id, row.meter_start)

        return await self._db.read(work)

    async def highest_transaction_id(self) -> int:
        return await self._db.read(lambda conn: int(conn.execute(_HIGHEST_ID).scalar_one()))

    async def get(self, transaction_id: int) -> Transaction | None:
        def work(conn: Connection) -> Transaction | None:
            row = conn.execute(_TRANSACTION.where(transactions.c.id == transaction_id)).first()
            if row is None:
                return None
            samples = conn.execute(
                select(meter_values)
                .where(meter_values.c.transaction_id == transaction_id)
                .order_by(meter_values.c.timestamp, meter_values.c.id)
            ).all()
            return _transaction(row, _readings(samples))

        return await self._db.read(work)

    async def list(
        self,
        charge_point_id: str | None,
        active: bool | None,
        limit: int,
        offset: int,
        where: SessionFilter = NO_FILTER,
        registers: bool = False,
    ) -> Page[Transaction]:
        conditions = _list_conditions(charge_point_id, active, where)
        source: Any = transactions
        if where.site_id is not None:  # the chargers placed on the site now
            source = transactions.join(
                charge_points, charge_points.c.id == transactions.c.charge_point_id
            )
        query = _TRANSACTION.select_from(source)
        counted = select(func.count()).select_from(source).where(*conditions)

        def work(conn: Connection) -> Page[Transaction]:
            total = conn.scalar(counted)
            rows = conn.execute(
                query.where(*conditions)
                .order_by(transactions.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            found = _page_registers(conn, [row.id for row in rows]) if registers else {}
            return Page([_transaction(row, found.get(row.id, ())) for row in rows], total or 0)

        return await self._db.read(work)

    async def active_on(self, charge_point_ids: Sequence[str]) -> list[Transaction]:
        """The running transactions of these chargers, in one read (newest first)."""
        query = _TRANSACTION.where(
            transactions.c.charge_point_id.in_(list(charge_point_ids)),
            transactions.c.stopped_at.is_(None),
        ).order_by(transactions.c.id.desc())

        def work(conn: Connection) -> list[Transaction]:
            return [_transaction(row, ()) for row in conn.execute(query)]

        return await self._db.read(work) if charge_point_ids else []

    async def finished_at_site(self, site_id: str, since: datetime) -> list[Transaction]:
        query = (
            _TRANSACTION.join(charge_points, charge_points.c.id == transactions.c.charge_point_id)
            .where(
                charge_points.c.site_id == site_id,
                transactions.c.started_at >= since,
                transactions.c.stopped_at.is_not(None),
                transactions.c.meter_stop.is_not(None),
            )
            .order_by(transactions.c.started_at, transactions.c.id)
        )

        def work(conn: Connection) -> list[Transaction]:
            return [_transaction(row, ()) for row in conn.execute(query)]

        return await self._db.read(work)

    async def energy_sessions(
        self, charge_point_ids: Sequence[str], since: datetime, until: datetime
    ) -> Sequence[Transaction]:
        # One statement: each session with its register readings, a session without any
        # on one row of NULLs (the outer join).
        reading = and_(
            meter_values.c.transaction_id == transactions.c.id,
            meter_values.c.measurand == _ENERGY_REGISTER,
            meter_values.c.phase.is_(None),
        )
        query = (
            select(
                transactions,
                _CHARGE_NOW,
                meter_values.c.timestamp.label("reading_at"),
                meter_values.c.value.label("reading_value"),
                meter_values.c.unit.label("reading_unit"),
            )
            .outerjoin(meter_values, reading)
            .where(
                transactions.c.charge_point_id.in_(charge_point_ids),
                transactions.c.started_at < until,
                or_(transactions.c.stopped_at.is_(None), transactions.c.stopped_at > since),
            )
            .order_by(
                transactions.c.started_at,
                transactions.c.id,
                meter_values.c.timestamp,
                meter_values.c.id,
            )
        )

        def work(conn: Connection) -> Sequence[Transaction]:
            return [
                _transaction(rows[0], _register_readings(rows))
                for _, group in groupby(conn.execute(query), key=lambda row: row.id)
                for rows in [list(group)]
            ]

        return await self._db.read(work)


def _left_open_conditions(left: LeftOpen) -> list[Any]:
    conditions: list[Any] = [
        transactions.c.charge_point_id == left.charge_point_id,
        transactions.c.connector_id == left.connector_id,
        transactions.c.stopped_at.is_(None),
    ]
    if left.other_than is not None:
        conditions.append(transactions.c.id != left.other_than)
    if left.started_by is not None:
        conditions.append(transactions.c.started_at <= left.started_by)
    if left.received_before is not None:
        conditions.append(transactions.c.created_at < left.received_before)
    return conditions


def _last_known(conn: Connection, row: Row[Any], fallback_at: datetime) -> tuple[datetime, int]:
    """When a session left open last showed life, and its register then (Wh)."""
    last = conn.execute(_LAST_REGISTER, {"key": row.id}).first()
    if last is not None:
        sample = SampledValue(last.value, _ENERGY_REGISTER, unit=last.unit)
        register = import_register_wh(MeterReading(last.timestamp, (sample,)))
        if register is not None:
            return max(row.started_at, last.timestamp), max(row.meter_start, round(register))
    return max(row.started_at, fallback_at), row.meter_start


def _charger_reading(row: Row[Any]) -> ChargerReading:
    sample = SampledValue(
        value=row.value,
        measurand=row.measurand,
        unit=row.unit,
        phase=row.phase,
        context=row.context,
        location=row.location,
        format=row.format,
    )
    return ChargerReading(row.connector_id, row.timestamp, sample, row.received_at)


def _list_conditions(
    charge_point_id: str | None, active: bool | None, where: SessionFilter
) -> list[Any]:
    conditions: list[Any] = []
    if charge_point_id is not None:
        conditions.append(transactions.c.charge_point_id == charge_point_id)
    if active is not None:
        stopped = transactions.c.stopped_at
        conditions.append(stopped.is_(None) if active else stopped.is_not(None))
    if where.site_id is not None:
        conditions.append(charge_points.c.site_id == where.site_id)
    if where.id_tag is not None:
        conditions.append(transactions.c.id_tag == where.id_tag)
    if where.since is not None:
        conditions.append(transactions.c.started_at >= where.since)
    if where.until is not None:
        conditions.append(transactions.c.started_at < where.until)
    if where.before_id is not None:
        conditions.append(transactions.c.id < where.before_id)
    return conditions


def _page_registers(
    conn: Connection, transaction_ids: Sequence[int]
) -> dict[int, tuple[MeterReading, ...]]:
    """The total energy import register readings of a page of sessions, in one read."""
    if not transaction_ids:
        return {}
    rows: Iterable[Any] = conn.execute(  # rows shaped as `_register_readings` reads them
        select(
            meter_values.c.transaction_id.label("id"),
            meter_values.c.timestamp.label("reading_at"),
            meter_values.c.value.label("reading_value"),
            meter_values.c.unit.label("reading_unit"),
        )
        .where(
            meter_values.c.transaction_id.in_(list(transaction_ids)),
            meter_values.c.measurand == _ENERGY_REGISTER,
            meter_values.c.phase.is_(None),
        )
        .order_by(meter_values.c.transaction_id, meter_values.c.timestamp, meter_values.c.id)
    )
    return {key: _register_readings(list(group)) for key, group in groupby(rows, lambda r: r.id)}


def _register_readings(rows: Sequence[Row[Any]]) -> tuple[MeterReading, ...]:
    return tuple(
        MeterReading(
            row.reading_at,
            (SampledValue(row.reading_value, _ENERGY_REGISTER, unit=row.reading_unit),),
        )
        for row in rows
        if row.reading_at is not None
    )


def _insert_readings(
    conn: Connection,
    charge_point_id: str,
    connector_id: int,
    transaction_id: int | None,
    readings: Sequence[MeterReading],
    at: datetime,
) -> None:
    METER_VALUE_ROWS.execute(
        conn, _reading_rows(charge_point_id, connector_id, transaction_id, readings, at)
    )


def _reading_rows(
    charge_point_id: str,
    connector_id: int,
    transaction_id: int | None,
    readings: Sequence[MeterReading],
    at: datetime,
) -> list[BulkRow]:
    """Rows in METER_VALUE_ROWS's column order."""
    return [
        (
            charge_point_id,
            connector_id,
            transaction_id,
            reading.timestamp,
            sample.value,
            sample.number,
            sample.measurand,
            sample.unit or DEFAULT_UNITS.get(sample.measurand),
            sample.phase,
            sample.context,
            sample.location,
            sample.format,
            at,
        )
        for reading in readings
        for sample in reading.sampled_values
    ]


def _readings(rows: Sequence[Row[Any]]) -> tuple[MeterReading, ...]:
    return tuple(
        MeterReading(
            timestamp,
            tuple(
                SampledValue(
                    value=row.value,
                    measurand=row.measurand,
                    unit=row.unit,
                    phase=row.phase,
                    context=row.context,
                    location=row.location,
                    format=row.format,
                )
                for row in group
            ),
        )
        for timestamp, group in groupby(rows, key=lambda row: row.timestamp)
    )


def _transaction(row: Row[Any], readings: tuple[MeterReading, ...]) -> Transaction:
    return Transaction(
        id=row.id,
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
        id_tag=row.id_tag,
        meter_start=row.meter_start,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        meter_stop=row.meter_stop,
        stop_reason=row.stop_reason,
        stop_id_tag=row.stop_id_tag,
        meter_values=readings,
        charge_now=bool(row.charge_now),
        started_remotely=row.started_remotely,
        reservation_id=row.reservation_id,
        stop_detail=row.stop_detail,
    )
