"""OCPP-J frames: decoding with a precise CALLERROR for every way a frame can be wrong.

    [2, "<id>", "<Action>", {payload}]      CALL
    [3, "<id>", {payload}]                  CALLRESULT
    [4, "<id>", "<code>", "<description>", {details}]   CALLERROR

How malformed frames are answered:
    not JSON, not an array, MessageTypeId not a known integer,
    UniqueId not a string or over 36 characters, too many elements   FormationViolation
    too few elements (the frame is incomplete)                        ProtocolError
    a CALL payload string holding NUL (\u0000), which no database
    text column can store                                             PropertyConstraintViolation
Other payload problems are found by the action's JSON schema (see v16/schemas.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ampnexus.ocpp.errors import (
    FORMATION_VIOLATION,
    PROPERTY_CONSTRAINT_VIOLATION,
    PROTOCOL_ERROR,
    CallError,
)

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_UNIQUE_ID = 36
UNKNOWN_ID = "-1"  # answer id for a frame whose own id cannot be read
_NUL_TEXT, _NUL_BYTES = "\\u0000", b"\\u0000"  # how JSON spells NUL, as searched in a frame
_BACKSLASH = 0x5C  # as an int, `in bytes` is a memchr; as b"\\" it is ten times slower


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: Any


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: Any


@dataclass(frozen=True, slots=True)
class CallErrorFrame:
    unique_id: str
    code: str
    description: str
    details: Any


Frame = Call | CallResult | CallErrorFrame
_LENGTHS = {CALL: 4, CALLRESULT: 3, CALLERROR: 5}


class FrameError(CallError):
    """A frame that cannot be routed; `unique_id` is what the answer must carry."""

    def __init__(
        self,
        code: str,
        description: str,
        unique_id: str = UNKNOWN_ID,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(code, description, details)
        self.unique_id = unique_id


def decode(raw: str | bytes) -> Frame:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise FrameError(FORMATION_VIOLATION, f"frame is not valid JSON: {error}") from None
    if not isinstance(message, list) or not message:
        raise FrameError(FORMATION_VIOLATION, "frame must be a JSON array [MessageTypeId, ...]")
    unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else UNKNOWN_ID
    kind = message[0]
    if type(kind) is not int or kind not in _LENGTHS:
        raise FrameError(
            FORMATION_VIOLATION, f"MessageTypeId must be 2, 3 or 4, not {kind!r}", unique_id
        )
    expected = _LENGTHS[kind]
    if len(message) < expected:
        raise FrameError(
            PROTOCOL_ERROR, f"frame has {len(message)} elements, {expected} expected", unique_id
        )
    if len(message) > expected:
        raise FrameError(
            FORMATION_VIOLATION,
            f"frame has {len(message)} elements, {expected} expected",
            unique_id,
        )
    if not isinstance(message[1], str):
        raise FrameError(FORMATION_VIOLATION, "UniqueId must be a string")
    if len(unique_id) > MAX_UNIQUE_ID:
        raise FrameError(
            FORMATION_VIOLATION, f"UniqueId is longer than {MAX_UNIQUE_ID} characters", unique_id
        )
    if kind == CALL:
        if not isinstance(message[2], str):
            raise FrameError(FORMATION_VIOLATION, "Action must be a string", unique_id)
        _refuse_nul(raw, message[3], unique_id)
        return Call(unique_id, message[2], message[3])
    if kind == CALLRESULT:
        return CallResult(unique_id, message[2])
    return CallErrorFrame(unique_id, str(message[2]), str(message[3]), message[4])


def _refuse_nul(raw: str | bytes, payload: Any, unique_id: str) -> None:
    """JSON can only spell NUL as the escape \\u0000. A frame without a backslash (nearly
    every one) is cleared by one memchr, about 50 ns; the 6-character search costs ten times
    that, so only frames with escapes pay it. Only a frame holding the escape has its payload
    walked: it may belong to an escaped backslash, "\\\\u0000", which is no NUL."""
    if isinstance(raw, str):
        suspect = "\\" in raw and _NUL_TEXT in raw
    else:
        suspect = _BACKSLASH in raw and _NUL_BYTES in raw
    if not suspect:
        return
    field = _nul_field(payload, "")
    if field is not None:
        raise FrameError(
            PROPERTY_CONSTRAINT_VIOLATION,
            f"{field or 'payload'} contains a NUL character (\\u0000), which cannot be stored",
            unique_id,
            {"field": field or "payload"},
        )


def _nul_field(value: Any, path: str) -> str | None:
    """Where in `value` a string holds NUL: a path like meterValue[0].sampledValue[1].value."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if "\x00" in key:
                return here
            found = _nul_field(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_field(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def encode_call(unique_id: str, action: str, payload: Any) -> bytes:
    return orjson.dumps([CALL, unique_id, action, payload])


def encode_result(unique_id: str, payload: Any) -> bytes:
    return orjson.dumps([CALLRESULT, unique_id, payload])


def encode_error(unique_id: str, error: CallError) -> bytes:
    return orjson.dumps([CALLERROR, unique_id, error.code, error.description, error.details])
