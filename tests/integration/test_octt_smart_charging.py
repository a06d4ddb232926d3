"""OCA OCTT OCPP 1.6 test cases for a Central System: Smart Charging (section 3.19).

The test charger plays the OCTT tool and records every request exactly as the CSMS sent
it (snake_case, as the `ocpp` package hands it over); the operator's actions go through
the REST API. Then: the API's error answers for the smart-charging and trigger commands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ampnexus.domain.time import format_timestamp
from tests.conftest import PASSWORD
from tests.integration.test_api import assert_error
from tests.integration.test_octt_core import VALID, boot, charging, ok, transactions
from tests.support.charger import TestCharger, charger

PROFILES = "charging-profiles"
COMPOSITE = "composite-schedule"
ACTIONS = ("SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule", "TriggerMessage")


# --- helpers --------------------------------------------------------------------------------
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def sent(cp: TestCharger, action: str) -> list[dict[str, Any]]:
    """Every `action` request the charger received, in order. The API answers only after the
    charger has answered, and it records each request before answering: no wait needed."""
    return [payload for received, payload in cp.received if received == action]


def tx_default_profile(
    profile_id: int = 1,
    stack_level: int = 0,
    *,
    unit: str = "A",
    limit: float = 6.0,
    number_phases: int | None = None,
    start: datetime | None = None,
) -> dict[str, Any]:
    """The OCTT TC_056 profile: Absolute, with validFrom, validTo, startSchedule, duration."""
    start = start or now()
    period: dict[str, Any] = {"startPeriod": 0, "limit": limit}
    if number_phases is not None:
        period["numberPhases"] = number_phases
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": format_timestamp(start),
        "validTo": format_timestamp(start + timedelta(days=1)),
        "chargingSchedule": {
            "duration": 86_400,
            "startSchedule": format_timestamp(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [period],
        },
    }


def tx_profile(profile_id: int = 10, **extra: Any) -> dict[str, Any]:
    """A Relative TxProfile: 16 A for half an hour, then 6 A."""
    return {
        "chargingProfileId": profile_id,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0},
                {"startPeriod": 1800, "limit": 6.0},
            ],
        },
        **extra,
    }


def snake_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """How the charger receives a csChargingProfiles object: snake_case keys."""

    def snake(name: str) -> str:
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {snake(key): convert(item) for key, item in value.items()}
        if isinstance(value, list):
            return [convert(item) for item in value]
        return value

    return convert(profile)


async def set_profile(
    api: httpx.AsyncClient, cp_id: str, connector_id: int, profile: dict[str, Any]
) -> httpx.Response:
    body = {"connector_id": connector_id, "charging_profile": profile}
    return await api.post(f"/charge-points/{cp_id}/{PROFILES}", json=body)


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture
async def id_tags(api: httpx.AsyncClient) -> None:
    ok(await api.post("/id-tags", json={"id_tag": VALID}), 201)


@pytest.fixture
async def cp(ocpp_url: str, registered: str, id_tags: None) -> AsyncIterator[TestCharger]:
    """An Accepted, connected charger with every connector Available."""
    async with charger(ocpp_url, registered, PASSWORD) as connected:
        await boot(connected)
        yield connected


# --- 3.19.1 Central Smart Charging -------------------------------------------------------------
@pytest.mark.parametrize(
    ("unit", "limit", "number_phases"),
    [("A", 6.0, 1), ("W", 6000.0, None)],  # numberPhases only when it is not 3
)
async def test_TC_056_central_smart_charging_tx_default_profile(
    api, cp, unit: str, limit: float, number_phases: int | None
):
    """TC_056_CSMS: Central Smart Charging - TxDefaultProfile."""
    start = now()
    profile = tx_default_profile(
        7, 2, unit=unit, limit=limit, number_phases=number_phases, start=start
    )
    answer = ok(await set_profile(api, cp.id, 1, profile))
    assert answer == {"status": "Accepted", "payload": {"status": "Accepted"}}

    (request,) = sent(cp, "SetChargingProfile")
    period = {"start_period": 0, "limit": limit}
    if number_phases is not None:
        period["number_phases"] = number_phases
    assert request == {
        "connector_id": 1,
        "cs_charging_profiles": {
            "charging_profile_id": 7,
            "stack_level": 2,
            "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Absolute",
            "valid_from": format_timestamp(start),
            "valid_to": format_timestamp(start + timedelta(days=1)),
            "charging_schedule": {
                "duration": 86_400,
                "start_schedule": format_timestamp(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": [period],
            },
        },
    }
    # The CSMS sends UTC instants with a Z, even when the operator gave an offset.
    assert request["cs_charging_profiles"]["valid_from"].endswith("Z")


async def test_TC_056_profile_times_are_sent_in_utc(api, cp):
    """An offset in the operator's profile is turned into the same instant in UTC."""
    profile = tx_default_profile(start=datetime(2030, 6, 1, 12, tzinfo=UTC))
    profile["validFrom"] = "2030-06-01T14:00:00+02:00"
    ok(await set_profile(api, cp.id, 0, profile))  # connector 0: every connector
    (request,) = sent(cp, "SetChargingProfile")
    assert request["connector_id"] == 0
    assert request["cs_charging_profiles"]["valid_from"] == "2030-06-01T12:00:00.000Z"


async def test_TC_057_central_smart_charging_tx_profile(api, cp):
    """TC_057_CSMS: Central Smart Charging - TxProfile (Reusable State: Charging)."""
    transaction_id = await charging(cp, api, connector_id=1)
    start = now()
    profile = {
        "chargingProfileId": 20,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": format_timestamp(start),
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 11000.0},
                {"startPeriod": 900, "limit": 7400.0, "numberPhases": 1},
            ],
            "minChargingRate": 1380.0,
        },
    }
    answer = ok(await set_profile(api, cp.id, 1, profile))  # no transactionId: the CSMS adds it
    assert answer["status"] == "Accepted"

    (request,) = sent(cp, "SetChargingProfile")
    assert request == {
        "connector_id": 1,
        "cs_charging_profiles": {
            "charging_profile_id": 20,
            "stack_level": 1,
            "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Absolute",
            "transaction_id": transaction_id,
            "charging_schedule": {
                "start_schedule": format_timestamp(start),
                "charging_rate_unit": "W",
                "charging_schedule_period": [
                    {"start_period": 0, "limit": 11000.0},
                    {"start_period": 900, "limit": 7400.0, "number_phases": 1},
                ],
                "min_charging_rate": 1380.0,
            },
        },
    }

    # Naming the running transaction is fine too; a charger's refusal is shown as it is.
    cp.answers["SetChargingProfile"] = "Rejected"
    again = ok(await set_profile(api, cp.id, 1, tx_profile(transactionId=transaction_id)))
    assert again == {"status": "Rejected", "payload": {"status": "Rejected"}}
    assert sent(cp, "SetChargingProfile")[1]["cs_charging_profiles"]["transaction_id"] == (
        transaction_id
    )


async def test_TC_057_tx_profile_follows_the_transaction_on_its_connector(api, cp):
    """With sessions on both connectors, each TxProfile carries its own connector's session."""
    first = await charging(cp, api, connector_id=1)
    second = await charging(cp, api, connector_id=2, meter_start=0)
    ok(await set_profile(api, cp.id, 2, tx_profile(31)))
    ok(await set_profile(api, cp.id, 1, tx_profile(32)))
    requests = sent(cp, "SetChargingProfile")
    assert [(r["connector_id"], r["cs_charging_profiles"]["transaction_id"]) for r in requests] == [
        (2, second),
        (1, first),
    ]


async def test_TC_057_tx_profile_needs_the_running_transaction(api, cp):
    """No TxProfile without an active transaction (§5.16.4), nor for another one: 409."""
    response = await set_profile(api, cp.id, 1, tx_profile())
    assert_error(response, 409, "no transaction", "connector 1")

    transaction_id = await charging(cp, api, connector_id=1)
    assert_error(await set_profile(api, cp.id, 2, tx_profile()), 409, "connector 2")
    wrong = tx_profile(transactionId=transaction_id + 1)
    assert_error(await set_profile(api, cp.id, 1, wrong), 409, str(transaction_id + 1))

    await cp.stop_transaction(transaction_id, 5000)
    assert_error(await set_profile(api, cp.id, 1, tx_profile()), 409, "no transaction")
    assert sent(cp, "SetChargingProfile") == []


# --- 3.19.2 Get Composite Schedule -------------------------------------------------------------
async def test_TC_066_get_composite_schedule(api, cp):
    """TC_066_CSMS: Get Composite Schedule (the charger answers a hard-coded schedule)."""
    start = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    cp.composite_start = "2030-01-01T10:00:00Z"
    cp.composite = {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 11000.0},
            {"startPeriod": 600, "limit": 4140.0, "numberPhases": 1},
            {"startPeriod": 1800, "limit": 0.0},
            {"startPeriod": 3600, "limit": 22000.0},  # at the end: never executed
        ],
        "minChargingRate": 1380.0,
    }
    params = {"connector_id": 1, "duration": 3600, "unit": "W"}
    answer = ok(await api.get(f"/charge-points/{cp.id}/{COMPOSITE}", params=params))

    assert sent(cp, "GetCompositeSchedule") == [
        {"connector_id": 1, "duration": 3600, "charging_rate_unit": "W"}
    ]
    assert answer["status"] == "Accepted"
    assert answer["payload"] == {  # as the charger sent it
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2030-01-01T10:00:00Z",
        "chargingSchedule": {"duration": 3600, **cp.composite},
    }
    schedule = answer["schedule"]
    assert (schedule["connector_id"], schedule["charging_rate_unit"]) == (1, "W")
    assert schedule["min_charging_rate"] == 1380.0
    assert (parse(schedule["start"]), parse(schedule["end"])) == (
        start,
        start + timedelta(hours=1),
    )
    periods = [
        (parse(p["start"]), parse(p["end"]), p["limit"], p["number_phases"])
        for p in schedule["periods"]
    ]
    minute = timedelta(minutes=1)
    assert periods == [
        (start, start + 10 * minute, 11000.0, None),
        (start + 10 * minute, start + 30 * minute, 4140.0, 1),
        (start + 30 * minute, start + 60 * minute, 0.0, None),
    ]
    assert all(p["start"].endswith("Z") for p in schedule["periods"])
    assert answer["problem"] is None


async def test_TC_066_schedule_without_start_counts_from_the_request(api, cp):
    """Without scheduleStart the periods count from when the charger was asked (§5.7)."""
    cp.composite_start = None
    before = datetime.now(UTC)
    params = {"connector_id": 0, "duration": 600}  # the whole charge point, the charger's unit
    answer = ok(await api.get(f"/charge-points/{cp.id}/{COMPOSITE}", params=params))
    after = datetime.now(UTC)

    assert sent(cp, "GetCompositeSchedule") == [{"connector_id": 0, "duration": 600}]
    assert "scheduleStart" not in answer["payload"]
    schedule = answer["schedule"]
    start = parse(schedule["start"])
    assert before <= start <= after
    assert parse(schedule["end"]) == start + timedelta(seconds=600)
    assert [(p["limit"], parse(p["start"])) for p in schedule["periods"]] == [(6.0, start)]


async def test_TC_066_rejected_and_unreadable_schedules(api, cp):
    """A Rejected answer has no schedule; one the CSMS cannot read is shown as sent, with why."""
    cp.answers["GetCompositeSchedule"] = "Rejected"
    path = f"/charge-points/{cp.id}/{COMPOSITE}"
    rejected = ok(await api.get(path, params={"connector_id": 3, "duration": 60}))
    assert rejected == {
        "status": "Rejected",
        "payload": {"status": "Rejected"},
        "schedule": None,
        "problem": None,
    }

    cp.answers["GetCompositeSchedule"] = "Accepted"
    cp.composite = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 60, "limit": 6.0}],  # must start at 0
    }
    odd = ok(await api.get(path, params={"connector_id": 1, "duration": 60}))
    assert odd["status"] == "Accepted"
    assert odd["payload"]["chargingSchedule"]["chargingSchedulePeriod"][0]["startPeriod"] == 60
    assert odd["schedule"] is None
    assert "startPeriod 0" in odd["problem"]


# --- 3.19.3 Clear Charging Profile -------------------------------------------------------------
async def test_TC_067_clear_charging_profile(api, cp):
    """TC_067_CSMS: Clear Charging Profile (by id, by criteria, then everything)."""
    stack_level = 3
    for offset in range(3):
        profile = tx_default_profile(101 + offset, stack_level + offset)
        assert ok(await set_profile(api, cp.id, 1, profile))["status"] == "Accepted"
    requests = sent(cp, "SetChargingProfile")
    assert [
        (
            r["connector_id"],
            r["cs_charging_profiles"]["charging_profile_purpose"],
            r["cs_charging_profiles"]["stack_level"],
        )
        for r in requests
    ] == [(1, "TxDefaultProfile", level) for level in (3, 4, 5)]

    path = f"/charge-points/{cp.id}/{PROFILES}"
    by_id = ok(await api.delete(path, params={"id": 101}))
    by_criteria = ok(
        await api.delete(
            path,
            params={"connector_id": 1, "purpose": "TxDefaultProfile", "stack_level": 4},
        )
    )
    everything = ok(await api.delete(path))

    assert sent(cp, "ClearChargingProfile") == [
        {"id": 101},
        {"connector_id": 1, "charging_profile_purpose": "TxDefaultProfile", "stack_level": 4},
        {},
    ]
    for answer in (by_id, by_criteria, everything):
        assert answer == {"status": "Accepted", "payload": {"status": "Accepted"}}

    cp.answers["ClearChargingProfile"] = "Unknown"  # nothing left to clear
    unknown = ok(await api.delete(path, params={"purpose": "ChargePointMaxProfile"}))
    assert unknown["status"] == "Unknown"
    assert sent(cp, "ClearChargingProfile")[-1] == {
        "charging_profile_purpose": "ChargePointMaxProfile"
    }


# --- 3.19.4 Remote Start Transaction with Charging Profile --------------------------------------
async def test_TC_059_remote_start_transaction_with_charging_profile(api, cp):
    """TC_059_CSMS: Remote Start Transaction with Charging Profile."""
    body = {"connector_id": 1, "id_tag": VALID, "charging_profile": tx_profile(40)}
    answer = ok(await api.post(f"/charge-points/{cp.id}/remote-start", json=body))
    assert answer["status"] == "Accepted"

    (request,) = sent(cp, "RemoteStartTransaction")
    assert request == {
        "id_tag": VALID,
        "connector_id": 1,
        "charging_profile": snake_profile(tx_profile(40)),
    }
    profile = request["charging_profile"]
    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["charging_profile_kind"] == "Relative"
    assert "transaction_id" not in profile
    assert profile["charging_schedule"]["charging_schedule_period"][0]["start_period"] == 0

    # Steps 3-10: Authorize, Preparing, StartTransaction, Charging on the connector of step 1.
    transaction_id = await charging(cp, api, connector_id=1)
    (shown,) = await transactions(api, cp.id)
    assert (shown["id"], shown["id_tag"], shown["connector_id"]) == (transaction_id, VALID, 1)


@pytest.mark.parametrize(
    ("profile", "words"),
    [
        (tx_profile(transactionId=5), ["transactionId"]),  # §5.16.2: SHALL NOT be set
        ({**tx_profile(), "chargingProfilePurpose": "TxDefaultProfile"}, ["TxProfile"]),
        ({**tx_profile(), "chargingProfileKind": "Sometimes"}, ["chargingProfileKind"]),
    ],
)
async def test_TC_059_remote_start_profile_must_be_a_plain_tx_profile(
    api, cp, profile: dict[str, Any], words: list[str]
):
    body = {"connector_id": 1, "id_tag": VALID, "charging_profile": profile}
    assert_error(await api.post(f"/charge-points/{cp.id}/remote-start", json=body), 422, *words)
    assert sent(cp, "RemoteStartTransaction") == []


# --- Remote Trigger through the API ---------------------------------------------------------------
async def test_trigger_message_through_the_api(api, cp):
    path = f"/charge-points/{cp.id}/trigger-message"
    status = {"requested_message": "StatusNotification", "connector_id": 1}
    assert ok(await api.post(path, json=status))["status"] == "Accepted"
    assert ok(await api.post(path, json={"requested_message": "Heartbeat"}))["status"] == (
        "Accepted"
    )
    cp.answers["TriggerMessage"] = "Rejected"
    meter = {"requested_message": "MeterValues", "connector_id": 3}  # one past the last
    assert ok(await api.post(path, json=meter)) == {
        "status": "Rejected",
        "payload": {"status": "Rejected"},
    }
    assert sent(cp, "TriggerMessage") == [
        {"requested_message": "StatusNotification", "connector_id": 1},
        {"requested_message": "Heartbeat"},
        {"requested_message": "MeterValues", "connector_id": 3},
    ]


# --- API errors -------------------------------------------------------------------------------
def without(profile: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in profile.items() if k != key}


def with_schedule(**changes: Any) -> dict[str, Any]:
    profile = tx_default_profile()
    profile["chargingSchedule"] = {**profile["chargingSchedule"], **changes}
    return profile


@pytest.mark.parametrize(
    ("connector_id", "profile", "words"),
    [
        (1, without(tx_default_profile(), "chargingSchedule"), ["chargingSchedule", "required"]),
        (1, without(tx_default_profile(), "stackLevel"), ["stackLevel"]),
        (
            1,
            with_schedule(chargingSchedulePeriod=[{"startPeriod": 0, "limit": -6.0}]),
            ["limit", "-6"],
        ),
        (
            1,
            with_schedule(chargingSchedulePeriod=[{"startPeriod": 5, "limit": 6.0}]),
            ["startPeriod 0"],
        ),
        (1, with_schedule(chargingSchedulePeriod=[]), ["at least one period"]),
        (1, with_schedule(chargingRateUnit="kW"), ["chargingRateUnit", "kW"]),
        (1, with_schedule(startSchedule="tomorrow"), ["startSchedule"]),
        (1, {**tx_default_profile(), "chargingSchedule": 6}, ["object"]),
        (0, tx_profile(), ["TxProfile", "connector"]),
        (1, {**tx_default_profile(), "chargingProfilePurpose": "Cheap"}, ["Cheap"]),
        (
            2,
            {**tx_default_profile(), "chargingProfilePurpose": "ChargePointMaxProfile"},
            ["connector 0"],
        ),
        (1, {**tx_default_profile(), "chargingProfileKind": "Recurring"}, ["recurrencyKind"]),
        (1, {**tx_default_profile(), "stackLevel": -1}, ["stackLevel"]),
        (1, {**tx_default_profile(), "chargingProfileId": "one"}, ["chargingProfileId"]),
        (1, {**tx_default_profile(), "transactionId": 4}, ["transactionId"]),
        (1, {**tx_default_profile(), "validUntil": "2030-01-01T00:00:00Z"}, ["validUntil"]),
        (
            1,
            with_schedule(chargingSchedulePeriod=[{"startPeriod": 0, "limit": 6, "limt": 6}]),
            ["limt"],
        ),
    ],
)
async def test_invalid_charging_profile_is_422(
    api, cp, connector_id: int, profile: dict[str, Any], words: list[str]
):
    response = await set_profile(api, cp.id, connector_id, profile)
    assert_error(response, 422, *words)
    assert sent(cp, "SetChargingProfile") == []


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "words"),
    [
        ("POST", PROFILES, None, {"connector_id": -1, "charging_profile": {}}, ["connector_id"]),
        ("POST", PROFILES, None, {"connector_id": 1}, ["charging_profile"]),
        ("POST", PROFILES, None, {"charging_profile": tx_default_profile()}, ["connector_id"]),
        ("DELETE", PROFILES, {"purpose": "Cheap"}, None, ["purpose"]),
        ("DELETE", PROFILES, {"stack_level": -1}, None, ["stack_level"]),
        ("DELETE", PROFILES, {"id": "first"}, None, ["id"]),
        ("GET", COMPOSITE, {"connector_id": 1}, None, ["duration"]),
        ("GET", COMPOSITE, {"duration": 60}, None, ["connector_id"]),
        ("GET", COMPOSITE, {"connector_id": 1, "duration": 0}, None, ["duration"]),
        ("GET", COMPOSITE, {"connector_id": -1, "duration": 60}, None, ["connector_id"]),
        ("GET", COMPOSITE, {"connector_id": 1, "duration": 60, "unit": "kW"}, None, ["unit"]),
        ("POST", "trigger-message", None, {"requested_message": "Reset"}, ["requested_message"]),
        ("POST", "trigger-message", None, {}, ["requested_message"]),
    ],
)
async def test_invalid_smart_charging_request_is_422(
    api, cp, method: str, path: str, params: Any, body: Any, words: list[str]
):
    response = await api.request(method, f"/charge-points/{cp.id}/{path}", params=params, json=body)
    assert_error(response, 422, *words)
    assert [action for action, _ in cp.received if action in ACTIONS] == []


COMMANDS = [
    ("POST", PROFILES, None, {"connector_id": 1, "charging_profile": tx_default_profile()}),
    ("DELETE", PROFILES, {"id": 1}, None),
    ("GET", COMPOSITE, {"connector_id": 1, "duration": 60}, None),
    ("POST", "trigger-message", None, {"requested_message": "Heartbeat"}),
]


async def test_smart_charging_commands_to_an_unknown_charger_are_404(api):
    for method, path, params, body in COMMANDS:
        response = await api.request(
            method, f"/charge-points/NOPE/{path}", params=params, json=body
        )
        assert_error(response, 404, "NOPE")
    tx = {"connector_id": 1, "charging_profile": tx_profile()}
    assert_error(await api.post(f"/charge-points/NOPE/{PROFILES}", json=tx), 404, "NOPE")


async def test_smart_charging_commands_to_a_disconnected_charger_are_409(api, registered):
    for method, path, params, body in COMMANDS:
        response = await api.request(
            method, f"/charge-points/{registered}/{path}", params=params, json=body
        )
        assert_error(response, 409, "not connected")


async def test_a_charger_error_is_502_and_silence_504(api, cp):
    cp.answers["SetChargingProfile"] = "Maybe"  # off-schema: the charger answers a CALLERROR
    response = await set_profile(api, cp.id, 1, tx_default_profile())
    assert_error(response, 502)
    assert response.json()["ocpp_error"]

    cp.silent = True
    params = {"connector_id": 1, "duration": 60}
    response = await api.get(f"/charge-points/{cp.id}/{COMPOSITE}", params=params)
    assert_error(response, 504, "GetCompositeSchedule")


async def test_openapi_documents_the_smart_charging_routes(api):
    spec = ok(await api.get("/openapi.json"))
    base = "/api/v1/charge-points/{charge_point_id}"
    assert set(spec["paths"][f"{base}/charging-profiles"]) == {"post", "delete"}
    for path, method in [
        (f"{base}/charging-profiles", "post"),
        (f"{base}/charging-profiles", "delete"),
        (f"{base}/composite-schedule", "get"),
        (f"{base}/trigger-message", "post"),
    ]:
        operation = spec["paths"][path][method]
        assert {"200", "404", "409", "422", "502", "504"} <= set(operation["responses"]), path
    schemas = spec["components"]["schemas"]
    assert (
        schemas["ChargingProfileRequest"]["examples"][0]["charging_profile"][
            "chargingProfilePurpose"
        ]
        == "TxDefaultProfile"
    )
    assert schemas["CompositeScheduleReply"]["examples"][0]["schedule"]["periods"]
