"""The command port over OCPP 1.6J (`ocpp/v16/commands.py`): every command is written as a
schema-valid request, every answer read back into domain terms, and an answer that cannot be
read is a clear error, never a guess."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    ProfileStatus,
    RecurrencyKind,
    SchedulePeriod,
)
from ampnexus.domain.commands import (
    Acceptance,
    Availability,
    AvailabilityStatus,
    ClearProfileStatus,
    ConfigurationStatus,
    DataTransferStatus,
    ProfileFilter,
    ResetKind,
    TriggeredMessage,
    TriggerStatus,
    UnlockStatus,
)
from ampnexus.domain.errors import CommandFailed, Invalid, UnreadableAnswer
from ampnexus.domain.reservation import CancelStatus, ReserveStatus
from ampnexus.ocpp.v16 import schemas
from ampnexus.ocpp.v16.commands import MESSAGE_TRIGGERS, V16Commands
from ampnexus.ocpp.v16.profiles import parse_profile, parse_profile_strictly, profile_to_ocpp

NOW = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
CP = "CP-1"


class FixedClock:
    def now(self) -> datetime:
        return NOW


class FakeLink:
    """The gateway's raw call: records each CALL and answers with what the test set."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer if answer is not None else {"status": "Accepted"}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> Any:
        self.calls.append((charge_point_id, action, payload))
        return self.answer


def commands(answer: Any = None) -> tuple[V16Commands, FakeLink]:
    link = FakeLink(answer)
    return V16Commands(link, FixedClock()), link


def tx_profile(transaction_id: int | None = 42) -> ChargingProfile:
    return ChargingProfile(
        id=7,
        stack_level=1,
        purpose=ProfilePurpose.TX,
        kind=ProfileKind.ABSOLUTE,
        schedule=ChargingSchedule(
            ChargingRateUnit.W,
            (SchedulePeriod(0, 11_000.0, 3), SchedulePeriod(900, 4_140.0, 1)),
            duration=3600,
            start_schedule=NOW,
        ),
        transaction_id=transaction_id,
    )


def daily_default() -> ChargingProfile:
    return ChargingProfile(
        id=100,
        stack_level=0,
        purpose=ProfilePurpose.TX_DEFAULT,
        kind=ProfileKind.RECURRING,
        schedule=ChargingSchedule(
            ChargingRateUnit.A,
            (SchedulePeriod(0, 6.0), SchedulePeriod(8 * 3600, 16.0)),
            duration=86_400,
            start_schedule=NOW - timedelta(days=3),
            min_charging_rate=6.0,
        ),
        recurrency_kind=RecurrencyKind.DAILY,
        valid_from=NOW - timedelta(days=3),
        valid_to=NOW + timedelta(days=30),
    )


Command = Callable[[V16Commands], Awaitable[Any]]
EVERY_COMMAND: dict[str, tuple[Command, Any]] = {
    "RemoteStartTransaction": (
        lambda c: c.remote_start(CP, "TAG-1", 2, tx_profile(None)),
        Acceptance.ACCEPTED,
    ),
    "RemoteStopTransaction": (lambda c: c.remote_stop(CP, 42), Acceptance.ACCEPTED),
    "Reset": (lambda c: c.reset(CP, ResetKind.SOFT), Acceptance.ACCEPTED),
    "UnlockConnector": (lambda c: c.unlock(CP, 1), UnlockStatus.UNLOCKED),
    "ChangeAvailability": (
        lambda c: c.change_availability(CP, 0, Availability.INOPERATIVE),
        AvailabilityStatus.ACCEPTED,
    ),
    "GetConfiguration": (lambda c: c.get_configuration(CP, ["HeartbeatInterval"]), None),
    "ChangeConfiguration": (
        lambda c: c.change_configuration(CP, "HeartbeatInterval", "60"),
        ConfigurationStatus.ACCEPTED,
    ),
    "ClearCache": (lambda c: c.clear_cache(CP), Acceptance.ACCEPTED),
    "DataTransfer": (
        lambda c: c.data_transfer(CP, "com.example", "ping", "{}"),
        DataTransferStatus.ACCEPTED,
    ),
    "SetChargingProfile": (
        lambda c: c.set_charging_profile(CP, 1, tx_profile()),
        ProfileStatus.ACCEPTED,
    ),
    "ClearChargingProfile": (
        lambda c: c.clear_charging_profile(CP, ProfileFilter(connector_id=1)),
        ClearProfileStatus.ACCEPTED,
    ),
    "GetCompositeSchedule": (
        lambda c: c.get_composite_schedule(CP, 1, 600, ChargingRateUnit.W),
        None,
    ),
    "TriggerMessage": (
        lambda c: c.trigger_message(CP, TriggeredMessage.STATUS, 2),
        TriggerStatus.ACCEPTED,
    ),
    "ReserveNow": (
        lambda c: c.reserve_now(CP, 5, 0, "TAG-1", "GROUP", NOW + timedelta(hours=1)),
        ReserveStatus.ACCEPTED,
    ),
    "CancelReservation": (lambda c: c.cancel_reservation(CP, 5), CancelStatus.ACCEPTED),
}


@pytest.mark.parametrize("action", EVERY_COMMAND)
async def test_every_command_is_a_valid_ocpp_request_of_its_action(action: str):
    command, status = EVERY_COMMAND[action]
    sent_status = status.value if status is not None else "Accepted"
    port, link = commands({"status": sent_status})
    answer = await command(port)

    [(charger, sent_action, payload)] = link.calls
    assert (charger, sent_action) == (CP, action)
    schemas.validate_request(action, payload)
    if status is not None:
        assert answer.status is status
        assert answer.as_sent == {"status": sent_status}


async def test_set_charging_profile_sends_the_profile_as_given_and_reads_back_the_same():
    port, link = commands({"status": "NotSupported"})
    profile = daily_default()
    answer = await port.set_charging_profile(CP, 0, profile)

    [(_, _, payload)] = link.calls
    assert payload == {"connectorId": 0, "csChargingProfiles": profile_to_ocpp(profile)}
    assert parse_profile(payload["csChargingProfiles"], connector_id=0) == profile
    assert answer.status is ProfileStatus.NOT_SUPPORTED


async def test_a_tx_profile_carries_its_transaction_and_a_remote_start_none():
    port, link = commands()
    await port.set_charging_profile(CP, 2, tx_profile(42))
    await port.remote_start(CP, "TAG-1", None, tx_profile(None))
    set_payload, start_payload = (payload for _, _, payload in link.calls)
    assert set_payload["csChargingProfiles"]["transactionId"] == 42
    assert start_payload == {"idTag": "TAG-1", "chargingProfile": profile_to_ocpp(tx_profile(None))}
    assert "transactionId" not in start_payload["chargingProfile"]


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ({"status": "Unlocked"}, UnlockStatus.UNLOCKED),
        ({"status": "UnlockFailed"}, UnlockStatus.UNLOCK_FAILED),
        ({"status": "NotSupported"}, UnlockStatus.NOT_SUPPORTED),
    ],
)
async def test_unlock_answers(answer: dict[str, Any], status: UnlockStatus):
    port, _ = commands(answer)
    assert (await port.unlock(CP, 1)).status is status


async def test_get_configuration_reads_values_unknown_and_read_only_keys():
    reply = {
        "configurationKey": [
            {"key": "ChargingScheduleMaxPeriods", "readonly": True, "value": "24"},
            {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": False, "value": "W"},
            {"key": "AuthorizationKey", "readonly": False},  # write-only: no value
        ],
        "unknownKey": ["NoSuchKey"],
    }
    port, link = commands(reply)
    read = await port.get_configuration(CP, ["ChargingScheduleMaxPeriods", "NoSuchKey"])

    assert link.calls[0][2] == {"key": ["ChargingScheduleMaxPeriods", "NoSuchKey"]}
    assert read.values == {
        "ChargingScheduleMaxPeriods": "24",
        "ChargingScheduleAllowedChargingRateUnit": "W",
        "AuthorizationKey": "",
    }
    assert read.unknown == ("NoSuchKey",)
    assert read.read_only == {"ChargingScheduleMaxPeriods"}
    assert read.as_sent == reply


async def test_get_configuration_of_every_key_sends_no_key_list():
    port, link = commands({})
    read = await port.get_configuration(CP, [])
    assert link.calls[0][2] == {}
    assert (read.values, read.unknown) == ({}, ())


async def test_clear_charging_profile_sends_only_the_criteria_given():
    port, link = commands({"status": "Unknown"})
    which = ProfileFilter(purpose=ProfilePurpose.TX_DEFAULT, stack_level=0)
    answer = await port.clear_charging_profile(CP, which)
    everything = await port.clear_charging_profile(CP, ProfileFilter())
    assert [payload for _, _, payload in link.calls] == [
        {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0},
        {},
    ]
    assert answer.status is everything.status is ClearProfileStatus.UNKNOWN


async def test_data_transfer_returns_the_chargers_data():
    port, link = commands({"status": "Accepted", "data": "pong"})
    answer = await port.data_transfer(CP, "com.example", None, None)
    assert link.calls[0][2] == {"vendorId": "com.example"}
    assert (answer.status, answer.data) == (DataTransferStatus.ACCEPTED, "pong")


def test_every_message_a_charger_can_be_asked_for_has_its_ocpp_name():
    assert set(MESSAGE_TRIGGERS) == set(TriggeredMessage)
    for name in MESSAGE_TRIGGERS.values():
        schemas.validate_request("TriggerMessage", {"requestedMessage": name})


# --- composite schedules -------------------------------------------------------------------
SCHEDULE = {
    "duration": 3600,
    "chargingRateUnit": "A",
    "chargingSchedulePeriod": [
        {"startPeriod": 0, "limit": 16.0},
        {"startPeriod": 1800, "limit": 6},
    ],
}


async def test_a_composite_schedule_starts_at_its_schedule_start():
    reply = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2026-11-21T23:00:00Z",
        "chargingSchedule": SCHEDULE,
    }
    port, _ = commands(reply)
    answer = await port.get_composite_schedule(CP, 1, 3600, None)

    assert (answer.accepted, answer.connector_id, answer.problem) == (True, 1, None)
    assert answer.schedule == ChargingSchedule(
        ChargingRateUnit.A,
        (SchedulePeriod(0, 16.0), SchedulePeriod(1800, 6.0)),
        duration=3600,
        start_schedule=NOW + timedelta(hours=1),
    )


async def test_a_composite_schedule_without_a_start_counts_from_the_request():
    port, _ = commands({"status": "Accepted", "chargingSchedule": SCHEDULE})
    answer = await port.get_composite_schedule(CP, 0, 3600, None)
    assert answer.schedule is not None
    assert answer.schedule.start_schedule == NOW
    assert answer.connector_id is None


async def test_a_refused_composite_schedule_has_none():
    port, _ = commands({"status": "Rejected"})
    answer = await port.get_composite_schedule(CP, 1, 60, None)
    assert (answer.accepted, answer.schedule, answer.problem) == (False, None, None)


async def test_a_composite_schedule_breaking_the_rules_is_reported_with_why():
    odd = {**SCHEDULE, "chargingSchedulePeriod": [{"startPeriod": 60, "limit": 6.0}]}
    port, _ = commands({"status": "Accepted", "chargingSchedule": odd})
    answer = await port.get_composite_schedule(CP, 1, 60, None)
    assert answer.accepted and answer.schedule is None
    assert answer.problem is not None and "startPeriod 0" in answer.problem
    assert answer.as_sent["chargingSchedule"] == odd


# --- answers that cannot be read ------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "answer", "message"),
    [
        (
            EVERY_COMMAND["SetChargingProfile"][0],
            {"status": "Maybe"},
            "CP-1 SetChargingProfile: unreadable answer, status 'Maybe' is not one of Accepted",
        ),
        (EVERY_COMMAND["Reset"][0], {}, "status None is not one of Accepted, Rejected"),
        (EVERY_COMMAND["ClearCache"][0], ["Accepted"], "CP-1 ClearCache: unreadable answer, not"),
        (
            EVERY_COMMAND["GetConfiguration"][0],
            {"configurationKey": [{"value": "1"}]},
            "configurationKey is not a list of keys",
        ),
        (
            EVERY_COMMAND["GetConfiguration"][0],
            {"configurationKey": [{"key": "K", "value": 5}]},
            "a configuration value is not text: 5",
        ),
        (EVERY_COMMAND["GetConfiguration"][0], {"unknownKey": "K"}, "unknownKey is not a list"),
        (EVERY_COMMAND["DataTransfer"][0], {"status": "Accepted", "data": 5}, "data is not text"),
        (EVERY_COMMAND["GetCompositeSchedule"][0], {"status": "Later"}, "status 'Later'"),
    ],
)
async def test_an_unreadable_answer_is_a_command_failure(
    command: Command, answer: Any, message: str
):
    port, _ = commands(answer)
    with pytest.raises(UnreadableAnswer) as raised:
        await command(port)
    assert message in str(raised.value)
    assert isinstance(raised.value, CommandFailed)  # the API's 502: the charger misbehaved


# --- profiles as people type them -----------------------------------------------------------
def test_a_profile_typed_by_a_person_may_not_hold_fields_ocpp_does_not_define():
    payload = profile_to_ocpp(tx_profile())
    payload["chargingSchedule"]["chargingSchedulePeriod"][1]["limt"] = 5
    payload["colour"] = "blue"
    with pytest.raises(Invalid, match=r"chargingSchedule.chargingSchedulePeriod\[1\].limt, colour"):
        parse_profile_strictly(payload)
    assert parse_profile_strictly(profile_to_ocpp(tx_profile())) == tx_profile()


@pytest.mark.parametrize("status", list(ReserveStatus))
async def test_reserve_now_sends_the_reservation_and_reads_every_answer(status: ReserveStatus):
    port, link = commands({"status": status.value})
    answer = await port.reserve_now(CP, 9, 2, "TAG-1", None, NOW + timedelta(minutes=30))
    assert answer.status is status
    [(_, _, payload)] = link.calls
    assert payload == {
        "connectorId": 2,
        "expiryDate": "2026-11-21T22:30:00.000Z",
        "idTag": "TAG-1",
        "reservationId": 9,
    }  # no parentIdTag when there is none


async def test_a_reserve_now_answer_off_its_status_set_is_unreadable():
    port, _ = commands({"status": "Unlocked"})
    with pytest.raises(UnreadableAnswer, match="ReserveNow"):
        await port.reserve_now(CP, 9, 1, "TAG-1", None, NOW + timedelta(minutes=30))
