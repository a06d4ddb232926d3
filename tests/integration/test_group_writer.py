"""The group-committing writer on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Table, delete, event, func, insert, select
from sqlalchemy.exc import IntegrityError

from ampnexus.domain.api_key import ApiKeyScope
from ampnexus.services.secrets import api_key_digest
from ampnexus.store.api_keys import SqlApiKeyStore
from ampnexus.store.bulk import Bulk
from ampnexus.store.database import Database
from ampnexus.store.tables import api_keys, charge_points, connectors, meter_values

AT = datetime(2025, 1, 1, tzinfo=UTC)
CP_ROW = {"security_profile": 0, "registration_status": "Accepted", "created_at": AT}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    database.migrate()
    database.start()
    try:
        yield database
    finally:
        database.close()


def insert_key(name: str, seen: list[Connection] | None = None) -> Callable[[Connection], int]:
    """A write that adds an api_keys row and records the connection (= batch) it ran in."""

    def work(conn: Connection) -> int:
        if seen is not None:
            seen.append(conn)
        return int(
            conn.execute(
                insert(api_keys)
                .values(name=name, prefix=name[:12], digest=api_key_digest(name), created_at=AT)
                .returning(api_keys.c.id)
            ).scalar_one()
        )

    return work


async def names(db: Database) -> list[str]:
    return await db.read(lambda conn: sorted(conn.execute(select(api_keys.c.name)).scalars().all()))


class Gate:
    """A write that holds the writer thread until released, so that everything submitted
    meanwhile is queued and then committed together in the next batch."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def work(self, conn: Connection) -> str:
        self.entered.set()
        assert self.release.wait(30), "gate never released"
        return "gate"

    async def hold(self, db: Database) -> asyncio.Task[Any]:
        task = asyncio.create_task(db.write(self.work))
        assert await asyncio.to_thread(self.entered.wait, 10), "the writer never ran the gate"
        return task


class Commits:
    """Counts the commits on the database's engine (rolled back attempts are no commits) and
    the executemany calls, as the driver receives them."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        self.executemany = 0
        event.listen(db.engine, "commit", self._commit)
        event.listen(db.engine, "before_cursor_execute", self._execute)

    def _commit(self, conn: Connection) -> None:
        self.count += 1

    def _execute(self, conn: Connection, cursor: Any, sql: str, *args: Any) -> None:
        self.executemany += bool(args[-1])  # the listener's last argument: executemany


async def submit_all(db: Database, works: list[Callable[[Connection], Any]]) -> list[asyncio.Task]:
    tasks = [asyncio.create_task(db.write(work)) for work in works]
    await asyncio.sleep(0)  # each task runs up to its submit
    return tasks


async def test_concurrent_writes_are_all_committed(db: Database):
    results = await asyncio.gather(*(db.write(insert_key(f"key-{i:03}")) for i in range(300)))
    assert len(set(results)) == 300  # each caller got its own row id back
    assert await names(db) == [f"key-{i:03}" for i in range(300)]


async def test_writes_queued_together_share_one_commit(db: Database):
    gate = Gate()
    held = await gate.hold(db)
    seen: list[Connection] = []
    tasks = await submit_all(db, [insert_key(f"batch-{i}", seen) for i in range(50)])
    assert not any(task.done() for task in tasks)  # nothing is answered before its commit
    gate.release.set()
    assert await held == "gate"
    ids = await asyncio.gather(*tasks)
    assert len(set(ids)) == 50
    assert len(seen) == 50
    assert len({id(conn) for conn in seen}) == 1, "the queued writes were not one batch"
    assert await names(db) == sorted(f"batch-{i}" for i in range(50))


async def test_a_duplicate_digest_fails_only_its_own_caller(db: Database):
    store = SqlApiKeyStore(db)
    original = await store.add("original", ApiKeyScope.ADMIN, "anx_orig", "d" * 64, AT)

    gate = Gate()
    held = await gate.hold(db)
    commits = Commits(db)
    seen: list[Connection] = []
    before = [insert_key(f"before-{i}", seen) for i in range(10)]
    after = [insert_key(f"after-{i}", seen) for i in range(10)]
    tasks = await submit_all(db, before)
    duplicate = asyncio.create_task(
        store.add("copycat", ApiKeyScope.ADMIN, "anx_copy", "d" * 64, AT)
    )
    tasks += await submit_all(db, after)
    gate.release.set()
    await held

    with pytest.raises(IntegrityError):
        await duplicate
    ids = await asyncio.gather(*tasks)  # none of the neighbours failed
    assert len(set(ids)) == 20
    # The writes before the duplicate really ran in its batch, which failed and was rolled
    # back; the batch then ran once more, every write in one transaction (10 + 20 runs).
    assert len(seen) == 30
    assert len({id(conn) for conn in seen[:10]}) == 1
    assert len({id(conn) for conn in seen[10:]}) == 1
    assert seen[10] is not seen[0]
    assert commits.count == 2  # the gate's batch, then this one: no commit per write

    stored = await names(db)
    assert stored == sorted(
        ["original", *(f"before-{i}" for i in range(10))] + [f"after-{i}" for i in range(10)]
    )
    assert "copycat" not in stored
    found = await store.find_active("d" * 64)
    assert found is not None and found.id == original.id and found.name == "original"


async def test_a_failing_write_in_the_middle_costs_the_others_no_commit_of_their_own(
    db: Database,
):
    """The rest of the batch commits together, once: nothing of it is visible to another
    connection before that commit, so no savepoint's release committed anything."""

    class Boom(Exception):
        pass

    def fail(conn: Connection) -> None:
        insert_key("failed")(conn)
        raise Boom("no")

    visible_meanwhile: list[list[str]] = []

    def observe(conn: Connection) -> None:
        with db.engine.connect() as other:
            rows = other.execute(select(api_keys.c.name).order_by(api_keys.c.name))
            visible_meanwhile.append(list(rows.scalars()))

    gate = Gate()
    held = await gate.hold(db)
    commits = Commits(db)
    works = [insert_key("a"), insert_key("b"), fail, insert_key("c"), observe, insert_key("d")]
    tasks = await submit_all(db, works)
    gate.release.set()
    await held
    a, b, failed, c, observed, d = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(failed, Boom)
    assert all(isinstance(key_id, int) for key_id in (a, b, c, d)), (a, b, c, d)
    assert observed is None
    assert visible_meanwhile == [[]]  # run once (after the failure), and saw nothing yet
    assert commits.count == 2  # the gate's batch, then this one
    assert await names(db) == ["a", "b", "c", "d"]


async def test_a_raising_write_fails_alone_and_leaves_nothing_behind(db: Database):
    class Boom(Exception):
        pass

    def half_done(conn: Connection) -> None:
        insert_key("half-done")(conn)
        raise Boom("changed my mind")

    gate = Gate()
    held = await gate.hold(db)
    tasks = await submit_all(db, [insert_key("left"), half_done, insert_key("right")])
    gate.release.set()
    await held
    left, failed, right = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(failed, Boom) and str(failed) == "changed my mind"
    assert isinstance(left, int) and isinstance(right, int)
    assert await names(db) == ["left", "right"]  # the failed write's insert was rolled back

    # The writer goes on working after a failure.
    assert isinstance(await db.write(insert_key("later")), int)
    with pytest.raises(Boom):
        await db.write(half_done)
    assert await names(db) == ["later", "left", "right"]


async def test_close_lets_queued_writes_finish(database_url: str):
    db = Database(database_url)
    db.migrate()
    db.start()
    gate = Gate()
    held = await gate.hold(db)
    tasks = await submit_all(db, [insert_key(f"queued-{i:02}") for i in range(40)])
    writer_queue = db._writer._queue  # type: ignore[union-attr]
    assert writer_queue.qsize() == 40
    closing = asyncio.create_task(asyncio.to_thread(db.close))
    # Wait until close() has queued its stop behind the 40 writes (a deadline, no guess).
    deadline = time.monotonic() + 10
    while writer_queue.qsize() != 41:
        assert time.monotonic() < deadline, "close() never asked the writer to stop"
        await asyncio.sleep(0.01)
    assert not closing.done()  # close waits for the writer, which is still held
    assert not any(task.done() for task in tasks)
    gate.release.set()
    await closing
    assert await held == "gate"
    ids = await asyncio.gather(*tasks)
    assert len(set(ids)) == 40

    reopened = Database(database_url)
    try:
        count = reopened.read_now(
            lambda conn: conn.scalar(select(func.count()).select_from(api_keys))
        )
        assert count == 40
    finally:
        reopened.close()


# --- bulk statements ---------------------------------------------------------------------------
SAMPLE_COLUMNS = (
    "charge_point_id",
    "connector_id",
    "timestamp",
    "value",
    "measurand",
    "received_at",
)
SAMPLES = Bulk(meter_values, SAMPLE_COLUMNS)
STATES = Bulk(
    connectors,
    ("charge_point_id", "connector_id", "status", "error_code", "updated_at"),
    conflict=("charge_point_id", "connector_id"),
)


def raw_rows(conn: Connection, table: Table) -> list[tuple[Any, ...]]:
    """The rows exactly as the database holds them, without SQLAlchemy's type processing."""
    columns = ", ".join(SAMPLE_COLUMNS)
    return [tuple(row) for row in conn.exec_driver_sql(f"SELECT {columns} FROM {table.name}")]


async def test_bulk_rows_are_stored_exactly_as_sqlalchemy_stores_them(db: Database):
    at = datetime(2025, 3, 30, 0, 59, 59, 500000, tzinfo=timezone(timedelta(hours=-5)))
    whole_second = datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # no microseconds to drop
    row = ("CP-1", 1, at, "1234.5", "Energy.Active.Import.Register", whole_second)
    as_dict = dict(zip(SAMPLE_COLUMNS, row, strict=True))
    await db.write(lambda conn: conn.execute(insert(meter_values), as_dict))
    by_sqlalchemy = await db.read(lambda conn: raw_rows(conn, meter_values))
    await db.write(lambda conn: conn.execute(delete(meter_values)))

    await db.append(SAMPLES, [row])
    assert await db.read(lambda conn: raw_rows(conn, meter_values)) == by_sqlalchemy
    read_back = await db.read(lambda conn: conn.execute(select(meter_values)).one())
    assert read_back.timestamp == at and read_back.timestamp.tzinfo == UTC


async def test_bulk_upserts_keep_the_last_row_per_key_and_batch_with_other_writes(db: Database):
    await db.write(lambda conn: conn.execute(insert(charge_points).values(id="CP-1", **CP_ROW)))
    gate = Gate()
    held = await gate.hold(db)
    key = ("CP-1", 1)
    steps = ["Available", "Preparing", "Charging", "SuspendedEV", "Charging", "Finishing"]
    tasks = [
        asyncio.create_task(
            db.append_many(
                (STATES, [(*key, status, "NoError", AT + timedelta(seconds=i))]),
                (SAMPLES, [(*key, AT, str(i), "Power.Active.Import", AT)]),
            )
        )
        for i, status in enumerate(steps)
    ]
    other = asyncio.create_task(db.write(insert_key("alongside")))
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in [*tasks, other])  # all wait for the next commit
    commits = Commits(db)
    gate.release.set()
    await held
    await asyncio.gather(*tasks, other)
    assert commits.executemany == 2  # the rows of six callers: one executemany per statement

    def stored(conn: Connection) -> tuple[Any, ...]:
        state = conn.execute(select(connectors)).one()
        values = conn.execute(select(meter_values.c.value).order_by(meter_values.c.id))
        return state.status, state.updated_at, values.scalars().all()

    status, updated_at, values = await db.read(stored)
    assert (status, updated_at) == ("Finishing", AT + timedelta(seconds=5))
    assert values == [str(i) for i in range(len(steps))]  # every row, in the order given
    assert await names(db) == ["alongside"]


async def test_a_failing_bulk_row_fails_only_its_own_caller(db: Database):
    gate = Gate()
    held = await gate.hold(db)
    unknown_charger = asyncio.create_task(  # connectors.charge_point_id is a foreign key
        db.append(STATES, [("NOBODY", 1, "Available", "NoError", AT)])
    )
    fine = asyncio.create_task(db.append(SAMPLES, [("NOBODY", 1, AT, "1", "SoC", AT)]))
    await asyncio.sleep(0.05)
    gate.release.set()
    await held
    with pytest.raises(IntegrityError):
        await unknown_charger
    await fine
    count = await db.read(lambda conn: conn.scalar(select(func.count()).select_from(meter_values)))
    assert count == 1


async def test_a_failing_bulk_row_fails_only_its_own_caller_in_one_commit(db: Database):
    """Rows of many callers go to one statement; one caller's row breaks a NOT NULL column:
    only that caller fails, with none of its rows stored, and everyone else's rows commit
    together."""
    gate = Gate()
    held = await gate.hold(db)
    commits = Commits(db)

    def rows(caller: str, values: list[str | None]) -> list[tuple[Any, ...]]:
        return [("CP-9", 1, AT, value, caller, AT) for value in values]

    callers = {
        "first": ["1", "2"],
        "broken": ["3", None],  # meter_values.value is NOT NULL
        "third": ["4"],
    }
    tasks = [asyncio.create_task(db.append(SAMPLES, rows(c, v))) for c, v in callers.items()]
    alongside = asyncio.create_task(db.write(insert_key("alongside")))
    await asyncio.sleep(0.05)
    gate.release.set()
    await held
    first, broken, third = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(broken, IntegrityError), broken
    assert first is None and third is None
    assert isinstance(await alongside, int)
    assert commits.count == 2  # the gate's batch, then this one

    def stored(conn: Connection) -> list[tuple[str, str]]:
        query = select(meter_values.c.measurand, meter_values.c.value).order_by(meter_values.c.id)
        return [(row.measurand, row.value) for row in conn.execute(query)]

    assert await db.read(stored) == [("first", "1"), ("first", "2"), ("third", "4")]
    assert await names(db) == ["alongside"]


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'ampnexus.sqlite3'}")
    database.migrate()
    database.start()
    try:
        yield database
    finally:
        database.close()


async def test_sqlite_keeps_wal_and_full_sync_and_reads_never_wait_for_the_writer(
    sqlite_db: Database,
):
    """The writer's own BEGIN (for savepoints) changes nothing else: the pragmas stay, and a
    read while the writer holds an uncommitted write neither waits nor sees it."""
    db = sqlite_db

    def pragmas(conn: Connection) -> tuple[Any, ...]:
        return tuple(
            conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys")
        )

    assert await db.read(pragmas) == ("wal", 2, 1)  # 2: FULL

    gate = Gate()

    def write_then_wait(conn: Connection) -> str:
        insert_key("uncommitted")(conn)
        return gate.work(conn)

    held = asyncio.create_task(db.write(write_then_wait))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    try:
        assert await asyncio.wait_for(names(db), 10) == []
    finally:
        gate.release.set()
    await held
    assert await names(db) == ["uncommitted"]


def feed_row(uid: str) -> tuple[Any, ...]:
    from ampnexus.store.feed import FEED_ROWS

    return FEED_ROWS, [(uid, "session.started", None, None, AT, "{}", False)]


async def feed_uids(db: Database) -> list[str]:
    from ampnexus.store.tables import feed_events

    return await db.read(lambda conn: sorted(conn.execute(select(feed_events.c.uid)).scalars()))


async def test_a_write_and_the_events_it_announces_commit_together_or_not_at_all(db: Database):
    """The outbox: `then` rows go in the write's transaction, in its savepoint when a batch
    is retried write by write, so a change is never kept without its events, nor events
    without their change."""

    def duplicate_event(key_id: int) -> tuple[Any, ...]:
        return (feed_row("dup"),)  # its second use breaks the unique event id

    gate = Gate()
    held = await gate.hold(db)
    tasks = [
        asyncio.create_task(
            db.write(insert_key("kept"), lambda key_id: (feed_row(f"ev-{key_id}"),))
        ),
        asyncio.create_task(db.write(insert_key("first"), duplicate_event)),
        asyncio.create_task(db.write(insert_key("second"), duplicate_event)),
        asyncio.create_task(db.write(insert_key("plain"))),
    ]
    await asyncio.sleep(0)
    gate.release.set()
    await held
    kept, first, second, plain = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(kept, int) and isinstance(first, int) and isinstance(plain, int)
    assert isinstance(second, IntegrityError)  # its event could not be stored: nor its change
    assert await names(db) == ["first", "kept", "plain"]
    assert await feed_uids(db) == sorted(["dup", f"ev-{kept}"])
