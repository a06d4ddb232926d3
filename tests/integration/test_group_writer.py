"""The group-committing writer on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from ampnexus.services.secrets import api_key_digest
from ampnexus.store.api_keys import SqlApiKeyStore
from ampnexus.store.database import Database
from ampnexus.store.tables import api_keys

AT = datetime(2025, 1, 1, tzinfo=UTC)


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
    original = await store.add("original", "anx_orig", "d" * 64, AT)

    gate = Gate()
    held = await gate.hold(db)
    seen: list[Connection] = []
    before = [insert_key(f"before-{i}", seen) for i in range(10)]
    after = [insert_key(f"after-{i}", seen) for i in range(10)]
    tasks = await submit_all(db, before)
    duplicate = asyncio.create_task(store.add("copycat", "anx_copy", "d" * 64, AT))
    tasks += await submit_all(db, after)
    gate.release.set()
    await held

    with pytest.raises(IntegrityError):
        await duplicate
    ids = await asyncio.gather(*tasks)  # none of the neighbours failed
    assert len(set(ids)) == 20
    # The writes before the duplicate really ran in its batch, which failed and was rolled
    # back; each was then retried on its own (10 + 10 runs), the ones after it once each.
    assert len({id(conn) for conn in seen[:10]}) == 1
    assert len(seen) == 30
    assert len({id(conn) for conn in seen[10:]}) == 20

    stored = await names(db)
    assert stored == sorted(
        ["original", *(f"before-{i}" for i in range(10))] + [f"after-{i}" for i in range(10)]
    )
    assert "copycat" not in stored
    found = await store.find_active("d" * 64)
    assert found is not None and found.id == original.id and found.name == "original"


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
