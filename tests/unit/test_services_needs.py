"""NeedService: needs per transaction and per id tag, and how a running session's energy
and departure are resolved from them, the driver, the driver's history and the site."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from ampnexus.bus.local import LocalBus
from ampnexus.domain.driver import DriverProfile
from ampnexus.domain.errors import Conflict, NotFound
from ampnexus.domain.events import NeedChanged, TransactionStopped
from ampnexus.domain.id_tag import IdTag
from ampnexus.domain.site import Site
from ampnexus.domain.transaction import Transaction, TransactionStart, TransactionStop
from ampnexus.services.needs import NeedService
from tests.fakes import Fakes

# The clock starts on Monday 2 March 2026, 10:00 UTC (GMT in London).
SITE = Site("S", "depot", "Europe/London", default_energy_wh=10_000.0)
SITE_DEPARTURE = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def needs(fakes: Fakes) -> NeedService:
    return NeedService(
        fakes.needs, fakes.transactions, fakes.id_tags, fakes.drivers, fakes.clock, fakes.events
    )


async def running(fakes: Fakes, id_tag: str = "TAG-1", minutes_ago: int = 30) -> Transaction:
    started = fakes.clock.now() - timedelta(minutes=minutes_ago)
    transaction_id = await fakes.transactions.start(
        TransactionStart("CP-1", 1, id_tag, 0, started), started
    )
    transaction = await fakes.transactions.get(transaction_id)
    assert transaction is not None
    return transaction


async def past_session(fakes: Fakes, id_tag: str, days_ago: int, leaves: time, wh: int) -> int:
    day = (fakes.clock.now() - timedelta(days=days_ago)).date()
    arrival = datetime.combine(day, time(8, 0), tzinfo=UTC)
    departure = datetime.combine(day, leaves, tzinfo=UTC)
    transaction_id = await fakes.transactions.start(
        TransactionStart("CP-9", 1, id_tag, 1000, arrival), arrival
    )
    await fakes.transactions.stop(
        TransactionStop("CP-9", transaction_id, 1000 + wh, departure), departure
    )
    return transaction_id


async def test_with_nothing_said_the_site_default_applies(fakes: Fakes, needs: NeedService) -> None:
    resolved = await needs.resolve(await running(fakes), SITE)
    assert (resolved.energy_wh, resolved.departure) == (10_000.0, SITE_DEPARTURE)
    assert (resolved.energy_source, resolved.departure_source, resolved.overdue) == (
        "site",
        "site",
        False,
    )


async def test_the_transaction_s_need_comes_before_the_id_tag_s(
    fakes: Fakes, needs: NeedService
) -> None:
    await fakes.id_tags.add(IdTag("Tag-1"), fakes.clock.now())
    transaction = await running(fakes, "TAG-1")  # the charger spells it otherwise
    leaves = fakes.clock.now() + timedelta(hours=3)
    await needs.set_for_id_tag("tag-1", {"energy_wh": 5_000.0, "departure": leaves})
    await needs.set_for_transaction(transaction.id, {"energy_wh": 20_000.0})
    resolved = await needs.resolve(transaction, SITE)
    assert (resolved.energy_wh, resolved.energy_source) == (20_000.0, "transaction")
    assert (resolved.departure, resolved.departure_source) == (leaves, "id_tag")


async def test_a_target_soc_needs_the_state_of_charge_now(fakes: Fakes, needs: NeedService) -> None:
    transaction = await running(fakes)
    await needs.set_for_transaction(transaction.id, {"target_soc": 80.0, "battery_wh": 60_000.0})
    with_soc = await needs.resolve(transaction, SITE, soc_now=30.0)
    assert (with_soc.energy_wh, with_soc.energy_source) == (30_000.0, "transaction")
    without = await needs.resolve(transaction, SITE)
    assert without.energy_source == "site"


async def test_a_departure_passed_while_plugged_in_becomes_the_next_default(
    fakes: Fakes, needs: NeedService
) -> None:
    transaction = await running(fakes, minutes_ago=60)
    said = fakes.clock.now() + timedelta(minutes=30)
    await needs.set_for_transaction(transaction.id, {"departure": said})
    assert (await needs.resolve(transaction, SITE)).departure == said
    fakes.clock.advance(minutes=30)  # the car is still there at its departure
    overdue = await needs.resolve(transaction, SITE)
    assert overdue.overdue and overdue.departure == SITE_DEPARTURE
    fakes.clock.set(SITE_DEPARTURE + timedelta(minutes=1))  # and past the site's too
    tomorrow = await needs.resolve(transaction, SITE)
    assert tomorrow.overdue and tomorrow.departure == SITE_DEPARTURE + timedelta(days=1)


async def test_the_driver_s_default_comes_before_the_learned_one(
    fakes: Fakes, needs: NeedService
) -> None:
    await fakes.id_tags.add(IdTag("TAG-1"), fakes.clock.now())
    for days_ago in (1, 2, 3):
        await past_session(fakes, "tag-1", days_ago, time(16, 0), 25_000)
    driver = DriverProfile("Ann", default_energy_wh=40_000.0, id_tags=("TAG-1",))
    await fakes.drivers.add(driver)
    resolved = await needs.resolve(await running(fakes), SITE)
    assert (resolved.energy_wh, resolved.energy_source) == (40_000.0, "driver")
    # No driver departure: learned from the sessions, whatever spelling they used.
    assert resolved.departure_source == "learned"
    assert resolved.departure == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


async def test_a_driver_s_history_spans_all_their_cards(fakes: Fakes, needs: NeedService) -> None:
    for tag in ("CARD-A", "CARD-B"):
        await fakes.id_tags.add(IdTag(tag), fakes.clock.now())
    await fakes.drivers.add(DriverProfile("Ben", id_tags=("CARD-A", "CARD-B")))
    await past_session(fakes, "CARD-A", 1, time(12, 0), 8_000)
    await past_session(fakes, "CARD-B", 2, time(12, 0), 8_000)
    transaction = await running(fakes, "CARD-A")
    assert (await needs.resolve(transaction, SITE)).energy_source == "site"  # two: too few
    bus = LocalBus()
    needs.attach(bus)  # histories are cached between replans, until a session stops
    third = await past_session(fakes, "CARD-B", 3, time(12, 0), 8_000)
    bus.publish(TransactionStopped(third, "CP-9", fakes.clock.now(), 1))
    resolved = await needs.resolve(transaction, SITE)
    assert (resolved.energy_wh, resolved.energy_source) == (8_000.0, "learned")


async def test_sessions_with_absurd_clocks_teach_nothing(fakes: Fakes, needs: NeedService) -> None:
    await fakes.id_tags.add(IdTag("TAG-1"), fakes.clock.now())
    await past_session(fakes, "TAG-1", 1, time(12, 0), 8_000)
    await past_session(fakes, "TAG-1", 2, time(12, 0), 8_000)
    future = datetime(9999, 1, 1, 8, tzinfo=UTC)
    transaction_id = await fakes.transactions.start(
        TransactionStart("CP-9", 1, "TAG-1", 0, future), fakes.clock.now()
    )
    await fakes.transactions.stop(
        TransactionStop("CP-9", transaction_id, 8_000, future + timedelta(hours=4)),
        fakes.clock.now(),
    )
    resolved = await needs.resolve(await running(fakes), SITE)
    assert resolved.energy_source == "site"


async def test_a_finished_transaction_takes_no_need(fakes: Fakes, needs: NeedService) -> None:
    transaction = await running(fakes)
    await fakes.transactions.stop(
        TransactionStop("CP-1", transaction.id, 5_000, fakes.clock.now()), fakes.clock.now()
    )
    with pytest.raises(Conflict):
        await needs.set_for_transaction(transaction.id, {"energy_wh": 1.0})
    with pytest.raises(NotFound):
        await needs.set_for_transaction(999, {"energy_wh": 1.0})
    assert fakes.events.of(NeedChanged) == []


async def test_changes_are_announced_for_the_charger_or_for_every_site(
    fakes: Fakes, needs: NeedService
) -> None:
    await fakes.id_tags.add(IdTag("TAG-1"), fakes.clock.now())
    transaction = await running(fakes)
    await needs.set_for_transaction(transaction.id, {"energy_wh": 1_000.0})
    await needs.delete_for_transaction(transaction.id)
    await needs.set_for_id_tag("TAG-1", {"energy_wh": 1_000.0})
    await needs.delete_for_id_tag("tag-1")
    assert [e.charge_point_id for e in fakes.events.of(NeedChanged)] == ["CP-1", "CP-1", None, None]
    with pytest.raises(NotFound):
        await needs.delete_for_id_tag("TAG-1")  # nothing set any more
    with pytest.raises(NotFound):
        await needs.for_transaction(transaction.id)


async def test_an_id_tag_need_is_kept_under_the_tag_s_own_spelling(
    fakes: Fakes, needs: NeedService
) -> None:
    await fakes.id_tags.add(IdTag("Card-7"), fakes.clock.now())
    need = await needs.set_for_id_tag("CARD-7", {"energy_wh": 2_000.0})
    assert (need.id_tag, need.updated_at) == ("Card-7", fakes.clock.now())
    assert (await needs.for_id_tag("card-7")).energy_wh == 2_000.0
    with pytest.raises(NotFound):
        await needs.set_for_id_tag("GHOST", {"energy_wh": 1.0})
    await fakes.id_tags.delete("card-7")  # the need goes with its tag
    assert await fakes.needs.for_id_tag("Card-7") is None
