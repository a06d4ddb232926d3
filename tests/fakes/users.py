"""Portal users and sessions in memory, as store/users.py keeps them in SQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ampnexus.domain.errors import Conflict
from ampnexus.domain.user import PortalSession, Role, User
from tests.fakes.memory import ForeignKeyViolation, Memory

_CHANGEABLE = frozenset({"role", "password_hash", "disabled_at", "last_login_at"})


class FakeUserStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def add(self, email: str, role: Role, password_hash: str, at: datetime) -> User:
        if any(user.email == email for user, _ in self._m.users.values()):
            raise Conflict(f"a user with the email {email} exists")  # the column is unique
        user = User(self._m.next_id("users"), email, role, at)
        self._m.users[user.id] = (user, password_hash)
        return user

    async def get(self, user_id: int) -> User | None:
        found = self._m.users.get(user_id)
        return found[0] if found else None

    async def find(self, email: str) -> tuple[User, str] | None:
        return next((pair for pair in self._m.users.values() if pair[0].email == email), None)

    async def list(self) -> Sequence[User]:
        return sorted((user for user, _ in self._m.users.values()), key=lambda u: u.email)

    async def delete(self, user_id: int) -> bool:
        if self._m.users.pop(user_id, None) is None:
            return False
        for digest, session in list(self._m.portal_sessions.items()):  # ON DELETE CASCADE
            if session.user_id == user_id:
                del self._m.portal_sessions[digest]
        return True

    async def update(self, user_id: int, changes: dict[str, Any]) -> User | None:
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"users have no changeable {sorted(unknown)}")
        found = self._m.users.get(user_id)
        if found is None:
            return None
        user, password_hash = found
        password_hash = changes.get("password_hash", password_hash)
        fields = {k: v for k, v in changes.items() if k != "password_hash"}
        if "role" in fields:
            fields["role"] = Role(fields["role"])
        user = replace(user, **fields)
        self._m.users[user_id] = (user, password_hash)
        return user


class FakePortalSessionStore:
    """Sessions by their token's digest."""

    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def add(
        self, user_id: int, digest: str, csrf_token: str, at: datetime, expires_at: datetime
    ) -> PortalSession:
        if user_id not in self._m.users:
            raise ForeignKeyViolation(f"no user {user_id}")
        if digest in self._m.portal_sessions:
            raise Conflict("a session with this digest exists")  # the column is unique
        session = PortalSession(
            self._m.next_id("portal_sessions"), user_id, at, expires_at, at, csrf_token
        )
        self._m.portal_sessions[digest] = session
        return session

    async def find(self, digest: str) -> tuple[User, PortalSession] | None:
        session = self._m.portal_sessions.get(digest)
        if session is None:
            return None
        return self._m.users[session.user_id][0], session

    async def touch(self, session_id: int, at: datetime) -> None:
        for digest, session in self._m.portal_sessions.items():
            if session.id == session_id:
                self._m.portal_sessions[digest] = replace(session, last_seen_at=at)

    async def delete(self, digest: str) -> bool:
        return self._m.portal_sessions.pop(digest, None) is not None

    async def delete_for_user(self, user_id: int) -> int:
        return self._delete_where(lambda s: s.user_id == user_id)

    async def delete_expired(self, now: datetime, idle_since: datetime) -> int:
        return self._delete_where(lambda s: s.expires_at <= now or s.last_seen_at <= idle_since)

    def _delete_where(self, doomed: Callable[[PortalSession], bool]) -> int:
        digests = [d for d, s in self._m.portal_sessions.items() if doomed(s)]
        for digest in digests:
            del self._m.portal_sessions[digest]
        return len(digests)
