"""AuthorizationService against an in-memory id tag store and a fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.id_tag import AuthorizationStatus, IdTag, own_id_tag
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


async def test_a_chargers_own_tag_is_made_once_and_accepted_on_that_charger_only(
    fakes: Fakes, authorization: AuthorizationService
) -> None:
    tag = await authorization.own_tag("CP-1")
    assert tag == own_id_tag("CP-1") and len(tag) == 20 and tag.startswith("PNC")
    assert await authorization.own_tag("CP-1") == tag  # the same, not a second one
    assert (await authorization.list(10, 0)).total == 1
    stored = await authorization.get(tag)
    assert (stored.status, stored.charge_point_id) == (AuthorizationStatus.ACCEPTED, "CP-1")
    assert (await authorization.authorize(tag, "CP-1")).status is AuthorizationStatus.ACCEPTED
    assert (await authorization.authorize(tag.lower(), "CP-1")).status is (
        AuthorizationStatus.ACCEPTED
    )
    assert (await authorization.authorize(tag, "CP-2")).status is AuthorizationStatus.INVALID
    assert (await authorization.authorize(tag)).status is AuthorizationStatus.INVALID
    assert await authorization.own_tag("CP-2") != tag


async def test_an_own_tag_seen_unknown_is_accepted_once_made(
    authorization: AuthorizationService,
) -> None:
    name = own_id_tag("CP-1")
    assert (await authorization.authorize(name, "CP-1")).status is AuthorizationStatus.INVALID
    await authorization.own_tag("CP-1")  # the cached "unknown" must not outlive its creation
    assert (await authorization.authorize(name, "CP-1")).status is AuthorizationStatus.ACCEPTED


async def test_an_operators_tag_with_the_own_tags_name_is_not_taken_over(
    authorization: AuthorizationService,
) -> None:
    await authorization.add(IdTag(own_id_tag("CP-1")))
    with pytest.raises(Conflict, match="not restricted to it"):
        await authorization.own_tag("CP-1")
