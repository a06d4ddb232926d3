"""Portal users, their roles, and their signed-in sessions (issue 19)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ampnexus.domain.errors import Invalid

MAX_EMAIL = 254  # RFC 5321's longest forward path, less its angle brackets


class Role(StrEnum):
    """What a user may do, each role including the ones before it: a `viewer` reads, an
    `operator` runs the site, an `admin` also manages users and API keys."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def covers(self, needed: Role) -> bool:
        return _RANKS.index(self) >= _RANKS.index(needed)


_RANKS = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str  # lower-cased (see normal_email): one account per address, whatever its case
    role: Role
    created_at: datetime
    disabled_at: datetime | None = None  # a disabled user cannot sign in; sessions end
    last_login_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A signed-in browser. Its token is never stored (only its SHA-256 digest); the CSRF
    token is, since it is no credential on its own and the pages must echo it."""

    id: int
    user_id: int
    created_at: datetime
    expires_at: datetime  # absolute: however active, the user signs in again then
    last_seen_at: datetime  # the idle timeout counts from here
    csrf_token: str


def normal_email(text: str) -> str:
    """The address as stored: stripped and lower-cased. A simple check only (one `@`,
    something on both sides, no spaces, at most 254 characters): the address is a login
    name here, never mailed to."""
    email = text.strip().lower()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in domain
        or len(email) > MAX_EMAIL
        or any(c.isspace() or not c.isprintable() for c in email)
    ):
        raise Invalid(f"{text.strip()[:60]!r} is not an email address (NAME@DOMAIN)")
    return email
