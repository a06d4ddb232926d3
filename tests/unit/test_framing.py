"""ampnexus.ocpp.framing.decode without a server: what it returns, and how it refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from ampnexus.ocpp.errors import CallError
from ampnexus.ocpp.framing import (
    Call,
    CallErrorFrame,
    CallResult,
    FrameError,
    decode,
    encode_call,
    encode_error,
    encode_result,
)


def test_call() -> None:
    frame = decode('[2, "abc", "Heartbeat", {}]')
    assert frame == Call("abc", "Heartbeat", {})


def test_call_from_bytes() -> None:
    assert decode(b'[2,"b-1","Authorize",{"idTag":"T"}]') == Call(
        "b-1", "Authorize", {"idTag": "T"}
    )


def test_callresult() -> None:
    assert decode('[3, "r-1", {"status": "Accepted"}]') == CallResult("r-1", {"status": "Accepted"})


def test_callerror() -> None:
    frame = decode('[4, "e-1", "NotSupported", "no", {"x": 1}]')
    assert frame == CallErrorFrame("e-1", "NotSupported", "no", {"x": 1})


def test_unique_id_of_exactly_36_characters_is_accepted() -> None:
    assert decode(json.dumps([2, "i" * 36, "Heartbeat", {}])).unique_id == "i" * 36


@pytest.mark.parametrize(
    ("raw", "code", "unique_id"),
    [
        ("[2, ", "FormationViolation", "-1"),
        ("", "FormationViolation", "-1"),
        ('{"a": 1}', "FormationViolation", "-1"),
        ("[]", "FormationViolation", "-1"),
        ("5", "FormationViolation", "-1"),
        ('[0, "m-1", "Heartbeat", {}]', "FormationViolation", "m-1"),
        ('[2.0, "m-2", "Heartbeat", {}]', "FormationViolation", "m-2"),
        ('[true, "m-3", "Heartbeat", {}]', "FormationViolation", "m-3"),
        ('[null, "m-4"]', "FormationViolation", "m-4"),
        ('[2, "s-1", "Heartbeat"]', "ProtocolError", "s-1"),
        ('[4, "s-2", "GenericError", "x"]', "ProtocolError", "s-2"),
        ("[3]", "ProtocolError", "-1"),
        ('[3, "l-1", {}, {}]', "FormationViolation", "l-1"),
        ('[2, 12, "Heartbeat", {}]', "FormationViolation", "-1"),
        ('[2, null, "Heartbeat", {}]', "FormationViolation", "-1"),
        (json.dumps([2, "z" * 37, "Heartbeat", {}]), "FormationViolation", "z" * 37),
        ('[2, "a-1", null, {}]', "FormationViolation", "a-1"),
    ],
)
def test_malformed(raw: str, code: str, unique_id: str) -> None:
    with pytest.raises(FrameError) as caught:
        decode(raw)
    assert caught.value.code == code
    assert caught.value.unique_id == unique_id
    assert caught.value.description


@pytest.mark.parametrize(
    "frame",
    [
        [2, "c-1", "Heartbeat", {}],
        [3, "c-2", {"currentTime": "2025-01-01T00:00:00.000Z"}],
        [4, "c-3", "GenericError", "oops", {"why": "because"}],
    ],
)
def test_encode_then_decode_round_trips(frame: list[Any]) -> None:
    kind, unique_id, *rest = frame
    if kind == 2:
        raw = encode_call(unique_id, rest[0], rest[1])
    elif kind == 3:
        raw = encode_result(unique_id, rest[0])
    else:
        raw = encode_error(unique_id, CallError(rest[0], rest[1], rest[2]))
    assert orjson.loads(raw) == frame
    assert decode(raw).unique_id == unique_id


# --- NUL (\u0000) cannot be stored: refused in a CALL payload, wherever it is --------------
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"idTag": "A\u0000"}, "idTag"),
        (
            {"meterValue": [{"sampledValue": [{"value": "1"}, {"value": "\u0000"}]}]},
            "meterValue[0].sampledValue[1].value",
        ),
        ({"data": {"nested\u0000key": 1}}, "data.nested\u0000key"),
        ("\u0000", "payload"),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_nul_in_a_call_payload_is_a_property_violation(
    payload: Any, field: str, as_bytes: bool
) -> None:
    raw = json.dumps([2, "nul-1", "DataTransfer", payload])
    with pytest.raises(FrameError) as raised:
        decode(raw.encode() if as_bytes else raw)
    assert raised.value.code == "PropertyConstraintViolation"
    assert raised.value.unique_id == "nul-1"
    assert raised.value.details == {"field": field}
    assert "NUL" in raised.value.description


@pytest.mark.parametrize("as_bytes", [False, True])
def test_an_escaped_backslash_before_u0000_is_no_nul(as_bytes: bool) -> None:
    raw = r'[2, "n-2", "DataTransfer", {"vendorId": "V", "data": "\\u0000 \"q\""}]'
    expected = Call("n-2", "DataTransfer", {"vendorId": "V", "data": '\\u0000 "q"'})
    assert decode(raw.encode() if as_bytes else raw) == expected


def test_nul_in_an_answer_is_left_to_the_caller() -> None:
    """Answers are not stored by the frame path; refusing one would lose the whole answer."""
    assert decode('[3, "r-2", {"data": "\\u0000"}]') == CallResult("r-2", {"data": "\x00"})
