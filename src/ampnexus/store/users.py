"""Portal users and their sessions in SQL; a session is stored as its token's digest only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ampnexus.domain.errors import Conflict
from ampnexus.domain.user import PortalSession, Role, User
from ampnexus.store.database import Database
from ampnexus.store.tables import portal_sessions, users

_CHANGEABLE = frozenset({"role", "password_hash", "disabled_at", "last_login_at"})


class SqlUserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, email: str, role: Role, password_hash: str, at: datetime) -> User:
        def work(conn: Connection) -> User:
            user_id = conn.execute(
                insert(users)
                .values(email=email, role=role.value, password_hash=password_hash, created_at=at)
                .returning(users.c.id)
            ).scalar_one()
            return User(user_id, email, role, at)

        try:
            return await self._db.write(work)
        except IntegrityError as error:
            raise Conflict(f"a user with the email {email} exists") from error

    async def get(self, user_id: int) -> User | None:
        def work(conn: Connection) -> User | None:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
            return _user(row) if row else None

        return await self._db.read(work)

    async def find(self, email: str) -> tuple[User, str] | None:
        def work(conn: Connection) -> tuple[User, str] | None:
            row = conn.execute(select(users).where(users.c.email == email)).first()
            return (_user(row), row.password_hash) if row else None

        return await self._db.read(work)

    async def list(self) -> Sequence[User]:
        def work(conn: Connection) -> list[User]:
            return [_user(row) for row in conn.execute(select(users).order_by(users.c.email))]

        return await self._db.read(work)

    async def delete(self, user_id: int) -> bool:
        def work(conn: Connection) -> bool:
            # The foreign key cascades; deleting the sessions first says so on any backend.
            conn.execute(delete(portal_sessions).where(portal_sessions.c.user_id == user_id))
            return conn.execute(delete(users).where(users.c.id == user_id)).rowcount > 0

        return await self._db.write(work)

    async def update(self, user_id: int, changes: dict[str, Any]) -> User | None:
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"users have no changeable {sorted(unknown)}")
        values = {k: v.value if isinstance(v, Role) else v for k, v in changes.items()}

        def work(conn: Connection) -> User | None:
            row = conn.execute(
                update(users).where(users.c.id == user_id).values(values).returning(*users.c)
            ).first()
            return _user(row) if row else None

        return await self._db.write(work)


class SqlPortalSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, user_id: int, digest: str, csrf_token: str, at: datetime, expires_at: datetime
    ) -> PortalSession:
        def work(conn: Connection) -> PortalSession:
            session_id = conn.execute(
                insert(portal_sessions)
                .values(
                    user_id=user_id,
                    digest=digest,
                    csrf_token=csrf_token,
                    created_at=at,
                    last_seen_at=at,
                    expires_at=expires_at,
                )
                .returning(portal_sessions.c.id)
            ).scalar_one()
            return PortalSession(session_id, user_id, at, expires_at, at, csrf_token)

        return await self._db.write(work)

    async def find(self, digest: str) -> tuple[User, PortalSession] | None:
        def work(conn: Connection) -> tuple[User, PortalSession] | None:
            s = portal_sessions.c
            row = conn.execute(
                select(
                    users,
                    s.id.label("session_id"),
                    s.created_at.label("session_created_at"),
                    s.expires_at,
                    s.last_seen_at,
                    s.csrf_token,
                )
                .join(portal_sessions, s.user_id == users.c.id)
                .where(s.digest == digest)
            ).first()
            if row is None:
                return None
            session = PortalSession(
                row.session_id,
                row.id,
                row.session_created_at,
                row.expires_at,
                row.last_seen_at,
                row.csrf_token,
            )
            return _user(row), session

        return await self._db.read(work)

    async def touch(self, session_id: int, at: datetime) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                update(portal_sessions)
                .where(portal_sessions.c.id == session_id)
                .values(last_seen_at=at)
            )
        )

    async def delete(self, digest: str) -> bool:
        def work(conn: Connection) -> bool:
            query = delete(portal_sessions).where(portal_sessions.c.digest == digest)
            return conn.execute(query).rowcount > 0

        return await self._db.write(work)

    async def delete_for_user(self, user_id: int) -> int:
        def work(conn: Connection) -> int:
            query = delete(portal_sessions).where(portal_sessions.c.user_id == user_id)
            return int(conn.execute(query).rowcount)

        return await self._db.write(work)

    async def delete_expired(self, now: datetime, idle_since: datetime) -> int:
        def work(conn: Connection) -> int:
            s = portal_sessions.c
            query = delete(portal_sessions).where(
                or_(s.expires_at <= now, s.last_seen_at <= idle_since)
            )
            return int(conn.execute(query).rowcount)

        return await self._db.write(work)


def _user(row: Row[Any]) -> User:
    return User(
        row.id,
        row.email,
        Role(row.role),
        row.created_at,
        row.disabled_at,
        row.last_login_at,
    )
