"""OCA OCTT OCPP 1.6 test cases for a Central System, section 3.18 Remote Trigger.

The operator triggers each message through the API (POST /charge-points/{id}/trigger-message);
the test charger answers the TriggerMessage as the case says, then sends the message it was
asked for, which the CSMS must handle as it would unasked (not answer NotSupported).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from tests.conftest import PASSWORD
from tests.integration.test_octt_core import boot, connector_statuses, ok
from tests.support.charger import TestCharger, charger

CONFIGURED_CONNECTOR = 1
NUMBER_OF_CONNECTORS = 2  # the test charger's NumberOfConnectors


@pytest.fixture
async def cp(ocpp_url: str, registered: str) -> AsyncIterator[TestCharger]:
    """An Accepted, connected charger with every connector Available."""
    async with charger(ocpp_url, registered, PASSWORD) as connected:
        await boot(connected)
        yield connected


async def trigger(
    api: httpx.AsyncClient, cp: TestCharger, message: str, connector_id: int | None = None
) -> dict[str, Any]:
    """The operator's TriggerMessage; the API's reply, after checking what the charger got."""
    body: dict[str, Any] = {"requested_message": message}
    if connector_id is not None:
        body["connector_id"] = connector_id
    reply = ok(await api.post(f"/charge-points/{cp.id}/trigger-message", json=body))
    action, request = cp.received[-1]
    assert action == "TriggerMessage"
    assert request["requested_message"] == message
    assert request.get("connector_id") == connector_id
    return reply


async def test_TC_054_trigger_message(api, cp):
    """TC_054_CSMS: Trigger Message. MeterValues, Heartbeat and StatusNotification on the
    configured connector; DiagnosticsStatusNotification and FirmwareStatusNotification
    (answered NotImplemented here: "sent if implemented")."""
    # Steps 1-4: MeterValues for the connector, with no transaction running.
    reply = await trigger(api, cp, "MeterValues", CONFIGURED_CONNECTOR)
    assert reply == {"status": "Accepted", "payload": {"status": "Accepted"}}
    taken = datetime.now(UTC).replace(microsecond=0)
    answer = await cp.meter_values(CONFIGURED_CONNECTOR, None, 12_345, 0, timestamp=iso(taken))
    assert answer is not None  # a MeterValues.conf, not a CALLERROR
    listed = ok(await api.get(f"/charge-points/{cp.id}/meter-values"))
    assert {(r["connector_id"], r["measurand"], r["value"]) for r in listed["items"]} == {
        (CONFIGURED_CONNECTOR, "Energy.Active.Import.Register", "12345"),
        (CONFIGURED_CONNECTOR, "Power.Active.Import", "0"),
    }
    assert {datetime.fromisoformat(r["timestamp"]) for r in listed["items"]} == {taken}

    # Steps 5-8: Heartbeat.
    assert (await trigger(api, cp, "Heartbeat"))["status"] == "Accepted"
    beat = await cp.heartbeat()
    assert abs(datetime.fromisoformat(beat.current_time) - datetime.now(UTC)) < timedelta(seconds=5)

    # Steps 9-12: StatusNotification for the connector; the API then shows what it sent.
    reply = await trigger(api, cp, "StatusNotification", CONFIGURED_CONNECTOR)
    assert reply["status"] == "Accepted"
    assert await cp.status(CONFIGURED_CONNECTOR, "Unavailable") is not None
    assert (await connector_statuses(api, cp.id))[CONFIGURED_CONNECTOR] == "Unavailable"

    # Steps 13-16: DiagnosticsStatusNotification (its handler is another feature's).
    assert (await trigger(api, cp, "DiagnosticsStatusNotification"))["status"] == "Accepted"

    # Steps 17-18: FirmwareStatusNotification, which this charger has not implemented.
    cp.answers["TriggerMessage"] = "NotImplemented"
    reply = await trigger(api, cp, "FirmwareStatusNotification")
    assert reply == {"status": "NotImplemented", "payload": {"status": "NotImplemented"}}


async def test_TC_054_trigger_boot_notification(api, cp):
    """TC_054_CSMS's other target: BootNotification. The triggered boot is handled as any
    boot: answered Accepted, and its details shown by the API."""
    before = ok(await api.get(f"/charge-points/{cp.id}"))["last_boot"]
    assert (await trigger(api, cp, "BootNotification"))["status"] == "Accepted"
    answer = await cp.call(
        call.BootNotification(
            charge_point_vendor="OCTT",
            charge_point_model="Triggered",
            firmware_version="2.0.0",
            meter_type="AC-METER",
        )
    )
    assert answer.status == "Accepted"
    shown = ok(await api.get(f"/charge-points/{cp.id}"))
    assert (shown["vendor"], shown["model"], shown["firmware_version"], shown["meter_type"]) == (
        "OCTT",
        "Triggered",
        "2.0.0",
        "AC-METER",
    )
    assert datetime.fromisoformat(shown["last_boot"]) >= datetime.fromisoformat(before)


async def test_TC_054_triggered_meter_values_on_the_main_meter(api, cp):
    """Connector 0 (the main meter) when no connector is named: stored and listed too."""
    assert (await trigger(api, cp, "MeterValues"))["status"] == "Accepted"
    assert await cp.meter_values(0, None, 99_000, 7_400) is not None
    await cp.meter_values(CONFIGURED_CONNECTOR, None, 5_000, 0)  # not on the main meter
    path = f"/charge-points/{cp.id}/meter-values"
    main = ok(await api.get(path, params={"connector_id": 0}))
    assert main["total"] == 2
    assert {r["connector_id"] for r in main["items"]} == {0}


async def test_TC_055_trigger_message_rejected(api, cp):
    """TC_055_CSMS: Trigger Message - Rejected, for a connector the charger does not have."""
    cp.answers["TriggerMessage"] = "Rejected"
    reply = await trigger(api, cp, "MeterValues", NUMBER_OF_CONNECTORS + 1)
    assert reply == {"status": "Rejected", "payload": {"status": "Rejected"}}
    # Nothing came of it: no readings, and the charger still answers the next command.
    page = ok(await api.get(f"/charge-points/{cp.id}/meter-values"))
    assert page["total"] == 0
    cp.answers["TriggerMessage"] = "Accepted"
    assert (await trigger(api, cp, "Heartbeat"))["status"] == "Accepted"


async def test_trigger_message_to_an_unknown_or_offline_charger(api, ocpp_url, registered):
    """404 for a charger not registered, 409 for one not connected; a bad target is 422."""
    body = {"requested_message": "Heartbeat"}
    assert (await api.post("/charge-points/NOPE/trigger-message", json=body)).status_code == 404
    path = f"/charge-points/{registered}/trigger-message"
    assert (await api.post(path, json=body)).status_code == 409
    bad = {"requested_message": "StartTransaction"}
    assert (await api.post(path, json=bad)).status_code == 422
    assert (await api.post(path, json={**body, "connector_id": -1})).status_code == 422


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
