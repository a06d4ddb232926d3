"""API keys: shown once, stored as a digest, revocable, each with a scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ApiKeyScope(StrEnum):
    """What a key may do, each scope including the ones before it: `read` reads,
    `operator` runs the site, `admin` also manages API keys."""

    READ = "read"
    OPERATOR = "operator"
    ADMIN = "admin"

    def covers(self, needed: ApiKeyScope) -> bool:
        return _RANKS.index(self) >= _RANKS.index(needed)


_RANKS = (ApiKeyScope.READ, ApiKeyScope.OPERATOR, ApiKeyScope.ADMIN)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    scope: ApiKeyScope = ApiKeyScope.READ

    @property
    def active(self) -> bool:
        return self.revoked_at is None
