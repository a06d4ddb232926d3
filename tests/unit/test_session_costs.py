"""A page of sessions costed at once: the same cost as each one alone, with one read of the
site's tariffs for the page."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.site import Placement, Site
from ampnexus.domain.tariff import Band, Tariff, TariffKind
from ampnexus.domain.transaction import (
    MeterReading,
    SampledValue,
    TransactionStart,
    TransactionStop,
)
from ampnexus.services.energy import EnergyService
from ampnexus.services.tariffs import TariffService
from tests.fakes import Fakes


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    now = fakes.clock.now()
    await fakes.sites.add(Site("S", "home", "Europe/London", created_at=now))
    for charger in ("CP-1", "CP-2"):
        await fakes.charge_points.add(
            ChargePoint(charger, 1, RegistrationStatus.ACCEPTED, created_at=now)
        )
        await fakes.sites.set_placement(Placement(charger, "S"))
    return fakes


@pytest.fixture
def energy(fakes: Fakes) -> EnergyService:
    tariffs = TariffService(fakes.tariffs, fakes.sites, fakes.clock)
    return EnergyService(fakes.transactions, fakes.charge_points, fakes.sites, tariffs, fakes.clock)


async def charge(
    fakes: Fakes, charger: str, hours_ago: float, hours: float, wh: int, first_hour_wh: int
) -> int:
    """A session with one register reading an hour in; running when `hours` is 0."""
    begin = fakes.clock.now() - timedelta(hours=hours_ago)
    tx = await fakes.transactions.start(TransactionStart(charger, 1, "TAG", 0, begin), begin)
    reading = MeterReading(begin + timedelta(hours=1), (SampledValue(str(first_hour_wh)),))
    await fakes.transactions.add_meter_values(charger, 1, tx, [reading], begin)
    if hours:
        stop = begin + timedelta(hours=hours)
        await fakes.transactions.stop(TransactionStop(charger, tx, wh, stop), stop)
    return tx


async def test_a_page_costs_what_each_session_costs_alone(
    fakes: Fakes, energy: EnergyService
) -> None:
    first = await charge(fakes, "CP-1", 12, 4, 4000, 3000)  # Sunday 22:00 to Monday 02:00
    second = await charge(fakes, "CP-2", 30, 2, 1500, 500)
    running = await charge(fakes, "CP-1", 2, 0, 0, 1200)
    page = (await fakes.transactions.list(None, None, 10, 0, registers=True)).items
    assert [t.id for t in page] == [running, second, first]
    assert await energy.session_costs("S", page) == {t.id: None for t in page}  # no tariff

    night = Band(time(23, 30), time(6, 30), import_price=10)
    await fakes.tariffs.add(
        Tariff("S", "night", TariffKind.TIME_OF_USE, import_price=30, bands=(night,))
    )
    costs = await energy.session_costs("S", page)
    # 3 kWh 22:00-23:00 at 30, then 1 kWh evenly to 02:00: 1/6 at 30, 5/6 at 10.
    assert costs[first] == pytest.approx(90 + 5 + 25 / 3)
    for tx in (first, second, running):
        alone = await energy.session_cost(await fakes.transactions.get(tx))
        assert costs[tx] == pytest.approx(alone), tx
    assert costs[running] == pytest.approx(1.2 * 30)  # so far: its latest reading
    assert await energy.session_costs("S", []) == {}
