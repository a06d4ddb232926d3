"""SiteService: the site, its fuse tree and placements, and the SiteChanged a plan follows."""

from __future__ import annotations

import pytest

from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.events import SiteChanged
from ampnexus.domain.site import Circuit, CircuitTreeError, Placement, Site
from ampnexus.domain.tariff import Tariff, TariffKind
from ampnexus.services.sites import SiteService
from tests.fakes import Fakes


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
async def sites(fakes: Fakes) -> SiteService:
    service = SiteService(fakes.sites, fakes.clock, fakes.events)
    for site_id in ("A", "B"):
        await service.create(Site(site_id, f"site {site_id}", "Europe/London", 36_000.0))
    for charge_point_id in ("CP-1", "CP-2"):
        await fakes.charge_points.add(ChargePoint(charge_point_id, 0, RegistrationStatus.ACCEPTED))
    await service.add_circuit(Circuit("A", "main", max_power_w=30_000.0))
    await service.add_circuit(Circuit("A", "row-1", parent_id="main", max_power_w=11_000.0))
    fakes.events.clear()
    return service


def changed(fakes: Fakes) -> list[str]:
    return [event.site_id for event in fakes.events.of(SiteChanged)]


async def test_a_new_site_is_stamped_by_the_clock(fakes: Fakes, sites: SiteService) -> None:
    assert (await sites.get("A")).created_at == fakes.clock.now()
    with pytest.raises(Conflict):
        await sites.create(Site("A", "again", "UTC"))


async def test_an_update_is_stored_and_announced(fakes: Fakes, sites: SiteService) -> None:
    await sites.update("A", {"grid_limit_w": 30_000.0})
    assert (await sites.get("A")).grid_limit_w == 30_000.0
    assert changed(fakes) == ["A"]


async def test_moving_a_charger_announces_both_sites_once_each(
    fakes: Fakes, sites: SiteService
) -> None:
    await sites.place(Placement("CP-1", "A", "row-1", phases=3, max_power_w=11_000.0))
    assert changed(fakes) == ["A"]
    fakes.events.clear()
    await sites.place(Placement("CP-1", "B"))
    assert changed(fakes) == ["A", "B"]
    fakes.events.clear()
    await sites.place(Placement("CP-1", "B", max_power_w=7_400.0))  # stays on B
    assert changed(fakes) == ["B"]
    fakes.events.clear()
    await sites.place(Placement("CP-1"))  # on no site
    assert changed(fakes) == ["B"]
    assert (await sites.layout("B")).placements == ()


async def test_a_placement_must_name_a_site_and_circuit_that_exist(
    fakes: Fakes, sites: SiteService
) -> None:
    with pytest.raises(Invalid):
        await sites.place(Placement("CP-1", "NOWHERE"))
    with pytest.raises(Invalid):
        await sites.place(Placement("CP-1", "B", "row-1"))  # a circuit of site A
    with pytest.raises(NotFound):
        await sites.place(Placement("GHOST", "A"))
    assert (await sites.layout("A")).placements == ()
    assert changed(fakes) == []


async def test_the_fuse_tree_stays_one_tree(sites: SiteService) -> None:
    with pytest.raises(CircuitTreeError):
        await sites.add_circuit(Circuit("A", "second-root"))
    with pytest.raises(CircuitTreeError):
        await sites.update_circuit("A", "main", {"parent_id": "row-1"})
    with pytest.raises(Conflict, match="sub-circuits"):
        await sites.delete_circuit("A", "main")
    with pytest.raises(NotFound):
        await sites.update_circuit("A", "nope", {"max_power_w": 1.0})
    assert [c.id for c in (await sites.layout("A")).circuits] == ["main", "row-1"]


async def test_a_circuit_feeding_chargers_stays(fakes: Fakes, sites: SiteService) -> None:
    await sites.place(Placement("CP-2", "A", "row-1"))
    with pytest.raises(Conflict, match="CP-2"):
        await sites.delete_circuit("A", "row-1")
    await sites.place(Placement("CP-2", "A", "main"))
    await sites.delete_circuit("A", "row-1")
    assert (await sites.circuit("A", "main")).max_power_w == 30_000.0
    with pytest.raises(NotFound):
        await sites.circuit("A", "row-1")


async def test_deleting_a_site_unplaces_its_chargers_and_takes_its_tariffs(
    fakes: Fakes, sites: SiteService
) -> None:
    await sites.place(Placement("CP-1", "A", "row-1"))
    await fakes.tariffs.add(Tariff("A", "flat", TariffKind.FIXED, import_price=0.3))
    fakes.events.clear()
    await sites.delete("A")
    assert changed(fakes) == ["A"]
    assert await sites.placement("CP-1") == Placement("CP-1")
    assert (await fakes.tariffs.list("A", 10, 0)).total == 0
    with pytest.raises(NotFound):
        await sites.delete("A")
    with pytest.raises(NotFound):
        await sites.layout("A")


async def test_placement_of_an_unknown_charger_is_not_found(sites: SiteService) -> None:
    with pytest.raises(NotFound):
        await sites.placement("GHOST")
    assert await sites.placement("CP-2") == Placement("CP-2")
