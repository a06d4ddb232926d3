"""In-memory fakes of the services' ports and a settable clock, for unit tests of the
services' own rules. `Fakes()` gives every store on one shared memory, as the SQL stores
share one database."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.fakes.chargers import (
    FakeAlertStore,
    FakeApiKeyStore,
    FakeChargePointStore,
    FakeDataTransferStore,
    FakeIdTagStore,
    FakeTransactionStore,
)
from tests.fakes.clock import START, FakeClock
from tests.fakes.events import RecordedEvents
from tests.fakes.memory import ForeignKeyViolation, Memory
from tests.fakes.modes import FakeModeStore
from tests.fakes.operator_profiles import FakeOperatorProfileStore
from tests.fakes.sites import (
    FakeDriverProfileStore,
    FakeNeedStore,
    FakeSeriesStore,
    FakeSiteStore,
    FakeTariffStore,
)
from tests.fakes.users import FakePortalSessionStore, FakeUserStore

__all__ = [
    "START",
    "FakeAlertStore",
    "FakeApiKeyStore",
    "FakeChargePointStore",
    "FakeClock",
    "FakeDataTransferStore",
    "FakeDriverProfileStore",
    "FakeIdTagStore",
    "FakeModeStore",
    "FakeNeedStore",
    "FakeOperatorProfileStore",
    "FakePortalSessionStore",
    "FakeSeriesStore",
    "FakeSiteStore",
    "FakeTariffStore",
    "FakeTransactionStore",
    "FakeUserStore",
    "Fakes",
    "ForeignKeyViolation",
    "Memory",
    "RecordedEvents",
]


@dataclass
class Fakes:
    memory: Memory = field(default_factory=Memory)
    clock: FakeClock = field(default_factory=FakeClock)
    events: RecordedEvents = field(default_factory=RecordedEvents)

    def __post_init__(self) -> None:
        m = self.memory
        self.charge_points = FakeChargePointStore(m)
        self.id_tags = FakeIdTagStore(m)
        self.transactions = FakeTransactionStore(m)
        self.data_transfers = FakeDataTransferStore(m)
        self.api_keys = FakeApiKeyStore(m)
        self.alerts = FakeAlertStore(m)
        self.sites = FakeSiteStore(m)
        self.tariffs = FakeTariffStore(m)
        self.series = FakeSeriesStore(m)
        self.drivers = FakeDriverProfileStore(m)
        self.needs = FakeNeedStore(m)
        self.modes = FakeModeStore(m)
        self.operator_profiles = FakeOperatorProfileStore(m)
        self.users = FakeUserStore(m)
        self.portal_sessions = FakePortalSessionStore(m)
