"""Validators compiled once from the `ocpp` package's own OCPP 1.6 JSON schemas.

Two validators per schema, both built at start-up from the same (relaxed) schema:
jsonschema-rs answers "valid?" in a couple of microseconds, which is all a good frame
needs; only a frame it rejects goes through fastjsonschema's generated code, whose
error names the rule and field that map onto the OCPP-J CALLERROR codes. Either is
far faster than the jsonschema interpreter the `ocpp` package uses.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema_rs
import ocpp.v16

from ampnexus.domain.time import parse_timestamp
from ampnexus.ocpp.errors import (
    FORMATION_VIOLATION,
    OCCURENCE_CONSTRAINT_VIOLATION,
    PROPERTY_CONSTRAINT_VIOLATION,
    TYPE_CONSTRAINT_VIOLATION,
    CallError,
)

SCHEMA_DIR = Path(ocpp.v16.__file__).parent / "schemas"

# Every OCPP 1.6 action (including the security extensions) with a request schema.
ACTIONS = frozenset(
    path.stem for path in SCHEMA_DIR.glob("*.json") if not path.stem.endswith("Response")
)

# OCPP 1.6 integers are 32-bit signed: the schemas do not say so, and larger ones do not fit
# the database's columns. Put in every integer schema, the fast check enforces it for free.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# OCPP 1.6 StatusNotification.req, MeterValues.req: connector 0 is the charger itself;
# StartTransaction.req: a transaction runs on a real connector, numbered from 1.
_CONNECTOR_MINIMUM = {"StatusNotification": 0, "MeterValues": 0, "StartTransaction": 1}

_RULE_CODES = {
    "required": OCCURENCE_CONSTRAINT_VIOLATION,
    "type": TYPE_CONSTRAINT_VIOLATION,
    "additionalProperties": FORMATION_VIOLATION,
}


def _is_timestamp(value: str) -> bool:
    """Chargers often omit the offset; accept what we can parse (taken as UTC)."""
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True


def _relax(schema: Any) -> Any:
    """Drop `multipleOf: 0.1`: with binary floats 21.4 % 0.1 != 0, so it rejects good values.
    Bound every integer to 32 bits."""
    if isinstance(schema, dict):
        relaxed = {key: _relax(value) for key, value in schema.items() if key != "multipleOf"}
        if relaxed.get("type") == "integer":
            relaxed["minimum"] = max(relaxed.get("minimum", INT32_MIN), INT32_MIN)
            relaxed["maximum"] = min(relaxed.get("maximum", INT32_MAX), INT32_MAX)
        return relaxed
    if isinstance(schema, list):
        return [_relax(item) for item in schema]
    return schema


@cache
def _schema(schema_name: str) -> Any:
    schema = _relax(
        json.loads((SCHEMA_DIR / f"{schema_name}.json").read_text(encoding="utf-8-sig"))
    )
    if schema_name in _CONNECTOR_MINIMUM:
        schema["properties"]["connectorId"]["minimum"] = _CONNECTOR_MINIMUM[schema_name]
    return schema


@cache
def validator(schema_name: str) -> Any:
    """The explaining validator: raises with the rule and field that failed."""
    return fastjsonschema.compile(_schema(schema_name), formats={"date-time": _is_timestamp})


@cache
def _is_valid(schema_name: str) -> Any:
    """The fast check; the OCPP 1.6 schemas are draft 4 (an integer has no fraction)."""
    return jsonschema_rs.Draft4Validator(
        _schema(schema_name), validate_formats=True, formats={"date-time": _is_timestamp}
    ).is_valid


def validate_request(action: str, payload: Any) -> None:
    _validate(action, payload)


def validate_response(action: str, payload: Any) -> None:
    _validate(f"{action}Response", payload)


def _validate(schema_name: str, payload: Any) -> None:
    if _is_valid(schema_name)(payload):
        return
    try:  # the explaining validator has the last word: it raises, or the frame passes
        validator(schema_name)(payload)
    except fastjsonschema.JsonSchemaValueException as error:
        code = _RULE_CODES.get(error.rule or "", PROPERTY_CONSTRAINT_VIOLATION)
        field = (error.name or "data").removeprefix("data").lstrip(".") or "payload"
        message = _described(error.message)
        if code == TYPE_CONSTRAINT_VIOLATION and _too_large_integer(error):
            # An integer too long for 64 bits decodes as a float: its fault is its size.
            code = PROPERTY_CONSTRAINT_VIOLATION
            message = f"{field} must be a 32-bit integer ({INT32_MIN} to {INT32_MAX})"
        raise CallError(code, message, {"field": field, "rule": error.rule}) from None


def _described(message: str) -> str:
    """fastjsonschema calls the payload `data`: "data.idTag must be string" names the field
    idTag, "data must be object" the payload (and "data.data ..." DataTransfer's data)."""
    if message.startswith("data."):
        return message.removeprefix("data.")
    return "payload" + message.removeprefix("data") if message.startswith("data ") else message


def _too_large_integer(error: fastjsonschema.JsonSchemaValueException) -> bool:
    value, expected = error.value, (error.definition or {}).get("type")
    return (
        expected == "integer" and isinstance(value, float) and not INT32_MIN <= value <= INT32_MAX
    )


def precompile(actions: set[str] | frozenset[str] = ACTIONS) -> None:
    """Compile every validator now, so no first message pays for it."""
    for action in actions:
        for name in (action, f"{action}Response"):
            validator(name)
            _is_valid(name)
