"""API keys for the REST API: created once with a scope, verified by digest, revoked for good."""

from __future__ import annotations

from collections.abc import Sequence

from ampnexus.domain.api_key import ApiKey, ApiKeyScope
from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.domain.time import Clock
from ampnexus.services.ports import ApiKeyStore
from ampnexus.services.secrets import api_key_digest, new_api_key


class ApiKeyService:
    def __init__(self, store: ApiKeyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create(self, name: str, *, scope: ApiKeyScope) -> tuple[ApiKey, str]:
        """Returns the key record and the secret, which is never stored nor shown again.
        The scope has no default: every caller says how much the key may do."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise Invalid("an API key needs a name of 1 to 100 characters")
        secret = new_api_key()
        digest = api_key_digest(secret)
        key = await self._store.add(name, scope, secret[:12], digest, self._clock.now())
        return key, secret

    async def verify(self, secret: str) -> ApiKey | None:
        return await self._store.find_active(api_key_digest(secret))

    async def list(self) -> Sequence[ApiKey]:
        return await self._store.list()

    async def revoke(self, key_id: int) -> None:
        if not await self._store.revoke(key_id, self._clock.now()):
            raise NotFound(f"API key {key_id} does not exist or is already revoked")
