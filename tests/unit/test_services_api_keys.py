"""ApiKeyService: a key is shown once, found by its secret, revoked for good."""

from __future__ import annotations

import pytest

from ampnexus.domain.api_key import ApiKeyScope
from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.services.api_keys import ApiKeyService
from tests.fakes import Fakes


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def keys(fakes: Fakes) -> ApiKeyService:
    return ApiKeyService(fakes.api_keys, fakes.clock)


async def test_a_key_is_found_by_its_secret_only(fakes: Fakes, keys: ApiKeyService) -> None:
    key, secret = await keys.create("  ops  ", scope=ApiKeyScope.OPERATOR)
    assert (key.name, key.scope, key.created_at) == ("ops", ApiKeyScope.OPERATOR, fakes.clock.now())
    assert secret.startswith(key.prefix) and len(secret) > len(key.prefix)
    assert secret not in {digest for _, digest in fakes.memory.api_keys.values()}  # not stored
    assert await keys.verify(secret) == key
    assert await keys.verify(secret + "x") is None
    other, other_secret = await keys.create("ops", scope=ApiKeyScope.READ)
    assert other_secret != secret and (await keys.verify(other_secret)) == other


async def test_a_revoked_key_stays_revoked(fakes: Fakes, keys: ApiKeyService) -> None:
    key, secret = await keys.create("ops", scope=ApiKeyScope.ADMIN)
    fakes.clock.advance(days=1)
    await keys.revoke(key.id)
    assert await keys.verify(secret) is None
    [listed] = await keys.list()
    assert listed.revoked_at == fakes.clock.now() and not listed.active
    with pytest.raises(NotFound):
        await keys.revoke(key.id)
    with pytest.raises(NotFound):
        await keys.revoke(key.id + 1)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_a_key_needs_a_name(fakes: Fakes, keys: ApiKeyService, name: str) -> None:
    with pytest.raises(Invalid):
        await keys.create(name, scope=ApiKeyScope.READ)
    assert await keys.list() == []
