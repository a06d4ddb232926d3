"""The operator's commands (`services/commands.py`) against in-memory fakes of their ports:
the checks an operator's request gets before the command port, in their order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    ProfileStatus,
    SchedulePeriod,
)
from ampnexus.domain.commands import Answer, DataTransferAnswer, DataTransferStatus
from ampnexus.domain.errors import CommandFailed, CommandTimeout, Conflict, Invalid, NotFound
from ampnexus.domain.transaction import Transaction
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.commands import CommandService
from ampnexus.services.data_transfer import DataTransferService
from ampnexus.services.ports import Page
from ampnexus.services.presence import Presence

NOW = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


class Chargers:
    def __init__(self, *ids: str) -> None:
        self.known = {i: ChargePoint(i, 1, RegistrationStatus.ACCEPTED) for i in ids}

    async def get(self, charge_point_id: str) -> ChargePoint | None:
        return self.known.get(charge_point_id)


class Transactions:
    def __init__(self, *running: Transaction) -> None:
        self.running = list(running)

    async def list(
        self, charge_point_id: str | None, active: bool | None, limit: int, offset: int
    ) -> Page[Transaction]:
        found = [t for t in self.running if t.charge_point_id == charge_point_id]
        return Page(found[offset : offset + limit], len(found))


class DataTransfers:
    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []

    async def record(self, *fields: Any) -> None:
        self.records.append(fields)


class Port:
    """The command port: records what it was asked and answers Accepted."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    async def set_charging_profile(
        self, charge_point_id: str, connector_id: int, profile: ChargingProfile
    ) -> Answer[ProfileStatus]:
        self.sent.append((charge_point_id, connector_id, profile))
        return Answer(ProfileStatus.ACCEPTED, {"status": "Accepted"})

    async def data_transfer(self, *args: Any) -> DataTransferAnswer:
        self.sent.append(args)
        return DataTransferAnswer(DataTransferStatus.UNKNOWN_VENDOR_ID)


def running(transaction_id: int, connector_id: int) -> Transaction:
    return Transaction(transaction_id, "CP-1", connector_id, "TAG-1", 0, NOW)


def service(
    port: Port, transactions: Transactions, store: DataTransfers | None = None
) -> CommandService:
    charge_points = ChargePointService(Chargers("CP-1"), Presence(), FixedClock(), 300)
    data_transfer = DataTransferService(store or DataTransfers(), FixedClock())
    return CommandService(port, charge_points, data_transfer, transactions)  # type: ignore[arg-type]


def tx_profile(transaction_id: int | None = None) -> ChargingProfile:
    schedule = ChargingSchedule(ChargingRateUnit.A, (SchedulePeriod(0, 10.0),), duration=600)
    return ChargingProfile(
        1, 1, ProfilePurpose.TX, ProfileKind.RELATIVE, schedule, transaction_id=transaction_id
    )


async def test_a_tx_profile_is_bound_to_the_transaction_running_on_its_connector():
    port = Port()
    commands = service(port, Transactions(running(7, 1), running(8, 2)))
    answer = await commands.set_charging_profile("CP-1", 2, tx_profile())
    assert answer.status is ProfileStatus.ACCEPTED
    assert port.sent == [("CP-1", 2, replace(tx_profile(), transaction_id=8))]


@pytest.mark.parametrize(
    ("charger", "connector", "profile", "error", "message"),
    [
        ("CP-9", 1, tx_profile(), NotFound, "not registered"),  # 404 before 409
        ("CP-9", 0, tx_profile(), Invalid, "connector > 0"),  # 422 before 404
        ("CP-1", 3, tx_profile(), Conflict, "no transaction is running on connector 3"),
        ("CP-1", 1, tx_profile(8), Conflict, "transaction 8 is not the one running"),
    ],
)
async def test_a_profile_the_operator_may_not_set_is_not_sent(
    charger: str, connector: int, profile: ChargingProfile, error: type[Exception], message: str
):
    port = Port()
    commands = service(port, Transactions(running(7, 1), running(8, 2)))
    with pytest.raises(error, match=message):
        await commands.set_charging_profile(charger, connector, profile)
    assert port.sent == []


async def test_a_remote_start_profile_must_be_a_tx_profile_without_a_transaction():
    commands = service(Port(), Transactions())
    with pytest.raises(Invalid, match="must not have a transactionId"):
        await commands.remote_start("CP-1", "TAG-1", 1, tx_profile(5))
    default = replace(tx_profile(), purpose=ProfilePurpose.TX_DEFAULT)
    with pytest.raises(Invalid, match="purpose TxProfile"):
        await commands.remote_start("CP-1", "TAG-1", 1, default)


async def test_a_data_transfer_is_logged_with_the_chargers_status():
    store = DataTransfers()
    commands = service(Port(), Transactions(), store)
    answer = await commands.data_transfer("CP-1", "com.example", "ping", None)
    assert answer.status is DataTransferStatus.UNKNOWN_VENDOR_ID
    assert store.records == [("CP-1", "out", "com.example", "ping", None, "UnknownVendorId", NOW)]


class FailingPort(Port):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def data_transfer(self, *args: Any) -> DataTransferAnswer:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CommandTimeout("CP-1 did not answer DataTransfer"), "NoAnswer"),
        (CommandFailed("NotImplemented", "no DataTransfer here"), "CallError"),
    ],
)
async def test_a_data_transfer_without_an_answer_is_logged_with_why(error: Exception, status: str):
    """The operator's send is on record even when the charger never answered it; the API
    still reports the failure (504 / 502)."""
    store = DataTransfers()
    commands = service(FailingPort(error), Transactions(), store)
    with pytest.raises(type(error)):
        await commands.data_transfer("CP-1", "com.example", "ping", "x")
    assert store.records == [("CP-1", "out", "com.example", "ping", "x", status, NOW)]
