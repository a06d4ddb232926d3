"""AuthorizationService against an in-memory id tag store and a fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.id_tag import AuthorizationStatus, IdTag
from ampnexus.services.authorization import AuthorizationService
from tests.fakes import Fakes


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def authorization(fakes: Fakes) -> AuthorizationService:
    return AuthorizationService(fakes.id_tags, fakes.clock)


async def test_an_unknown_tag_is_invalid(authorization: AuthorizationService) -> None:
    assert (await authorization.authorize("NOBODY")).status is AuthorizationStatus.INVALID


async def test_a_tag_expires_when_the_clock_reaches_its_expiry(
    fakes: Fakes, authorization: AuthorizationService
) -> None:
    expiry = fakes.clock.now() + timedelta(hours=1)
    await authorization.add(IdTag("TAG-1", expiry_date=expiry, parent_id_tag="FLEET"))
    info = await authorization.authorize("TAG-1")
    assert (info.status, info.expiry_date, info.parent_id_tag) == (
        AuthorizationStatus.ACCEPTED,
        expiry,
        "FLEET",
    )
    fakes.clock.advance(minutes=59, seconds=59)
    assert (await authorization.authorize("TAG-1")).status is AuthorizationStatus.ACCEPTED
    fakes.clock.advance(seconds=1)  # expiry is inclusive, and the cached tag is judged anew
    assert (await authorization.authorize("TAG-1")).status is AuthorizationStatus.EXPIRED


async def test_a_blocked_tag_stays_blocked_whatever_its_expiry(
    fakes: Fakes, authorization: AuthorizationService
) -> None:
    past = fakes.clock.now() - timedelta(days=1)
    await authorization.add(IdTag("TAG-1", AuthorizationStatus.BLOCKED, expiry_date=past))
    assert (await authorization.authorize("TAG-1")).status is AuthorizationStatus.BLOCKED


async def test_tags_compare_case_insensitively(authorization: AuthorizationService) -> None:
    await authorization.add(IdTag("Card-7"))
    assert (await authorization.authorize("CARD-7")).status is AuthorizationStatus.ACCEPTED
    assert (await authorization.get("card-7")).id_tag == "Card-7"  # its own spelling kept
    with pytest.raises(Conflict, match="case-insensitively"):
        await authorization.add(IdTag("CARD-7"))
    with pytest.raises(Conflict) as same:
        await authorization.add(IdTag("Card-7"))
    assert "case" not in str(same.value)


async def test_changes_made_here_take_effect_at_once_in_every_spelling(
    authorization: AuthorizationService,
) -> None:
    # Looked up (and cached) as unknown and as accepted under several spellings first.
    assert (await authorization.authorize("tag-1")).status is AuthorizationStatus.INVALID
    await authorization.add(IdTag("TAG-1"))
    assert (await authorization.authorize("tag-1")).status is AuthorizationStatus.ACCEPTED
    await authorization.update("Tag-1", {"status": "Blocked"})
    assert (await authorization.authorize("TAG-1")).status is AuthorizationStatus.BLOCKED
    assert (await authorization.authorize("tag-1")).status is AuthorizationStatus.BLOCKED
    await authorization.delete("tag-1")
    assert (await authorization.authorize("TAG-1")).status is AuthorizationStatus.INVALID


async def test_an_update_keeps_the_tag_s_spelling(
    fakes: Fakes, authorization: AuthorizationService
) -> None:
    await authorization.add(IdTag("Card-7"))
    updated = await authorization.update("CARD-7", {"description": "van 3"})
    assert updated.id_tag == "Card-7"
    assert (await fakes.id_tags.get("card-7")) == IdTag("Card-7", description="van 3")


@pytest.mark.parametrize(
    "tag",
    [
        IdTag(""),
        IdTag("X" * 21),
        IdTag("TAG", parent_id_tag="P" * 21),
        IdTag("TAG", AuthorizationStatus.CONCURRENT_TX),
    ],
)
async def test_malformed_tags_are_refused_and_not_stored(
    fakes: Fakes, authorization: AuthorizationService, tag: IdTag
) -> None:
    with pytest.raises(Invalid):
        await authorization.add(tag)
    assert (await fakes.id_tags.list(10, 0)).total == 0


async def test_deleting_or_updating_an_unknown_tag_is_not_found(
    authorization: AuthorizationService,
) -> None:
    with pytest.raises(NotFound):
        await authorization.delete("GHOST")
    with pytest.raises(NotFound):
        await authorization.update("GHOST", {"description": "x"})
