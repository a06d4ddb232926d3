"""Engine, migrations and the group-committing writer.

Every write is a function of a SQLAlchemy connection, or rows for a `Bulk` statement
(store/bulk.py). The writer thread runs all writes that are waiting in one transaction
and commits once, so a burst of meter values costs one commit (one fsync) instead of
hundreds. Bulk rows of a batch go after its other writes, one executemany per statement,
rows of one statement in the order they were given. A caller's future is resolved only
after the commit: a charger is answered only once its data is safe.

One failing write fails only its own caller: a batch that fails is rolled back and run
once more in one transaction with each write in a savepoint of its own, so the others
still commit together (see ADR 0002).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ampnexus.errors import DatabaseUnavailable
from ampnexus.store.bulk import Bulk, Row

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[Connection], T]
Parts = tuple[tuple[Bulk, list[Row]], ...]
# Rows that go with a write's result, in its transaction (the events it caused: the outbox).
Then = Callable[[T], Parts]

MAX_BATCH = 512


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@dataclass(slots=True)
class _Job:
    work: Work[Any] | None
    future: asyncio.Future[Any]
    parts: tuple[tuple[Bulk, list[Row]], ...] = ()
    then: Then[Any] | None = None
    result: Any = None
    error: Exception | None = None


class GroupWriter:
    """One thread, one transaction per batch of waiting writes."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self._engine = engine
        self._loop = loop
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ampnexus-writer", daemon=True)
        self._thread.start()

    def submit(self, work: Work[T], then: Then[T] | None = None) -> asyncio.Future[T]:
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(work, future, then=then))
        return future

    def append(self, parts: tuple[tuple[Bulk, list[Row]], ...]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put(_Job(None, future, parts))
        return future

    def close(self) -> None:
        """Finish every write already submitted, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            self._settle(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> None:
        """The whole batch in one transaction, without savepoints: they would cost every
        write a statement (two round trips on PostgreSQL) to guard against a rare failure."""
        try:
            with self._engine.begin() as connection:
                for job in batch:
                    job.result = _run_work(connection, job) if job.work else None
                _run_bulk(connection, batch)
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
            else:
                self._commit_isolated(batch)

    def _commit_isolated(self, batch: list[_Job]) -> None:
        """After a failed batch: once more in one transaction and one commit, each write in a
        savepoint of its own, so a failing write fails only its own caller."""
        try:
            with self._engine.begin() as connection:
                _begin_before_savepoints(connection)
                for job in batch:
                    if job.work is not None:
                        job.result, job.error = _in_savepoint(
                            connection, partial(_run_work, job=job)
                        )
                _run_bulk_isolated(connection, batch)
        except Exception:
            # The transaction itself failed (its commit, or the connection): each job alone.
            for job in batch:
                self._commit_alone(job)

    def _commit_alone(self, job: _Job) -> None:
        job.result, job.error = None, None
        try:
            with self._engine.begin() as connection:
                job.result = _run_work(connection, job) if job.work else None
                _execute_parts(connection, job.parts)
        except Exception as error:
            job.error = error

    def _settle(self, batch: list[_Job]) -> None:
        def resolve() -> None:
            for job in batch:
                if job.future.done():
                    continue
                if job.error is not None:
                    job.future.set_exception(job.error)
                else:
                    job.future.set_result(job.result)

        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(resolve)


def _run_work(connection: Connection, job: _Job) -> Any:
    """The job's work, then the rows that go with its result: one unit, in one savepoint
    when there are savepoints, so a change is never committed without its events."""
    assert job.work is not None
    result = job.work(connection)
    if job.then is not None:
        _execute_parts(connection, job.then(result))
    return result


def _begin_before_savepoints(connection: Connection) -> None:
    """pysqlite (on Python 3.11, in its default legacy mode) begins a transaction only
    before an INSERT, UPDATE or DELETE: a SAVEPOINT before one would open a transaction of
    its own, and its RELEASE would commit. So BEGIN here, as SQLAlchemy's documentation
    does in an engine event; an event would cost every read and statement its dispatch,
    and only this path takes savepoints. pysqlite commits and rolls back what we began."""
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")


def _in_savepoint(connection: Connection, work: Work[T]) -> tuple[T | None, Exception | None]:
    """The work's result, or its error with everything it did rolled back."""
    try:
        with connection.begin_nested():
            return work(connection), None
    except Exception as error:
        return None, error


def _run_bulk(connection: Connection, batch: list[_Job]) -> None:
    by_statement: dict[Bulk, list[Row]] = {}
    for job in batch:
        for bulk, rows in job.parts:
            by_statement.setdefault(bulk, []).extend(rows)
    _execute_parts(connection, tuple(by_statement.items()))


def _run_bulk_isolated(connection: Connection, batch: list[_Job]) -> None:
    """The batch's rows merged as usual; if that fails, each job's rows in a savepoint of
    their own, so only the jobs whose rows fail get the error."""
    jobs = [job for job in batch if job.parts and job.error is None]
    if not jobs:
        return
    _, error = _in_savepoint(connection, lambda conn: _run_bulk(conn, jobs))
    if error is None:
        return
    for job in jobs:
        _, job.error = _in_savepoint(connection, partial(_execute_parts, parts=job.parts))


def _execute_parts(connection: Connection, parts: tuple[tuple[Bulk, list[Row]], ...]) -> None:
    for bulk, rows in parts:
        bulk.execute(connection, rows)


class Database:
    """Reads run in worker threads; writes go through the group writer."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        try:
            self.engine = create_db_engine(self.url)
        except OSError as error:  # the SQLite file's directory cannot be made
            raise self._unavailable(f"cannot make {error.filename}: {error.strerror}") from error
        self._writer: GroupWriter | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """The first connection: DatabaseUnavailable if there is no usable database."""
        try:
            migrate(self.engine)
        except OperationalError as error:  # unreachable, no such database, unwritable file
            raise self._unavailable(str(error.orig)) from error

    def _unavailable(self, reason: str) -> DatabaseUnavailable:
        url = make_url(self.url)
        shown = url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)
        lines = (" ".join(line.split()) for line in reason.splitlines())
        reason = "; ".join(filter(None, lines)) or "unknown error"  # the driver's lines, as one
        if "does not exist" in reason and url.database:
            reason += f" (create it first, e.g. createdb {url.database})"
        return DatabaseUnavailable(f"cannot use the database {shown}: {reason}")

    def start(self) -> None:
        self._writer = GroupWriter(self.engine, asyncio.get_running_loop())

    async def write(self, work: Work[T], then: Then[T] | None = None) -> T:
        """`then`: rows to write with the work's result in the same transaction (the
        events the change caused), so both commit or neither does."""
        if self._writer is None:
            return await asyncio.to_thread(self.write_now, work, then)
        return await self._writer.submit(work, then)

    async def append(self, bulk: Bulk, rows: list[Row]) -> None:
        """Write rows through a bulk statement (meter values, status history, connector
        states), batched with other writes."""
        if rows:
            await self.append_many((bulk, rows))

    async def append_many(self, *parts: tuple[Bulk, list[Row]]) -> None:
        """Rows for several bulk statements, committed together."""
        if self._writer is None:
            await asyncio.to_thread(self.write_now, lambda conn: _execute_parts(conn, parts))
            return
        await self._writer.append(parts)

    async def read(self, work: Work[T]) -> T:
        return await asyncio.to_thread(self.read_now, work)

    def write_now(self, work: Work[T], then: Then[T] | None = None) -> T:
        with self.engine.begin() as connection:
            result = work(connection)
            if then is not None:
                _execute_parts(connection, then(result))
            return result

    def read_now(self, work: Work[T]) -> T:
        with self.engine.connect() as connection:
            return work(connection)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.engine.dispose()
