"""TransactionService against in-memory stores: starts, stops and readings, and the rule
that a charger touches only its own transactions on their own connector."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ampnexus.domain.alert import AlertKind
from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import PowerMeasured, TransactionStarted, TransactionStopped
from ampnexus.domain.id_tag import AuthorizationStatus, IdTag
from ampnexus.domain.transaction import (
    MeterReading,
    SampledValue,
    TransactionStart,
    TransactionStop,
)
from ampnexus.services.alerts import AlertService
from ampnexus.services.authorization import AuthorizationService
from ampnexus.services.transactions import TransactionService
from tests.fakes import Fakes


def service(fakes: Fakes) -> TransactionService:
    return TransactionService(
        fakes.transactions,
        AuthorizationService(fakes.id_tags, fakes.clock),
        fakes.clock,
        AlertService(fakes.alerts, fakes.clock, fakes.events),
        fakes.events,
    )


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def start_of(
    fakes: Fakes, charge_point_id: str = "CP-1", connector_id: int = 1
) -> TransactionStart:
    return TransactionStart(charge_point_id, connector_id, "TAG-1", 1000, fakes.clock.now())


def power(fakes: Fakes, watts: float) -> MeterReading:
    return MeterReading(
        fakes.clock.now(),
        (
            SampledValue("1500", "Energy.Active.Import.Register"),
            SampledValue(str(watts), "Power.Active.Import", unit="W"),
        ),
    )


async def test_a_start_with_an_unknown_tag_is_recorded_and_answered_invalid(fakes: Fakes) -> None:
    transactions = service(fakes)
    transaction_id, info = await transactions.start(start_of(fakes))
    assert info.status is AuthorizationStatus.INVALID  # the charger is told to stop
    stored = await transactions.get(transaction_id)
    assert stored.active and stored.charge_point_id == "CP-1"
    assert fakes.events.of(TransactionStarted)[0].transaction_id == transaction_id


async def test_a_start_with_a_known_tag_is_accepted_in_any_spelling(fakes: Fakes) -> None:
    await fakes.id_tags.add(IdTag("Tag-1"), fakes.clock.now())
    _, info = await service(fakes).start(start_of(fakes))  # the charger says TAG-1
    assert info.status is AuthorizationStatus.ACCEPTED


async def test_the_owner_stops_its_transaction(fakes: Fakes) -> None:
    transactions = service(fakes)
    transaction_id, _ = await transactions.start(start_of(fakes))
    fakes.clock.advance(hours=1)
    stop = TransactionStop(
        "CP-1", transaction_id, 12_000, fakes.clock.now(), reason="EVDisconnected"
    )
    assert await transactions.stop(stop) is None  # no id tag given, no idTagInfo
    stored = await transactions.get(transaction_id)
    assert stored.stopped_at == fakes.clock.now() and stored.energy_wh == 11_000
    assert [e.transaction_id for e in fakes.events.of(TransactionStopped)] == [transaction_id]
    assert fakes.alerts.writes == 0


async def test_another_charger_cannot_stop_a_transaction(fakes: Fakes) -> None:
    transactions = service(fakes)
    transaction_id, _ = await transactions.start(start_of(fakes, "CP-1"))
    reading = power(fakes, 7000)
    stop = TransactionStop(
        "CP-2", transaction_id, 9000, fakes.clock.now(), id_tag="TAG-1", transaction_data=(reading,)
    )
    info = await transactions.stop(stop)
    assert info is not None and info.status is AuthorizationStatus.INVALID
    assert (await transactions.get(transaction_id)).active  # nothing closed
    assert fakes.events.of(TransactionStopped) == []
    rejected = fakes.transactions.rejected("CP-2")
    assert [(r.connector_id, r.rejected_id, r.transaction_id) for r in rejected] == [
        (0, transaction_id, None)  # connector 0: a stop names none
    ]
    alerts = (await fakes.alerts.list(True, None, "CP-2", None, 10, 0)).items
    assert [a.key.kind for a in alerts] == [AlertKind.FOREIGN_TRANSACTION]
    assert (await fakes.alerts.list(True, None, "CP-1", None, 10, 0)).total == 0


async def test_a_stop_of_an_id_never_issued_closes_nothing_and_alerts(fakes: Fakes) -> None:
    transactions = service(fakes)
    await transactions.stop(TransactionStop("CP-1", 42, 9000, fakes.clock.now()))
    alerts = (await fakes.alerts.list(True, None, "CP-1", None, 10, 0)).items
    assert [a.key.kind for a in alerts] == [AlertKind.FOREIGN_TRANSACTION]
    assert "not one of its own" in alerts[0].message


async def test_readings_of_its_own_transaction_attach_and_report_power(fakes: Fakes) -> None:
    transactions = service(fakes)
    transaction_id, _ = await transactions.start(start_of(fakes, connector_id=2))
    await transactions.meter_values("CP-1", 2, transaction_id, [power(fakes, 7200)])
    stored = await transactions.get(transaction_id)
    assert len(stored.meter_values) == 1
    measured = fakes.events.of(PowerMeasured)
    assert [(m.transaction_id, m.connector_id, m.power_w, m.register_wh) for m in measured] == [
        (transaction_id, 2, 7200.0, 1500.0)
    ]
    assert fakes.alerts.writes == 0


async def test_its_own_transaction_on_another_connector_is_refused(fakes: Fakes) -> None:
    transactions = service(fakes)
    transaction_id, _ = await transactions.start(start_of(fakes, connector_id=1))
    await transactions.meter_values("CP-1", 2, transaction_id, [power(fakes, 3000)])
    assert (await transactions.get(transaction_id)).meter_values == ()
    assert [r.connector_id for r in fakes.transactions.rejected("CP-1")] == [2]
    alert = (await fakes.alerts.list(True, None, "CP-1", None, 10, 0)).items[0]
    assert alert.key.kind is AlertKind.CONNECTOR_MISMATCH
    assert alert.details["transaction_connector_id"] == 1
    # The power still tells what connector 2 draws, just tied to no session.
    assert [(m.connector_id, m.transaction_id) for m in fakes.events.of(PowerMeasured)] == [
        (2, None)
    ]


async def test_readings_naming_another_chargers_transaction_stay_with_the_sender(
    fakes: Fakes,
) -> None:
    transactions = service(fakes)
    theirs, _ = await transactions.start(start_of(fakes, "CP-1"))
    await transactions.meter_values("CP-2", 1, theirs, [power(fakes, 3000)])
    assert (await transactions.get(theirs)).meter_values == ()
    assert [r.rejected_id for r in fakes.transactions.rejected("CP-2")] == [theirs]
    alert = (await fakes.alerts.list(True, None, "CP-2", None, 10, 0)).items[0]
    assert alert.key.kind is AlertKind.FOREIGN_TRANSACTION
    assert "CP-1" not in alert.message + str(alert.details)  # whose it is stays unsaid


async def test_ownership_survives_a_restart_through_the_store(fakes: Fakes) -> None:
    transaction_id, _ = await service(fakes).start(start_of(fakes, "CP-1", 3))
    restarted = service(fakes)  # a new process: nothing remembered in memory
    await restarted.meter_values("CP-1", 3, transaction_id, [power(fakes, 1000)])
    assert len((await restarted.get(transaction_id)).meter_values) == 1
    await restarted.meter_values("CP-9", 3, transaction_id, [power(fakes, 1000)])
    assert len(fakes.transactions.rejected("CP-9")) == 1


async def test_readings_without_power_publish_nothing(fakes: Fakes) -> None:
    transactions = service(fakes)
    transaction_id, _ = await transactions.start(start_of(fakes))
    energy_only = MeterReading(fakes.clock.now(), (SampledValue("1200"),))
    await transactions.meter_values("CP-1", 1, transaction_id, [energy_only])
    await transactions.meter_values("CP-1", 1, None, [])
    assert fakes.events.of(PowerMeasured) == []


async def test_only_the_latest_reading_of_a_message_sets_the_power(fakes: Fakes) -> None:
    transactions = service(fakes)
    transaction_id, _ = await transactions.start(start_of(fakes))
    first = power(fakes, 1000)
    fakes.clock.advance(seconds=30)
    await transactions.meter_values("CP-1", 1, transaction_id, [first, power(fakes, 4000)])
    assert [m.power_w for m in fakes.events.of(PowerMeasured)] == [4000.0]
    assert fakes.events.of(PowerMeasured)[0].at == first.timestamp + timedelta(seconds=30)


async def test_an_unknown_transaction_is_not_found(fakes: Fakes) -> None:
    with pytest.raises(NotFound):
        await service(fakes).get(7)


# --- sessions a charger left open ---------------------------------------------------------
async def test_a_start_on_a_busy_connector_closes_the_older_session_once(fakes: Fakes) -> None:
    transactions = service(fakes)
    older, _ = await transactions.start(start_of(fakes))
    fakes.clock.advance(minutes=10)
    on_other_connector, _ = await transactions.start(start_of(fakes, connector_id=2))
    newer, _ = await transactions.start(start_of(fakes))
    again, _ = await transactions.start(start_of(fakes))  # a replayed start closes nothing more
    assert again == newer
    closed = await transactions.get(older)
    assert (closed.stop_reason, closed.stopped_at, closed.energy_wh) == (
        "superseded",
        fakes.clock.now(),  # no reading: the new start is the latest instant known
        0,
    )
    assert closed.stop_detail is not None and f"transaction {newer}" in closed.stop_detail
    assert [e.transaction_id for e in fakes.events.of(TransactionStopped)] == [older]
    assert fakes.memory.feed[-1] == fakes.events.of(TransactionStopped)[0]  # committed with it
    for running in (newer, on_other_connector):
        assert (await transactions.get(running)).active


async def test_only_a_first_status_soon_after_a_boot_closes_a_session(fakes: Fakes) -> None:
    transactions = service(fakes)
    first, _ = await transactions.start(start_of(fakes))
    second, _ = await transactions.start(start_of(fakes, connector_id=2))
    fakes.clock.advance(minutes=1)
    await transactions.connector_reported("CP-1", 1, "Available")  # no boot: only a status
    transactions.charger_booted("CP-1")
    await transactions.connector_reported("CP-1", 0, "Available")  # the charger as a whole
    fakes.clock.advance(minutes=16)
    await transactions.connector_reported("CP-1", 2, "Available")  # too long after the boot
    assert (await transactions.get(first)).active and (await transactions.get(second)).active

    transactions.charger_booted("CP-1")
    booted_at = fakes.clock.now()
    await transactions.connector_reported("CP-2", 1, "Available")  # another charger's
    await transactions.connector_reported("CP-1", 1, "Available")
    await transactions.connector_reported("CP-1", 2, "Charging")
    await transactions.connector_reported("CP-1", 2, "Available")  # not its first status
    closed = await transactions.get(first)
    assert (closed.stop_reason, closed.stopped_at) == ("charger_rebooted", booted_at)
    assert (await transactions.get(second)).active
