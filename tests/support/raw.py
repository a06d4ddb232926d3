"""A raw OCPP-J WebSocket for tests that send frames no well-behaved charger library would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.support.charger import basic_auth


@contextlib.asynccontextmanager
async def raw_charger(
    ocpp_url: str,
    charge_point_id: str,
    password: str | None = None,
    subprotocols: list[str] | None = None,
) -> AsyncIterator[ClientConnection]:
    """A bare WebSocket to the CSMS; `subprotocols=None` offers ocpp1.6."""
    async with connect(
        f"{ocpp_url}/{charge_point_id}",
        subprotocols=subprotocols if subprotocols is not None else ["ocpp1.6"],  # type: ignore[arg-type]
        additional_headers=basic_auth(charge_point_id, password) if password else None,
    ) as websocket:
        yield websocket


async def receive(websocket: ClientConnection, within: float = 5.0) -> Any:
    """The next frame the CSMS sends (waiting at most `within` s), decoded."""
    raw = await asyncio.wait_for(websocket.recv(), within)
    assert isinstance(raw, str), f"CSMS sent a binary frame: {raw!r}"
    return json.loads(raw)


async def exchange(websocket: ClientConnection, frame: Any) -> Any:
    """Send a frame (a str goes as is, anything else is JSON-encoded) and return the answer."""
    await websocket.send(frame if isinstance(frame, str) else json.dumps(frame))
    return await receive(websocket)


async def assert_alive(websocket: ClientConnection, unique_id: str = "ok-1") -> dict[str, Any]:
    """A Heartbeat still gets its CALLRESULT: the connection survived whatever came before."""
    reply = await exchange(websocket, [2, unique_id, "Heartbeat", {}])
    assert reply[:2] == [3, unique_id], reply
    assert len(reply) == 3 and set(reply[2]) == {"currentTime"}, reply
    return reply[2]
