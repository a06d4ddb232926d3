"""TariffService: which tariff is in force for a plan, and its price in each slot."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from ampnexus.charging.model import SlotGrid
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.site import Site
from ampnexus.domain.tariff import Band, PricePeriod, Tariff, TariffKind
from ampnexus.services.tariffs import TariffService
from tests.fakes import Fakes

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday; GMT in London
HALF_HOUR = timedelta(minutes=30)


def hours_from(start: datetime, count: int, slot_seconds: int = 1800) -> SlotGrid:
    return SlotGrid(start, slot_seconds, count)


async def prices(tariffs: TariffService, grid: SlotGrid) -> tuple[list[float], list[float]]:
    """(import, export) per slot on site S, rounded off the per-minute sampling's noise."""
    found = await tariffs.slot_prices("S", grid)
    assert found is not None
    return [round(p, 9) for p in found[0]], [round(p, 9) for p in found[1]]


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    await fakes.sites.add(Site("S", "depot", "Europe/London"))
    await fakes.sites.add(Site("T", "other", "UTC"))
    return fakes


@pytest.fixture
def tariffs(fakes: Fakes) -> TariffService:
    return TariffService(fakes.tariffs, fakes.sites, fakes.clock)


async def test_no_tariff_no_prices(tariffs: TariffService) -> None:
    assert await tariffs.slot_prices("S", hours_from(NOON, 2)) is None
    with pytest.raises(NotFound):
        await tariffs.slot_prices("NOWHERE", hours_from(NOON, 2))


async def test_the_tariff_in_force_at_the_plan_s_start_is_used(tariffs: TariffService) -> None:
    await tariffs.create(Tariff("S", "old", TariffKind.FIXED, import_price=0.20))
    await tariffs.create(
        Tariff("S", "new", TariffKind.FIXED, import_price=0.30, export_price=0.05, valid_from=NOON)
    )
    await tariffs.create(
        Tariff("S", "later", TariffKind.FIXED, import_price=0.90, valid_from=NOON + HALF_HOUR)
    )
    before = await prices(tariffs, hours_from(NOON - HALF_HOUR, 2))
    assert before == ([0.20, 0.20], [0.0, 0.0])  # no export price: export earns nothing
    at_noon = await prices(tariffs, hours_from(NOON, 2))
    # One tariff for the whole plan, even where a later one starts inside it.
    assert at_noon == ([0.30, 0.30], [0.05, 0.05])


async def test_time_of_use_bands_follow_the_site_s_local_time(
    fakes: Fakes, tariffs: TariffService
) -> None:
    peak = Band(time(16, 0), time(19, 0), import_price=0.40)
    await tariffs.create(Tariff("S", "tou", TariffKind.TIME_OF_USE, 0.10, bands=(peak,)))
    summer = datetime(2026, 7, 6, 14, 30, tzinfo=UTC)  # 15:30 BST, a Monday
    imports, _ = await prices(tariffs, hours_from(summer, 3))
    assert imports == [0.10, 0.40, 0.40]  # 15:30, 16:00, 16:30 local


async def test_dynamic_prices_per_slot_and_the_nearest_beyond_them(
    tariffs: TariffService,
) -> None:
    tariff = await tariffs.create(Tariff("S", "agile", TariffKind.DYNAMIC))
    assert tariff.id is not None
    periods = [
        PricePeriod(NOON + i * HALF_HOUR, NOON + (i + 1) * HALF_HOUR, 10.0 + i) for i in (0, 1)
    ]
    assert await tariffs.set_prices("S", tariff.id, periods) == (2, 0)
    imports, _ = await prices(tariffs, hours_from(NOON, 3))
    assert imports == [10.0, 11.0, 11.0]  # the last price known holds
    hourly, _ = await prices(tariffs, hours_from(NOON, 1, 3600))
    assert hourly == [10.5]  # a slot spanning two periods: their time-weighted mean


async def test_new_prices_replace_the_ones_they_overlap(tariffs: TariffService) -> None:
    tariff = await tariffs.create(Tariff("S", "agile", TariffKind.DYNAMIC))
    assert tariff.id is not None
    day = [PricePeriod(NOON + i * HALF_HOUR, NOON + (i + 1) * HALF_HOUR, 10.0) for i in range(4)]
    await tariffs.set_prices("S", tariff.id, day)
    hour = PricePeriod(NOON + HALF_HOUR, NOON + 3 * HALF_HOUR, 50.0)
    assert await tariffs.set_prices("S", tariff.id, [hour]) == (1, 2)
    stored = await tariffs.periods("S", tariff.id, None, None, 10, 0)
    assert [p.import_price for p in stored.items] == [10.0, 50.0, 10.0]
    overlapping = [hour, PricePeriod(NOON, NOON + 2 * HALF_HOUR, 1.0)]
    with pytest.raises(Invalid, match="overlap"):
        await tariffs.set_prices("S", tariff.id, overlapping)


async def test_only_dynamic_tariffs_take_prices(tariffs: TariffService) -> None:
    fixed = await tariffs.create(Tariff("S", "flat", TariffKind.FIXED, import_price=0.2))
    assert fixed.id is not None
    with pytest.raises(Conflict):
        await tariffs.set_prices("S", fixed.id, [PricePeriod(NOON, NOON + HALF_HOUR, 1.0)])


async def test_a_tariff_is_reached_only_through_its_own_site(tariffs: TariffService) -> None:
    tariff = await tariffs.create(Tariff("S", "flat", TariffKind.FIXED, import_price=0.2))
    assert tariff.id is not None
    with pytest.raises(NotFound):
        await tariffs.get("T", tariff.id)
    with pytest.raises(NotFound):
        await tariffs.delete("T", tariff.id)
    await tariffs.delete("S", tariff.id)
    assert (await tariffs.list("S", 10, 0)).total == 0
    with pytest.raises(NotFound):
        await tariffs.create(Tariff("NOWHERE", "flat", TariffKind.FIXED, import_price=0.2))
