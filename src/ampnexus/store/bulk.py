"""Statements the group writer runs for many rows at once, compiled once per dialect.

The OCPP hot path writes tens of thousands of rows a second (meter samples, status
history, connector states). Through SQLAlchemy's per-row machinery (a statement object,
its cache key, the parameter dictionary, a bind processor per value) each row cost more
than SQLite's own work. A `Bulk` statement is compiled once; its rows are plain tuples in
column order, and a batch of them is one DBAPI executemany. Values still pass through each
column type's own bind processor, so the stored bytes are exactly what SQLAlchemy itself
writes and every read sees the same data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table, bindparam

from ampnexus.store.upsert import conflict_insert

Row = tuple[Any, ...]
Processor = Callable[[Any], Any]


class Bulk:
    """INSERT of `columns` into `table`; with `conflict` (the key columns), an upsert that
    overwrites the other columns, so the last row written for a key wins."""

    def __init__(self, table: Table, columns: Sequence[str], conflict: Sequence[str] = ()) -> None:
        unknown = set(columns) - set(table.c.keys())
        if unknown or not set(conflict) <= set(columns):
            raise ValueError(f"{table.name}: bad bulk columns {sorted(unknown)} / {conflict}")
        self.table = table
        self.columns = tuple(columns)
        self.conflict = tuple(conflict)
        self._compiled: dict[str, tuple[str, list[tuple[int, Processor]]]] = {}

    def __repr__(self) -> str:
        return f"Bulk({self.table.name}, {len(self.columns)} columns)"

    def execute(self, connection: Connection, rows: list[Row]) -> None:
        """Write the rows in the connection's transaction: one executemany."""
        if rows:
            sql, values = self.prepare(connection.dialect, rows)
            connection.exec_driver_sql(sql, values)  # type: ignore[arg-type]

    def prepare(self, dialect: Dialect, rows: list[Row]) -> tuple[str, list[Row]]:
        """The SQL for this dialect and the rows with every value in its database form."""
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        sql, processors = compiled
        if not processors:
            return sql, rows
        return sql, _process(rows, processors)

    def _compile(self, dialect: Dialect) -> tuple[str, list[tuple[int, Processor]]]:
        insert = conflict_insert(self.table, dialect.name)
        statement = insert.values({c: bindparam(c) for c in self.columns})
        if self.conflict:
            updated = {c: statement.excluded[c] for c in self.columns if c not in self.conflict}
            statement = statement.on_conflict_do_update(
                index_elements=list(self.conflict), set_=updated
            )
        compiled = statement.compile(dialect=_positional(dialect))
        if list(compiled.positiontup or ()) != list(self.columns):
            raise AssertionError(f"{self}: parameters compiled out of column order")
        processors = []
        for index, name in enumerate(self.columns):
            column_type = self.table.c[name].type
            processor = column_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((index, processor))
        return str(compiled), processors


def _positional(dialect: Dialect) -> Dialect:
    """The dialect with a positional parameter style, so rows can be tuples."""
    if dialect.positional:
        return dialect
    return type(dialect)(paramstyle="format")


def _process(rows: list[Row], processors: list[tuple[int, Processor]]) -> list[Row]:
    # Rows of one message share their timestamps: convert each distinct value once.
    memos: list[dict[Any, Any]] = [{} for _ in processors]
    out = []
    for row in rows:
        values = list(row)
        for (index, processor), memo in zip(processors, memos, strict=True):
            value = values[index]
            if value is not None:
                converted = memo.get(value)
                if converted is None:
                    converted = memo[value] = processor(value)
                values[index] = converted
        out.append(tuple(values))
    return out
