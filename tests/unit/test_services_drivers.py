"""DriverProfileService: profiles bound to id tags, a tag to one profile at most."""

from __future__ import annotations

import pytest

from ampnexus.domain.driver import DriverProfile, PriorityClass
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.id_tag import IdTag
from ampnexus.services.drivers import DriverProfileService
from tests.fakes import Fakes


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    for tag in ("Card-A", "Card-B", "Card-C"):
        await fakes.id_tags.add(IdTag(tag), fakes.clock.now())
    return fakes


@pytest.fixture
def drivers(fakes: Fakes) -> DriverProfileService:
    return DriverProfileService(fakes.drivers, fakes.clock)


async def test_a_profile_binds_tags_by_any_spelling_and_keeps_theirs(
    fakes: Fakes, drivers: DriverProfileService
) -> None:
    created = await drivers.create(
        DriverProfile("Ann", PriorityClass.PREMIUM, id_tags=("CARD-A", "card-b"))
    )
    assert created.id is not None and created.created_at == fakes.clock.now()
    assert created.id_tags == ("Card-A", "Card-B")
    found = await drivers.for_id_tag("CARD-b")
    assert found is not None and (found.id, found.priority) == (created.id, PriorityClass.PREMIUM)


async def test_an_unknown_tag_binds_nothing(fakes: Fakes, drivers: DriverProfileService) -> None:
    with pytest.raises(Invalid, match="GHOST"):
        await drivers.create(DriverProfile("Ann", id_tags=("Card-A", "GHOST")))
    assert (await drivers.list(10, 0)).total == 0
    assert await drivers.for_id_tag("Card-A") is None  # not half bound


async def test_a_tag_belongs_to_one_driver(drivers: DriverProfileService) -> None:
    ann = await drivers.create(DriverProfile("Ann", id_tags=("Card-A",)))
    ben = await drivers.create(DriverProfile("Ben"))
    assert ben.id is not None and ann.id is not None
    with pytest.raises(Conflict):
        await drivers.bind(ben.id, "card-a")
    with pytest.raises(Conflict):
        await drivers.create(DriverProfile("Cy", id_tags=("CARD-A",)))
    await drivers.bind(ann.id, "CARD-A")  # binding again to its own driver is fine
    assert (await drivers.get(ann.id)).id_tags == ("Card-A",)


async def test_an_update_replaces_the_bound_tags(drivers: DriverProfileService) -> None:
    ann = await drivers.create(DriverProfile("Ann", id_tags=("Card-A", "Card-B")))
    assert ann.id is not None
    updated = await drivers.update(ann.id, {"id_tags": ("card-c", "Card-B"), "max_power_w": 7e3})
    assert updated.id_tags == ("Card-B", "Card-C")
    assert updated.max_power_w == 7e3 and updated.created_at == ann.created_at
    assert await drivers.for_id_tag("Card-A") is None


async def test_unbinding_and_deleting(drivers: DriverProfileService) -> None:
    ann = await drivers.create(DriverProfile("Ann", id_tags=("Card-A",)))
    ben = await drivers.create(DriverProfile("Ben", id_tags=("Card-B",)))
    assert ann.id is not None and ben.id is not None
    with pytest.raises(NotFound):
        await drivers.unbind(ann.id, "Card-B")  # Ben's, not Ann's
    await drivers.unbind(ann.id, "card-a")
    assert (await drivers.get(ann.id)).id_tags == ()
    await drivers.delete(ben.id)
    assert await drivers.for_id_tag("Card-B") is None
    with pytest.raises(NotFound):
        await drivers.delete(ben.id)
    with pytest.raises(NotFound):
        await drivers.unbind(ben.id, "Card-B")
    with pytest.raises(NotFound):
        await drivers.bind(ben.id, "Card-B")
