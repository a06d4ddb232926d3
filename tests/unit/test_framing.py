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
