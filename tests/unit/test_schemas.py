"""The two validators of every OCPP 1.6 schema must agree: a frame the fast check passes
is never one the explaining validator would reject, and every rejection is explained."""

from __future__ import annotations

import copy
from typing import Any

import fastjsonschema
import pytest

from ampnexus.ocpp.errors import CallError
from ampnexus.ocpp.v16 import schemas

STAMP = "2026-11-21T22:00:00.123Z"
GOOD: dict[str, dict[str, Any]] = {
    "BootNotification": {
        "chargePointVendor": "AmpNexus",
        "chargePointModel": "Sim-22",
        "firmwareVersion": "1.0.0",
    },
    "StatusNotification": {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Charging",
        "timestamp": STAMP,
    },
    "StartTransaction": {"connectorId": 2, "idTag": "TAG-1", "meterStart": 0, "timestamp": STAMP},
    "StopTransaction": {
        "transactionId": 7,
        "meterStop": 12345,
        "timestamp": STAMP,
        "reason": "EVDisconnected",
        "transactionData": [{"timestamp": STAMP, "sampledValue": [{"value": "12345"}]}],
    },
    "MeterValues": {
        "connectorId": 1,
        "transactionId": 7,
        "meterValue": [
            {
                "timestamp": STAMP,
                "sampledValue": [
                    {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    {"value": "55", "measurand": "SoC", "unit": "Percent"},
                ],
            }
        ],
    },
    "SetChargingProfileResponse": {"status": "Accepted"},
}

# (path into the payload, value put there); None removes the key.
MUTATIONS = [
    ("connectorId", 1.0),  # draft 4: a float is no integer, even a whole one
    ("connectorId", "1"),
    ("connectorId", True),
    ("connectorId", None),
    ("connectorId", -1),
    ("connectorId", 0),  # the charger itself: fine for status and meter values, no transaction
    ("connectorId", 2**31 - 1),
    ("connectorId", 2**31),  # OCPP 1.6 integers are 32-bit
    ("connectorId", 2**64),
    ("connectorId", 1e20),  # how orjson decodes an integer too long for 64 bits
    ("meterStart", -(2**31)),
    ("meterStart", -(2**31) - 1),
    ("transactionId", 2**31),
    ("meterStop", 2**32),
    ("timestamp", "2026-13-01T00:00:00Z"),
    ("timestamp", "yesterday"),
    ("timestamp", "2026-11-21T22:00:00"),  # no offset: accepted as UTC
    ("timestamp", 1700000000),
    ("status", "Sleeping"),
    ("idTag", "T" * 21),
    ("idTag", "T" * 20),
    ("chargePointVendor", ""),
    ("chargePointVendor", "V" * 21),
    ("firmwareVersion", None),
    ("surprise", "an extra property"),
    ("meterValue", []),
    ("meterValue.0.sampledValue.0.measurand", "Energy.Imaginary"),
    ("meterValue.0.sampledValue.1.phase", "L4"),
    ("meterValue.0.sampledValue.0.value", 1234.5),
    ("meterValue.0.timestamp", "not a time"),
    ("transactionData.0.sampledValue", "none"),
    ("reason", "Bored"),
]


def mutated(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is None:
        del node[key]
    else:
        node[key] = value
    return result


def applies(payload: dict[str, Any], path: str, value: Any) -> bool:
    """The path's parents exist, and so does the key when the mutation removes it."""
    node: Any = payload
    parts = path.split(".")
    for part in parts if value is None else parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError):
            return False
    return True


def explained_valid(name: str, payload: Any) -> bool:
    try:
        schemas.validator(name)(payload)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


CASES = [
    (name, path, value)
    for name, payload in GOOD.items()
    for path, value in MUTATIONS
    if applies(payload, path, value)
]


@pytest.mark.parametrize("name", GOOD)
def test_good_payloads_pass_both(name: str) -> None:
    assert schemas._is_valid(name)(GOOD[name])
    assert explained_valid(name, GOOD[name])


@pytest.mark.parametrize(("name", "path", "value"), CASES)
def test_the_fast_check_agrees_with_the_explaining_validator(
    name: str, path: str, value: Any
) -> None:
    payload = mutated(GOOD[name], path, value)
    assert schemas._is_valid(name)(payload) == explained_valid(name, payload)


def test_a_rejected_frame_gets_the_callerror_of_its_rule() -> None:
    with pytest.raises(CallError) as raised:
        schemas.validate_request(
            "StartTransaction", mutated(GOOD["StartTransaction"], "connectorId", 1.0)
        )
    assert raised.value.code == "TypeConstraintViolation"
    assert raised.value.details["field"] == "connectorId"
    with pytest.raises(CallError) as raised:
        schemas.validate_request(
            "StatusNotification", mutated(GOOD["StatusNotification"], "status", None)
        )
    assert raised.value.code == "OccurenceConstraintViolation"


def _integers(schema: Any) -> list[Any]:
    if isinstance(schema, dict):
        found = [schema] if schema.get("type") == "integer" else []
        return found + [i for value in schema.values() for i in _integers(value)]
    if isinstance(schema, list):
        return [i for item in schema for i in _integers(item)]
    return []


@pytest.mark.parametrize("name", sorted(schemas.ACTIONS))
def test_every_integer_is_bounded_to_32_bits(name: str) -> None:
    for integer in _integers(schemas._schema(name)) + _integers(schemas._schema(f"{name}Response")):
        assert integer["minimum"] >= schemas.INT32_MIN
        assert integer["maximum"] <= schemas.INT32_MAX


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("StartTransaction", 2**31, "PropertyConstraintViolation"),
        ("StartTransaction", 1e20, "PropertyConstraintViolation"),  # too long for 64 bits
        ("StartTransaction", 1.0, "TypeConstraintViolation"),  # a fraction, not a size
        ("StartTransaction", 0, "PropertyConstraintViolation"),  # no transaction on the charger
        ("StatusNotification", -1, "PropertyConstraintViolation"),
        ("MeterValues", -1, "PropertyConstraintViolation"),
    ],
)
def test_connector_ids_out_of_range_are_property_violations(
    name: str, value: Any, code: str
) -> None:
    with pytest.raises(CallError) as raised:
        schemas.validate_request(name, mutated(GOOD[name], "connectorId", value))
    assert raised.value.code == code
    assert raised.value.details["field"] == "connectorId"
    assert "connectorId" in raised.value.description


@pytest.mark.parametrize("name", ["StatusNotification", "MeterValues"])
def test_connector_zero_is_the_charger_itself(name: str) -> None:
    schemas.validate_request(name, mutated(GOOD[name], "connectorId", 0))


def test_a_huge_number_where_a_string_belongs_stays_a_type_violation() -> None:
    with pytest.raises(CallError) as raised:
        schemas.validate_request(
            "StartTransaction", mutated(GOOD["StartTransaction"], "idTag", 1e20)
        )
    assert raised.value.code == "TypeConstraintViolation"


@pytest.mark.parametrize(
    ("action", "payload", "description"),
    [
        ("RemoteStartTransaction", {"status": "Maybe"}, "status must be one of"),
        ("RemoteStartTransaction", [], "payload must be object"),
        ("DataTransfer", {"status": "Accepted", "data": 5}, "data must be string"),
    ],
)
def test_a_rejected_answer_names_the_field_or_the_payload(
    action: str, payload: Any, description: str
) -> None:
    with pytest.raises(CallError) as raised:
        schemas.validate_response(action, payload)
    assert raised.value.description.startswith(description), raised.value.description
