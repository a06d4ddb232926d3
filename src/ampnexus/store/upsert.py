"""INSERT ... ON CONFLICT for both SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def conflict_insert(table: Table, dialect_name: str) -> postgresql.Insert | sqlite.Insert:
    """The dialect's own INSERT, the one that knows ON CONFLICT (both databases do)."""
    module = postgresql if dialect_name == "postgresql" else sqlite
    return module.insert(table)


def upsert(conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    statement = conflict_insert(table, conn.dialect.name).values(**key, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=values))
