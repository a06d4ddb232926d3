"""What the API client gets for each kind of answer a charger gives to a command: a raw
charger answers exactly the frame each test chooses, right or wrong."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.conftest import PASSWORD
from tests.support.raw import raw_charger, receive

REMOTE_START = ("remote-start", {"id_tag": "TAG-1"}, "RemoteStartTransaction")


async def answered(
    api: httpx.AsyncClient, ws: ClientConnection, command: tuple[str, Any, str], answer: Any
) -> httpx.Response:
    """Send the command through the API; the charger answers its CALL with `answer`, a
    CALLRESULT payload, or a whole frame when it is a function of the CALL's unique id."""
    path, body, action = command
    response = asyncio.create_task(api.post(f"/charge-points/CP-1/{path}", json=body))
    call = await receive(ws)
    assert call[0] == 2 and call[2] == action, call
    frame = answer(call[1]) if callable(answer) else [3, call[1], answer]
    await ws.send(json.dumps(frame))
    return await response


@pytest.mark.parametrize(
    ("command", "answer", "ocpp_error", "detail"),
    [
        (
            REMOTE_START,
            {"status": "Maybe"},
            "PropertyConstraintViolation",
            "CP-1 answered RemoteStartTransaction off-schema: "
            "status must be one of ['Accepted', 'Rejected']",
        ),
        (
            REMOTE_START,
            {},
            "OccurenceConstraintViolation",
            "CP-1 answered RemoteStartTransaction off-schema: "
            "payload must contain ['status'] properties",
        ),
        (
            ("data-transfer", {"vendor_id": "Acme"}, "DataTransfer"),
            {"status": "Accepted", "data": 5},
            "TypeConstraintViolation",
            "CP-1 answered DataTransfer off-schema: data must be string",
        ),
        (
            ("reset", {"type": "Soft"}, "Reset"),
            ["Accepted"],
            "TypeConstraintViolation",
            "CP-1 answered Reset off-schema: payload must be object",
        ),
    ],
    ids=["status-outside-its-enum", "status-missing", "data-not-a-string", "not-an-object"],
)
async def test_an_off_schema_answer_is_502_naming_the_action_and_the_fault(
    api: httpx.AsyncClient,
    ocpp_url: str,
    registered: str,
    command: tuple[str, Any, str],
    answer: Any,
    ocpp_error: str,
    detail: str,
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        response = await answered(api, ws, command, answer)
    assert response.status_code == 502, response.text
    assert response.json() == {"detail": detail, "ocpp_error": ocpp_error}


async def test_a_callerror_answer_is_still_502(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        response = await answered(
            api, ws, REMOTE_START, lambda unique_id: [4, unique_id, "NotSupported", "no", {}]
        )
    assert response.status_code == 502, response.text
    assert response.json() == {
        "detail": "charger answered NotSupported: no",
        "ocpp_error": "NotSupported",
    }


async def test_a_proper_rejection_is_still_200_and_the_charger_stays_usable(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        off_schema = await answered(api, ws, REMOTE_START, {"status": "Maybe"})
        assert off_schema.status_code == 502, off_schema.text
        response = await answered(api, ws, REMOTE_START, {"status": "Rejected"})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Rejected", "payload": {"status": "Rejected"}}
