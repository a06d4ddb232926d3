"""Malformed OCPP-J frames over a real WebSocket: the exact CALLERROR, and the connection lives on.

Each case sends one bad frame from a registered charger, checks the CALLERROR
`[4, <id>, <code>, <description>, {details}]` the CSMS answers with, and then
checks that a valid Heartbeat on the same connection is still answered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.support.raw import assert_alive, exchange, raw_charger, receive

NOW = "2025-01-01T12:00:00Z"
BOOT = {"chargePointVendor": "AmpNexusTest", "chargePointModel": "TC-1"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": NOW}
LONG_ID = "x" * 37

# (frame as sent, answer's unique id, CALLERROR code, details expected to be included)
CASES: dict[str, tuple[Any, str, str, dict[str, Any]]] = {
    # --- the frame itself ----------------------------------------------------------------
    "invalid-json": ('[2, "j-1", "Heartbeat", {', "-1", "FormationViolation", {}),
    "not-json-at-all": ("hello", "-1", "FormationViolation", {}),
    "object-not-array": ({"id": "o-1"}, "-1", "FormationViolation", {}),
    "string-not-array": ('"Heartbeat"', "-1", "FormationViolation", {}),
    "empty-array": ([], "-1", "FormationViolation", {}),
    "unknown-message-type": ([7, "t-1", "Heartbeat", {}], "t-1", "FormationViolation", {}),
    "message-type-as-string": (["2", "t-2", "Heartbeat", {}], "t-2", "FormationViolation", {}),
    "message-type-as-bool": ([True, "t-3", "Heartbeat", {}], "t-3", "FormationViolation", {}),
    "call-too-few-elements": ([2, "few-1", "Heartbeat"], "few-1", "ProtocolError", {}),
    "call-only-type": ([2], "-1", "ProtocolError", {}),
    "result-too-few-elements": ([3, "few-2"], "few-2", "ProtocolError", {}),
    "call-too-many-elements": (
        [2, "many-1", "Heartbeat", {}, {}],
        "many-1",
        "FormationViolation",
        {},
    ),
    "unique-id-not-string": ([2, 17, "Heartbeat", {}], "-1", "FormationViolation", {}),
    "unique-id-too-long": ([2, LONG_ID, "Heartbeat", {}], LONG_ID, "FormationViolation", {}),
    "action-not-string": ([2, "a-1", 5, {}], "a-1", "FormationViolation", {}),
    # --- the payload, against the action's schema ---------------------------------------
    "payload-not-object": ([2, "p-1", "Heartbeat", []], "p-1", "TypeConstraintViolation", {}),
    "field-wrong-type": (
        [2, "p-2", "BootNotification", {**BOOT, "chargePointVendor": 5}],
        "p-2",
        "TypeConstraintViolation",
        {"field": "chargePointVendor"},
    ),
    "integer-as-string": (
        [2, "p-3", "StatusNotification", {**STATUS, "connectorId": "1"}],
        "p-3",
        "TypeConstraintViolation",
        {"field": "connectorId"},
    ),
    "enum-value-unknown": (
        [2, "p-4", "StatusNotification", {**STATUS, "status": "Bogus"}],
        "p-4",
        "PropertyConstraintViolation",
        {"field": "status"},
    ),
    "string-too-long": (
        [2, "p-5", "BootNotification", {**BOOT, "chargePointVendor": "V" * 21}],
        "p-5",
        "PropertyConstraintViolation",
        {"field": "chargePointVendor"},
    ),
    "timestamp-unparseable": (
        [2, "p-6", "StatusNotification", {**STATUS, "timestamp": "yesterday"}],
        "p-6",
        "PropertyConstraintViolation",
        {"field": "timestamp"},
    ),
    "required-field-missing": (
        [2, "p-7", "BootNotification", {"chargePointVendor": "AmpNexusTest"}],
        "p-7",
        "OccurenceConstraintViolation",
        {},
    ),
    "unknown-extra-field": (
        [2, "p-8", "BootNotification", {**BOOT, "colour": "green"}],
        "p-8",
        "FormationViolation",
        {},
    ),
    "extra-field-in-empty-payload": (
        [2, "p-9", "Heartbeat", {"hello": 1}],
        "p-9",
        "FormationViolation",
        {},
    ),
    # --- the action --------------------------------------------------------------------
    "unknown-action": ([2, "n-1", "FooBar", {}], "n-1", "NotImplemented", {}),
    "csms-only-action-reset": ([2, "n-2", "Reset", {"type": "Soft"}], "n-2", "NotSupported", {}),
    "csms-only-action-remote-start": (
        [2, "n-3", "RemoteStartTransaction", {"idTag": "TAG"}],
        "n-3",
        "NotSupported",
        {},
    ),
}


@pytest.mark.parametrize(("frame", "unique_id", "code", "details"), CASES.values(), ids=CASES)
async def test_bad_frame_gets_exact_callerror_and_connection_survives(
    ocpp_url: str,
    registered: str,
    frame: Any,
    unique_id: str,
    code: str,
    details: dict[str, Any],
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await assert_alive(ws, "before")
        reply = await exchange(ws, frame)

        assert isinstance(reply, list) and len(reply) == 5, reply
        assert reply[0] == 4, reply
        assert reply[1] == unique_id, reply
        assert reply[2] == code, reply
        assert isinstance(reply[3], str) and reply[3].strip(), reply
        assert isinstance(reply[4], dict), reply
        assert details.items() <= reply[4].items(), reply

        await assert_alive(ws)


async def test_many_bad_frames_in_a_row_on_one_connection(ocpp_url: str, registered: str) -> None:
    """The gateway keeps no broken state between frames: all cases, one socket, in order."""
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        for n, (frame, unique_id, code, _) in enumerate(CASES.values()):
            reply = await exchange(ws, frame)
            assert reply[:3] == [4, unique_id, code], reply
            await assert_alive(ws, f"ok-{n}")


async def test_binary_frame_with_valid_call_is_answered(ocpp_url: str, registered: str) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await ws.send(json.dumps([2, "bin-1", "Heartbeat", {}]).encode())
        reply = await receive(ws)
        assert reply[:2] == [3, "bin-1"]


@pytest.mark.parametrize(
    "frame",
    [
        [3, "nobody-asked", {"status": "Accepted"}],
        [4, "nobody-asked", "GenericError", "not a call of yours", {}],
    ],
    ids=["callresult", "callerror"],
)
async def test_answer_to_unknown_call_is_ignored(
    ocpp_url: str, registered: str, frame: list[Any]
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await ws.send(json.dumps(frame))
        # Frames are handled in order: had the stray answer been replied to, that reply
        # would arrive before the Heartbeat's; assert_alive checks the next frame is ours.
        await assert_alive(ws)


def assert_recent_utc_z(text: str) -> None:
    assert isinstance(text, str) and text.endswith("Z"), text
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() == timedelta(0), text
    assert abs(datetime.now(UTC) - parsed) < timedelta(minutes=1), text


async def test_csms_timestamps_are_utc_with_z(ocpp_url: str, registered: str) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        boot = await exchange(ws, [2, "boot-1", "BootNotification", BOOT])
        assert boot[:2] == [3, "boot-1"], boot
        assert boot[2]["status"] == "Accepted"
        assert_recent_utc_z(boot[2]["currentTime"])

        heartbeat = await assert_alive(ws, "hb-1")
        assert_recent_utc_z(heartbeat["currentTime"])


async def test_valid_call_with_36_character_id_is_answered(ocpp_url: str, registered: str) -> None:
    unique_id = "y" * 36
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await assert_alive(ws, unique_id)
