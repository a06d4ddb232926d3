"""Run Alembic on a connection, to a given revision: for tests of upgrades on old data."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from ampnexus.store import database as store_database


def alembic(conn: Connection, action: str, revision: str) -> None:
    """`action` is "upgrade" or "downgrade"."""
    config = Config()
    migrations = Path(store_database.__file__).parent / "migrations"
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = conn
    getattr(command, action)(config, revision)
