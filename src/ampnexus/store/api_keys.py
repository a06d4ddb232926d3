"""API keys in SQL; only digests are stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from ampnexus.domain.api_key import ApiKey, ApiKeyScope
from ampnexus.store.database import Database
from ampnexus.store.tables import api_keys


class SqlApiKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, name: str, scope: ApiKeyScope, prefix: str, digest: str, at: datetime
    ) -> ApiKey:
        def work(conn: Connection) -> ApiKey:
            key_id = conn.execute(
                insert(api_keys)
                .values(name=name, scope=scope.value, prefix=prefix, digest=digest, created_at=at)
                .returning(api_keys.c.id)
            ).scalar_one()
            return ApiKey(key_id, name, prefix, at, scope=scope)

        return await self._db.write(work)

    async def find_active(self, digest: str) -> ApiKey | None:
        def work(conn: Connection) -> ApiKey | None:
            row = conn.execute(
                select(api_keys).where(api_keys.c.digest == digest, api_keys.c.revoked_at.is_(None))
            ).first()
            return _api_key(row) if row else None

        return await self._db.read(work)

    async def list(self) -> Sequence[ApiKey]:
        def work(conn: Connection) -> list[ApiKey]:
            return [_api_key(row) for row in conn.execute(select(api_keys).order_by(api_keys.c.id))]

        return await self._db.read(work)

    async def revoke(self, key_id: int, at: datetime) -> bool:
        def work(conn: Connection) -> bool:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            return result.rowcount > 0

        return await self._db.write(work)


def _api_key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        row.id,
        row.name,
        row.prefix,
        row.created_at,
        row.revoked_at,
        row.last_used_at,
        ApiKeyScope(row.scope),
    )
