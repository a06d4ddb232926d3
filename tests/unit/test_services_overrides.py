"""OverrideService ("charge now" on a running session) and EnergyService on the fakes."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_mode import (
    ChangeKind,
    ChargingMode,
    ModeSetting,
    RegulationSettings,
)
from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.domain.events import ModeChanged
from ampnexus.domain.site import Placement, Site
from ampnexus.domain.tariff import Band, Tariff, TariffKind
from ampnexus.domain.transaction import (
    MeterReading,
    SampledValue,
    TransactionStart,
    TransactionStop,
)
from ampnexus.services.energy import EnergyService
from ampnexus.services.overrides import OverrideService, SessionEnded
from ampnexus.services.tariffs import TariffService
from tests.fakes import Fakes


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    now = fakes.clock.now()
    await fakes.charge_points.add(
        ChargePoint("CP-1", 1, RegistrationStatus.ACCEPTED, created_at=now)
    )
    return fakes


@pytest.fixture
def overrides(fakes: Fakes) -> OverrideService:
    return OverrideService(fakes.modes, fakes.transactions, fakes.clock, fakes.events)


async def start(fakes: Fakes, connector: int = 1) -> int:
    begin = TransactionStart("CP-1", connector, "TAG", 0, fakes.clock.now())
    return await fakes.transactions.start(begin, fakes.clock.now())


async def test_charge_now_is_set_once_recorded_and_published(
    fakes: Fakes, overrides: OverrideService
) -> None:
    await fakes.modes.put(
        ModeSetting(
            "CP-1", ChargingMode.REGULATION_COMPLIANCE, RegulationSettings(), "x", fakes.clock.now()
        )
    )
    tx = await start(fakes)
    other = await start(fakes, connector=2)
    shown = await overrides.set(tx, "site-owner")
    assert shown.charge_now and shown.id == tx
    again = await overrides.set(tx, "someone-else")  # already set: nothing recorded
    assert again.charge_now
    assert [t.id for t in await fakes.transactions.active_on(["CP-1"]) if t.charge_now] == [tx]
    assert fakes.events.of(ModeChanged) == [
        ModeChanged("CP-1", "regulation_compliance", fakes.clock.now())
    ]

    fakes.clock.advance(minutes=5)
    cancelled = await overrides.cancel(tx, "driver")
    assert not cancelled.charge_now
    assert not (await overrides.cancel(tx, "driver")).charge_now  # nothing to cancel
    assert len(fakes.events.of(ModeChanged)) == 2
    assert not (await overrides.cancel(other, "driver")).charge_now

    trail = (await fakes.modes.history("CP-1", 10, 0)).items
    assert [(c.kind, c.transaction_id, c.changed_by) for c in trail[:2]] == [
        (ChangeKind.OVERRIDE_CANCELLED, tx, "driver"),
        (ChangeKind.OVERRIDE_SET, tx, "site-owner"),
    ]
    assert trail[0].changed_at - trail[1].changed_at == timedelta(minutes=5)
    assert (trail[0].before, trail[0].after) == (None, None)
    assert (await fakes.modes.get("CP-1")) is not None  # the mode itself is untouched


async def test_unknown_and_stopped_sessions_are_refused(
    fakes: Fakes, overrides: OverrideService
) -> None:
    with pytest.raises(NotFound, match="42"):
        await overrides.set(42, "owner")
    tx = await start(fakes)
    await fakes.transactions.stop(
        TransactionStop("CP-1", tx, 10, fakes.clock.now()), fakes.clock.now()
    )
    with pytest.raises(SessionEnded, match="stopped"):
        await overrides.set(tx, "owner")
    with pytest.raises(SessionEnded):
        await overrides.cancel(tx, "owner")
    assert (await fakes.modes.history("CP-1", 10, 0)).total == 0
    assert fakes.events.of(ModeChanged) == []


async def test_the_energy_report_uses_the_sites_days(fakes: Fakes) -> None:
    energy = _energy(fakes)
    await fakes.sites.add(Site("S", "home", "Europe/London", created_at=fakes.clock.now()))
    await fakes.sites.set_placement(Placement("CP-1", "S"))
    now = fakes.clock.now()  # Monday 2 March 2026, 10:00 UTC (GMT)
    begin = now - timedelta(hours=12)  # Sunday 22:00
    tx = await fakes.transactions.start(TransactionStart("CP-1", 1, "TAG", 0, begin), begin)
    reading = MeterReading(begin + timedelta(hours=1), (SampledValue("3", unit="kWh"),))
    await fakes.transactions.add_meter_values("CP-1", 1, tx, [reading], begin)
    stop = begin + timedelta(hours=4)
    await fakes.transactions.stop(TransactionStop("CP-1", tx, 4000, stop), stop)

    report = await energy.report("CP-1", date(2026, 3, 1), date(2026, 3, 2))
    assert [(s.transaction.id, s.energy_wh) for s in report.sessions] == [(tx, 4000)]
    assert [(day, round(wh)) for day, wh in report.days] == [
        (date(2026, 3, 1), 3333),
        (date(2026, 3, 2), 667),
    ]
    later = await energy.report("CP-1", date(2026, 3, 2), None)
    assert [(day, round(wh)) for day, wh in later.days] == [(date(2026, 3, 2), 667)]
    with pytest.raises(NotFound):
        await energy.report("GHOST")
    with pytest.raises(Invalid):
        await energy.report("CP-1", date(2020, 1, 1), None)


def _energy(fakes: Fakes) -> EnergyService:
    tariffs = TariffService(fakes.tariffs, fakes.sites, fakes.clock)
    return EnergyService(fakes.transactions, fakes.charge_points, fakes.sites, tariffs, fakes.clock)


async def test_a_sessions_cost_and_a_sites_day_price_each_quarter_hour_it_flowed_in(
    fakes: Fakes,
) -> None:
    energy = _energy(fakes)
    await fakes.sites.add(Site("S", "home", "Europe/London", created_at=fakes.clock.now()))
    await fakes.sites.set_placement(Placement("CP-1", "S"))
    begin = fakes.clock.now() - timedelta(hours=12)  # Sunday 22:00 GMT
    tx = await fakes.transactions.start(TransactionStart("CP-1", 1, "TAG", 0, begin), begin)
    reading = MeterReading(begin + timedelta(hours=1), (SampledValue("3", unit="kWh"),))
    await fakes.transactions.add_meter_values("CP-1", 1, tx, [reading], begin)
    stop = begin + timedelta(hours=4)  # Monday 02:00
    await fakes.transactions.stop(TransactionStop("CP-1", tx, 4000, stop), stop)
    assert await energy.session_cost(await fakes.transactions.get(tx)) is None  # no tariff

    night = Band(time(23, 30), time(6, 30), import_price=10)
    await fakes.tariffs.add(
        Tariff("S", "night", TariffKind.TIME_OF_USE, import_price=30, bands=(night,))
    )
    # 3 kWh 22:00-23:00 at 30, then 1 kWh evenly to 02:00: 1/6 at 30, 5/6 at 10.
    cost = await energy.session_cost(await fakes.transactions.get(tx))
    assert cost == pytest.approx(90 + 5 + 25 / 3)
    sunday = await energy.site_day("S", date(2026, 3, 1))
    assert (round(sunday.energy_wh), sunday.cost) == (3333, pytest.approx(90 + 5 + 5 / 3))
    monday = await energy.site_day("S")  # today, the site's day
    assert (monday.day, round(monday.energy_wh)) == (date(2026, 3, 2), 667)
    assert monday.cost == pytest.approx(20 / 3)
    with pytest.raises(NotFound):
        await energy.site_day("GHOST")
