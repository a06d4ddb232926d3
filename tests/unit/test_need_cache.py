"""NeedService.resolve_all: a site's sessions in one read per kind, nothing read again while
nothing changed, and read again after the event that says what changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from ampnexus.bus.local import LocalBus
from ampnexus.domain.driver import DriverProfile, PriorityClass
from ampnexus.domain.events import DriverChanged, IdTagChanged, TransactionStopped
from ampnexus.domain.needs import PastSession, SessionNeed
from ampnexus.domain.site import Site
from ampnexus.domain.transaction import Transaction
from ampnexus.services.needs import NeedService

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SITE = Site(id="S1", name="Depot", time_zone="UTC", default_departure=time(17, 0))


class Clock:
    def now(self) -> datetime:
        return NOW


class Stores:
    """Needs, drivers and past sessions in memory; counts the reads a replan makes."""

    def __init__(self) -> None:
        self.reads: Counter[str] = Counter()
        self.needs_by_transaction: dict[int, SessionNeed] = {}
        self.needs_by_tag: dict[str, SessionNeed] = {}
        self.drivers: dict[str, DriverProfile] = {}
        self.past: dict[str, list[PastSession]] = {}

    async def for_transactions(self, ids: Sequence[int]) -> dict[int, SessionNeed]:
        self.reads["needs by transaction"] += 1
        return {i: self.needs_by_transaction[i] for i in ids if i in self.needs_by_transaction}

    async def for_id_tags(self, tags: Sequence[str]) -> dict[str, SessionNeed]:
        self.reads["needs by tag"] += 1
        return {
            t.lower(): self.needs_by_tag[t.lower()] for t in tags if t.lower() in self.needs_by_tag
        }

    async def by_id_tags(self, tags: Sequence[str]) -> dict[str, DriverProfile]:
        self.reads["drivers"] += 1
        return {t.lower(): self.drivers[t.lower()] for t in tags if t.lower() in self.drivers}

    async def histories(self, tags: Sequence[str], limit: int) -> dict[str, list[PastSession]]:
        self.reads["histories"] += 1
        return {t: self.past[t][:limit] for t in tags if t in self.past}


def service(stores: Stores, bus: LocalBus) -> NeedService:
    unused: Any = None  # transactions and id tags: only setting needs reads them
    needs = NeedService(stores, unused, unused, stores, Clock(), bus)  # type: ignore[arg-type]
    needs.attach(bus)
    return needs


def running(transaction_id: int, id_tag: str) -> Transaction:
    return Transaction(transaction_id, f"CP-{transaction_id}", 1, id_tag, 0, NOW)


async def test_a_site_is_resolved_in_one_read_per_kind_and_then_from_the_cache() -> None:
    stores, bus = Stores(), LocalBus()
    stores.drivers["anna"] = DriverProfile("Anna", PriorityClass.PREMIUM, id_tags=("ANNA",), id=1)
    stores.needs_by_transaction[2] = SessionNeed(transaction_id=2, energy_wh=5_000.0)
    needs = service(stores, bus)
    sessions = [running(1, "ANNA"), running(2, "BOB"), running(3, "CAROL")]

    first = await needs.resolve_all(sessions, SITE)
    assert stores.reads == Counter(
        {"drivers": 1, "histories": 1, "needs by tag": 1, "needs by transaction": 1}
    )
    assert first[1].driver is not None and first[1].driver.name == "Anna"
    assert first[2].need.energy_wh == 5_000.0 and first[2].driver is None

    again = await needs.resolve_all(sessions, SITE)
    assert again == first
    assert sum(stores.reads.values()) == 4  # nothing read again


async def test_the_events_that_change_a_session_drop_just_that_from_the_cache() -> None:
    stores, bus = Stores(), LocalBus()
    needs = service(stores, bus)
    sessions = [running(1, "ANNA"), running(2, "BOB")]
    await needs.resolve_all(sessions, SITE)

    # A driver profile bound to ANNA after the first replan: read again, and used.
    stores.drivers["anna"] = DriverProfile("Anna", max_power_w=3_700.0, id_tags=("ANNA",), id=1)
    bus.publish(DriverChanged(1, NOW))
    facts = await needs.resolve_all(sessions, SITE)
    assert stores.reads["drivers"] == 2 and stores.reads["histories"] == 1
    assert facts[1].driver is not None and facts[1].driver.max_power_w == 3_700.0

    # BOB's third session stops: his past is read again and teaches his usual energy.
    stores.past["bob"] = [
        PastSession(NOW - timedelta(days=d, hours=10), NOW - timedelta(days=d, hours=2), 12_000)
        for d in (1, 2, 3)
    ]
    bus.publish(TransactionStopped(2, "CP-2", NOW, 1))
    facts = await needs.resolve_all([running(1, "ANNA"), running(4, "BOB")], SITE)
    assert stores.reads["histories"] == 2
    assert facts[4].need.energy_wh == 12_000.0

    # A changed (or deleted) tag: its need is read again.
    stores.needs_by_tag["anna"] = SessionNeed(id_tag="ANNA", energy_wh=1_000.0)
    bus.publish(IdTagChanged("ANNA", NOW))
    facts = await needs.resolve_all(sessions, SITE)
    assert facts[1].need.energy_wh == 1_000.0
