"""Portal users on SQLite and PostgreSQL: the service on the SQL stores, migration 0012 up
and down, and `ampnexus user create | list | delete`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from ampnexus.domain.errors import BadCredentials, Conflict
from ampnexus.domain.user import Role
from ampnexus.services.secrets import PasswordHasher
from ampnexus.services.users import UserService
from ampnexus.store.database import Database, create_db_engine
from ampnexus.store.tables import portal_sessions, users
from ampnexus.store.users import SqlPortalSessionStore, SqlUserStore
from tests.fakes import FakeClock
from tests.integration.test_cli import one_line
from tests.integration.test_durability import cli
from tests.support.migrations import alembic

PASSWORD = "correct horse battery"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    database.migrate()
    database.start()
    try:
        yield database
    finally:
        database.close()


async def test_users_and_sessions_in_sql(db: Database) -> None:
    clock = FakeClock()
    service = UserService(
        SqlUserStore(db), SqlPortalSessionStore(db), clock, hasher=PasswordHasher(cost=1)
    )
    try:
        await service.create("Admin@Example.com", PASSWORD, Role.ADMIN)
        bob = await service.create("bob@example.com", PASSWORD, Role.VIEWER)
        with pytest.raises(Conflict):
            await service.create("BOB@example.com", PASSWORD, Role.VIEWER)
        session, token = await service.sign_in("Bob@example.com", PASSWORD, "192.0.2.1")
        with pytest.raises(BadCredentials):
            await service.sign_in("bob@example.com", PASSWORD + "?", "192.0.2.1")

        stored_users = db.read_now(
            lambda c: c.execute(select(users.c.email, users.c.password_hash)).all()
        )
        digests = db.read_now(lambda c: c.execute(select(portal_sessions.c.digest)).scalars().all())
        assert [email for email, _ in stored_users] == ["admin@example.com", "bob@example.com"]
        assert all(PASSWORD not in h and h.startswith("scrypt$") for _, h in stored_users)
        assert token not in digests and len(digests) == 1

        found = await service.session(token)
        assert found is not None and found[0].id == bob.id and found[1] == session
        assert found[0].last_login_at == clock.now()
        clock.advance(hours=12)
        assert await service.session(token) is None  # idle too long: deleted
        _, token = await service.sign_in("bob@example.com", PASSWORD, "192.0.2.1")
        await service.delete("bob@example.com")  # the foreign key takes the session along
        assert await service.session(token) is None
        count = db.read_now(lambda c: c.scalar(select(func.count()).select_from(portal_sessions)))
        assert count == 0
    finally:
        service.close()


async def test_migration_0012_adds_and_drops_the_tables(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0012")
            assert {"users", "portal_sessions"} <= set(inspect(conn).get_table_names())
        with engine.begin() as conn:
            alembic(conn, "downgrade", "0011")
            assert not {"users", "portal_sessions"} & set(inspect(conn).get_table_names())
        with engine.begin() as conn:
            alembic(conn, "upgrade", "head")
    finally:
        engine.dispose()


def test_user_commands(database_url: str, tmp_path: Path) -> None:
    created = cli(database_url, "user", "create", "--email", "Ann@Example.com",
                  "--password", PASSWORD, "--role", "admin", cwd=tmp_path)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "Created user ann@example.com (admin)"
    viewer = cli(database_url, "user", "create", "--email", "bob@example.com",
                 "--password", PASSWORD, cwd=tmp_path)  # fmt: skip
    assert viewer.stdout.strip() == "Created user bob@example.com (viewer)"  # the default

    listed = cli(database_url, "user", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2 and "ann@example.com  [admin]" in lines[0]
    assert "bob@example.com  [viewer]" in lines[1] and "never signed in" in lines[1]
    assert PASSWORD not in listed.stdout

    deleted = cli(database_url, "user", "delete", "BOB@example.com", cwd=tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "Deleted user bob@example.com"
    assert "bob@" not in cli(database_url, "user", "list", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--email", "ann@example.com", "--password", "short"], "12 to 128 characters"),
        (["--email", "ann", "--password", PASSWORD], "not an email address"),
        (
            ["--email", "ann@example.com", "--password", PASSWORD, "--role", "root"],
            "invalid choice",
        ),
        (["--email", "dup@example.com", "--password", PASSWORD], "dup@example.com exists"),
    ],
)
def test_user_create_mistakes_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    first = cli(url, "user", "create", "--email", "dup@example.com", "--password", PASSWORD,
                cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    done = cli(url, "user", "create", *args, cwd=tmp_path)
    assert done.returncode != 0 and says in one_line(done)
    assert PASSWORD not in done.stderr


def test_deleting_an_unknown_or_the_last_admin_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    done = cli(url, "user", "delete", "nobody@example.com", cwd=tmp_path)
    assert done.returncode == 1 and "no user nobody@example.com" in one_line(done)
    cli(url, "user", "create", "--email", "ann@example.com", "--password", PASSWORD,
        "--role", "admin", cwd=tmp_path)  # fmt: skip
    done = cli(url, "user", "delete", "ann@example.com", cwd=tmp_path)
    assert done.returncode == 1 and "only active admin" in one_line(done)
