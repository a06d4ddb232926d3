"""Dispatch: a plan's profiles go out concurrently, outside the site's lock, so a charger
that never answers holds up neither the replan nor its neighbours; it is alerted and
planned at its maximum until it answers. Real server, real OCPP, both databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from ampnexus.app import AmpNexus
from tests.integration.test_smart_charging import (
    eventually,
    limit_now_a,
    profiles,
    start_charging,
)
from tests.support.charger import charger
from tests.support.raw import raw_charger

SITE_ID, SITE_LIMIT_W = "S1", 11_000.0
CHARGERS = ("CP-A", "CP-B", "CP-S")


class SilentToProfiles:
    """A raw charger that answers everything but SetChargingProfile, until it wakes up."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.profiles_received = 0
        self.unanswered: list[str] = []
        self.answering = False
        self._answers: dict[str, asyncio.Future[Any]] = {}
        self._next_id = 0

    async def read(self) -> None:
        async for raw in self.websocket:
            frame = json.loads(raw)
            if frame[0] == 3 and frame[1] in self._answers:
                self._answers.pop(frame[1]).set_result(frame[2])
            elif frame[0] == 2 and frame[2] == "SetChargingProfile":
                self.profiles_received += 1
                self.unanswered.append(frame[1])
                if self.answering:
                    await self.wake()
            elif frame[0] == 2 and frame[2] == "GetConfiguration":
                await self.websocket.send(json.dumps([3, frame[1], {"configurationKey": []}]))
            elif frame[0] == 2:
                error = [4, frame[1], "NotImplemented", "not in this test", {}]
                await self.websocket.send(json.dumps(error))

    async def wake(self) -> None:
        """Accept every profile still unanswered, and from now on each at once."""
        self.answering = True
        while self.unanswered:
            unique_id = self.unanswered.pop(0)
            await self.websocket.send(json.dumps([3, unique_id, {"status": "Accepted"}]))

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        self._next_id += 1
        unique_id = f"s-{self._next_id}"
        self._answers[unique_id] = asyncio.get_running_loop().create_future()
        await self.websocket.send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(self._answers[unique_id], 5)

    async def start_charging(self) -> None:
        boot = await self.call(
            "BootNotification", {"chargePointVendor": "T", "chargePointModel": "S"}
        )
        assert boot["status"] == "Accepted"
        await self.status("Preparing")
        started = await self.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "TAG",
                "meterStart": 0,
                "timestamp": datetime.now(UTC).isoformat(),
            },
        )
        assert started["idTagInfo"]["status"] == "Accepted"
        await self.status("Charging")

    async def status(self, status: str) -> None:
        await self.call(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": status}
        )


@contextlib.asynccontextmanager
async def silent_charger(ocpp_url: str, charge_point_id: str) -> AsyncIterator[SilentToProfiles]:
    async with raw_charger(ocpp_url, charge_point_id) as websocket:
        silent = SilentToProfiles(websocket)
        reader = asyncio.create_task(silent.read())
        try:
            yield silent
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


@pytest.fixture
async def site(api: httpx.AsyncClient) -> str:
    body = {"id": SITE_ID, "name": "Depot", "time_zone": "Europe/London"}
    body["grid_limit_kw"] = SITE_LIMIT_W / 1000
    assert (await api.post("/sites", json=body)).status_code == 201
    for cp_id in CHARGERS:
        created = await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        assert created.status_code == 201, created.text
        placed = await api.put(
            f"/charge-points/{cp_id}",
            json={"site_id": SITE_ID, "phases": 3, "max_power_w": 11_000},
        )
        assert placed.status_code == 200, placed.text
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    return SITE_ID


async def silent_alerts(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    query = {"kind": "charger_silent", "charge_point_id": "CP-S"}
    response = await api.get("/alerts", params=query)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def open_silent_alerts(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [alert for alert in await silent_alerts(api) if alert["open"]]


@pytest.mark.settings(command_timeout=30, profile_deadline=1)
async def test_a_silent_charger_holds_up_neither_the_replan_nor_its_neighbours(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with (
        charger(ocpp_url, "CP-A") as a,
        charger(ocpp_url, "CP-B") as b,
        silent_charger(ocpp_url, "CP-S") as silent,
    ):
        await silent.start_charging()
        await start_charging(a)
        await start_charging(b)

        (alert,) = await eventually(lambda: open_silent_alerts(api), within=15)
        assert alert["site_id"] == site
        assert "did not answer its charging profile" in alert["message"]
        assert silent.profiles_received >= 1

        started = time.monotonic()
        replanned = await api.post(f"/sites/{site}/plan")
        assert replanned.status_code == 200, replanned.text
        assert time.monotonic() - started < 3  # the command timeout is 30 s

        # Until it answers, CP-S may draw all it can (11 kW, the whole site): nothing is left,
        # and the neighbours hold that plan (a replan sends only what changed).
        async def both_hold_the_new_plan() -> bool:
            latest = [profiles(cp, "TxProfile")[-1:] for cp in (a, b)]
            return all(sent and limit_now_a(sent[0]) == 0.0 for sent in latest)

        await eventually(both_hold_the_new_plan, within=3)
        shown = replanned.json()
        assert any("CP-S does not answer" in text for text in shown["alerts"])


@pytest.mark.settings(command_timeout=30, profile_deadline=1)
async def test_a_silent_charger_that_answers_again_is_planned_again_and_its_alert_resolved(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with charger(ocpp_url, "CP-A") as a, silent_charger(ocpp_url, "CP-S") as silent:
        await silent.start_charging()
        await start_charging(a)
        await eventually(lambda: open_silent_alerts(api), within=15)

        received = silent.profiles_received
        await silent.wake()  # its pending command is answered: no need to wait 30 s

        async def resolved() -> bool:
            alerts = await silent_alerts(api)
            return bool(alerts) and not any(alert["open"] for alert in alerts)

        await eventually(resolved)

        async def planned_again() -> bool:
            shown = (await api.get(f"/sites/{site}/plan")).json()
            return not any("CP-S does not answer" in text for text in shown["alerts"])

        await eventually(planned_again)
        await eventually(lambda: _more(silent, received), within=3)  # its plan is sent again


async def _more(silent: SilentToProfiles, than: int) -> bool:
    return silent.profiles_received > than
