"""OCA OCTT OCPP 1.6 test cases for a Central System (section 3, Core).

The test charger plays the OCTT tool; the operator's manual actions go through the
REST API. Each test asserts what OCTT checks on the CSMS's messages, and what an
operator then sees through the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from ampnexus.app import AmpNexus
from tests.conftest import PASSWORD
from tests.support.charger import TestCharger, charger

VALID = "OCTT-VALID"
BLOCKED = "OCTT-BLOCKED"
EXPIRED = "OCTT-EXPIRED"
OUTDATED = "OCTT-OUTDATED"  # Accepted, but its expiry date has passed
UNKNOWN = "OCTT-UNKNOWN"  # never stored: Invalid
CONNECTORS = (0, 1, 2)  # connectorId 0 and the charger's two connectors


# --- helpers --------------------------------------------------------------------------------
def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def minutes_ago(minutes: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ok(response: httpx.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


async def eventually(probe: Callable[[], Awaitable[bool]]) -> None:
    """Poll `probe` until it holds; TimeoutError after 5 seconds."""
    async with asyncio.timeout(5):
        while not await probe():  # noqa: ASYNC110 (the API offers no event to wait on)
            await asyncio.sleep(0.02)


async def connector_statuses(api: httpx.AsyncClient, cp_id: str) -> dict[int, str]:
    shown = ok(await api.get(f"/charge-points/{cp_id}"))
    return {c["connector_id"]: c["status"] for c in shown["connectors"]}


async def transactions(api: httpx.AsyncClient, cp_id: str) -> list[dict[str, Any]]:
    return ok(await api.get("/transactions", params={"charge_point_id": cp_id}))["items"]


async def transaction(api: httpx.AsyncClient, transaction_id: int) -> dict[str, Any]:
    return ok(await api.get(f"/transactions/{transaction_id}"))


async def command(api: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    """An operator command through the API; returns the charger's reply as the API shows it."""
    return ok(await api.request(method, path, **kwargs))


async def boot(cp: TestCharger, statuses: dict[int, str] | None = None) -> Any:
    """OCTT "Booted": BootNotification, then one StatusNotification per connector and for 0."""
    answer = await cp.boot()
    assert answer.status == "Accepted"
    for connector_id in CONNECTORS:
        await cp.status(connector_id, (statuses or {}).get(connector_id, "Available"))
    return answer


async def charging(
    cp: TestCharger, api: httpx.AsyncClient, connector_id: int = 1, meter_start: int = 1000
) -> int:
    """OCTT "Charging": Authorized, Preparing, StartTransaction, Charging; the transaction id."""
    authorized = await cp.authorize(VALID)
    assert authorized.id_tag_info["status"] == "Accepted"
    await cp.status(connector_id, "Preparing")
    started = await cp.start_transaction(connector_id, VALID, meter_start)
    assert started.id_tag_info["status"] == "Accepted"
    await cp.status(connector_id, "Charging")
    shown = await transaction(api, started.transaction_id)
    assert shown["active"] is True
    assert (shown["connector_id"], shown["id_tag"], shown["meter_start"]) == (
        connector_id,
        VALID,
        meter_start,
    )
    assert (await connector_statuses(api, cp.id))[connector_id] == "Charging"
    return int(started.transaction_id)


async def go_offline(cp: TestCharger, api: httpx.AsyncClient) -> None:
    """Drop the charger's connection and wait until the CSMS has noticed."""
    await cp.websocket.close()

    async def offline() -> bool:
        return ok(await api.get(f"/charge-points/{cp.id}"))["connected"] is False

    await eventually(offline)


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture
async def id_tags(api: httpx.AsyncClient) -> None:
    """The id tags OCTT needs the CSMS to know: valid, blocked and expired."""
    for body in (
        {"id_tag": VALID, "status": "Accepted"},
        {"id_tag": BLOCKED, "status": "Blocked"},
        {"id_tag": EXPIRED, "status": "Expired"},
        {"id_tag": OUTDATED, "status": "Accepted", "expiry_date": iso(minutes_ago(60))},
    ):
        ok(await api.post("/id-tags", json=body), 201)


@pytest.fixture
async def cp(ocpp_url: str, registered: str, id_tags: None) -> AsyncIterator[TestCharger]:
    """The OCTT precondition: an Accepted, connected charger with every connector Available."""
    async with charger(ocpp_url, registered, PASSWORD) as connected:
        await boot(connected)
        yield connected


# --- 3.1 Cold boot ----------------------------------------------------------------------------
async def test_TC_001_cold_boot(server: AmpNexus, api, ocpp_url, registered):
    """TC_001_CSMS: Cold Boot Charge Point."""
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        answer = await cp.boot()
        assert answer.status == "Accepted"
        assert isinstance(answer.interval, int)
        assert answer.interval == server.settings.heartbeat_interval > 0
        assert abs(parse(answer.current_time) - datetime.now(UTC)) < timedelta(seconds=60)
        for connector_id in CONNECTORS:
            assert await cp.status(connector_id, "Available") is not None
        heartbeat = await cp.heartbeat()
        assert abs(parse(heartbeat.current_time) - datetime.now(UTC)) < timedelta(seconds=60)

        shown = ok(await api.get(f"/charge-points/{registered}"))
        assert shown["connected"] is True
        assert shown["registration_status"] == "Accepted"
        assert (shown["vendor"], shown["model"]) == ("AmpNexusTest", "TC-1")
        assert shown["last_boot"] is not None
        assert await connector_statuses(api, registered) == dict.fromkeys(CONNECTORS, "Available")


# --- 3.2 Regular charging session ---------------------------------------------------------------
async def test_TC_003_charging_session_plugin_first(api, cp):
    """TC_003_CSMS: Regular Charging Session - Plugin First."""
    await cp.status(1, "Preparing")
    assert (await connector_statuses(api, cp.id))[1] == "Preparing"
    authorized = await cp.authorize(VALID)
    assert authorized.id_tag_info["status"] == "Accepted"
    started = await cp.start_transaction(1, VALID, meter_start=2500)
    assert started.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Charging")

    (shown,) = await transactions(api, cp.id)
    assert shown["id"] == started.transaction_id
    assert shown["active"] is True
    assert (shown["connector_id"], shown["id_tag"], shown["meter_start"]) == (1, VALID, 2500)
    assert await connector_statuses(api, cp.id) == {0: "Available", 1: "Charging", 2: "Available"}


async def test_TC_004_1_charging_session_identification_first(api, cp):
    """TC_004_1_CSMS: Regular Charging Session - Identification First."""
    transaction_id = await charging(cp, api, connector_id=2, meter_start=0)
    (shown,) = await transactions(api, cp.id)
    assert shown["id"] == transaction_id
    assert await connector_statuses(api, cp.id) == {0: "Available", 1: "Available", 2: "Charging"}


async def test_TC_004_2_identification_first_connection_timeout(api, cp):
    """TC_004_2_CSMS: Regular Charging Session - Identification First - ConnectionTimeOut."""
    authorized = await cp.authorize(VALID)
    assert authorized.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Preparing")
    await cp.status(1, "Available")  # no cable within ConnectionTimeOut

    assert await transactions(api, cp.id) == []
    assert await connector_statuses(api, cp.id) == dict.fromkeys(CONNECTORS, "Available")


async def test_TC_005_1_ev_side_disconnected(api, cp):
    """TC_005_1_CSMS: EV Side Disconnected (StopTransactionOnEVSideDisconnect = true)."""
    transaction_id = await charging(cp, api, meter_start=1000)
    await cp.status(1, "SuspendedEV")
    stopped = await cp.stop_transaction(transaction_id, 8200, reason="EVDisconnected")
    assert stopped is not None  # a StopTransaction.conf, not a CALLERROR
    await cp.status(1, "Finishing")
    assert (await connector_statuses(api, cp.id))[1] == "Finishing"
    await cp.status(1, "Available")

    shown = await transaction(api, transaction_id)
    assert shown["active"] is False
    assert shown["stop_reason"] == "EVDisconnected"
    assert (shown["meter_stop"], shown["energy_wh"]) == (8200, 7200)
    assert ok(await api.get("/transactions", params={"active": "true"}))["total"] == 0
    assert (await connector_statuses(api, cp.id))[1] == "Available"


# --- 3.3 Caching --------------------------------------------------------------------------------
async def test_TC_007_start_charging_cached_id(api, cp):
    """TC_007_CSMS: Regular Start Charging Session - Cached Id (no Authorize first)."""
    await cp.status(1, "Preparing")
    started = await cp.start_transaction(1, VALID, meter_start=300)
    assert started.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Charging")

    shown = await transaction(api, started.transaction_id)
    assert (shown["active"], shown["id_tag"], shown["meter_start"]) == (True, VALID, 300)
    assert (await connector_statuses(api, cp.id))[1] == "Charging"


async def test_TC_061_clear_authorization_cache(api, cp):
    """TC_061_CSMS: Clear Authorization Data in Authorization Cache."""
    reply = await command(api, "POST", f"/charge-points/{cp.id}/clear-cache")
    assert await cp.wait_for("ClearCache") == {}
    assert reply["status"] == "Accepted"

    cp.answers["ClearCache"] = "Rejected"
    reply = await command(api, "POST", f"/charge-points/{cp.id}/clear-cache")
    assert reply["status"] == "Rejected"


# --- 3.4 Remote actions -----------------------------------------------------------------------
async def test_TC_010_remote_start_cable_plugged_in_first(api, cp):
    """TC_010_CSMS: Remote Start Charging Session - Cable Plugged in First."""
    await cp.status(1, "Preparing")
    reply = await command(
        api,
        "POST",
        f"/charge-points/{cp.id}/remote-start",
        json={"connector_id": 1, "id_tag": VALID},
    )
    assert reply["status"] == "Accepted"
    assert await cp.wait_for("RemoteStartTransaction") == {"connector_id": 1, "id_tag": VALID}
    authorized = await cp.authorize(VALID)
    assert authorized.id_tag_info["status"] == "Accepted"
    started = await cp.start_transaction(1, VALID)
    assert started.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Charging")

    (shown,) = await transactions(api, cp.id)
    assert (shown["id"], shown["id_tag"], shown["active"]) == (started.transaction_id, VALID, True)
    assert (await connector_statuses(api, cp.id))[1] == "Charging"


async def test_TC_011_1_remote_start_first(api, cp):
    """TC_011_1_CSMS: Remote Start Charging Session - Remote Start First."""
    reply = await command(
        api, "POST", f"/charge-points/{cp.id}/remote-start", json={"id_tag": VALID}
    )
    assert reply["status"] == "Accepted"
    assert await cp.wait_for("RemoteStartTransaction") == {"id_tag": VALID}  # connectorId optional
    assert await transactions(api, cp.id) == []  # not before the charger starts one
    authorized = await cp.authorize(VALID)
    assert authorized.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Preparing")
    started = await cp.start_transaction(1, VALID)
    assert started.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Charging")

    (shown,) = await transactions(api, cp.id)
    assert (shown["id"], shown["connector_id"], shown["active"]) == (
        started.transaction_id,
        1,
        True,
    )


async def test_TC_011_2_remote_start_time_out(api, cp):
    """TC_011_2_CSMS: Remote Start Charging Session - Time Out (no cable plugged in)."""
    reply = await command(
        api,
        "POST",
        f"/charge-points/{cp.id}/remote-start",
        json={"connector_id": 1, "id_tag": VALID},
    )
    assert reply["status"] == "Accepted"
    authorized = await cp.authorize(VALID)
    assert authorized.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Preparing")
    await cp.status(1, "Available")  # ConnectionTimeOut reached

    assert await transactions(api, cp.id) == []
    assert await connector_statuses(api, cp.id) == dict.fromkeys(CONNECTORS, "Available")


async def test_TC_012_remote_stop(api, cp):
    """TC_012_CSMS: Remote Stop Charging Session."""
    transaction_id = await charging(cp, api, meter_start=500)
    reply = await command(
        api, "POST", f"/charge-points/{cp.id}/remote-stop", json={"transaction_id": transaction_id}
    )
    assert reply["status"] == "Accepted"
    assert await cp.wait_for("RemoteStopTransaction") == {"transaction_id": transaction_id}
    assert (await transaction(api, transaction_id))["active"] is True  # until StopTransaction
    await cp.stop_transaction(transaction_id, 4500, reason="Remote")
    await cp.status(1, "Finishing")
    await cp.status(1, "Available")

    shown = await transaction(api, transaction_id)
    assert (shown["active"], shown["stop_reason"], shown["energy_wh"]) == (False, "Remote", 4000)
    assert (await connector_statuses(api, cp.id))[1] == "Available"


# --- 3.5 Reset ----------------------------------------------------------------------------------
async def reset_and_reboot(
    api: httpx.AsyncClient, ocpp_url: str, cp: TestCharger, kind: str
) -> None:
    before = ok(await api.get(f"/charge-points/{cp.id}"))["last_boot"]
    reply = await command(api, "POST", f"/charge-points/{cp.id}/reset", json={"type": kind})
    assert reply["status"] == "Accepted"
    assert await cp.wait_for("Reset") == {"type": kind}
    await go_offline(cp, api)  # the charger restarts
    async with charger(ocpp_url, cp.id, PASSWORD) as rebooted:
        answer = await boot(rebooted)
        assert answer.status == "Accepted"
        shown = ok(await api.get(f"/charge-points/{cp.id}"))
        assert shown["connected"] is True
        assert parse(shown["last_boot"]) > parse(before)
        assert await connector_statuses(api, cp.id) == dict.fromkeys(CONNECTORS, "Available")


async def test_TC_013_hard_reset(api, ocpp_url, cp):
    """TC_013_CSMS: Hard Reset."""
    await reset_and_reboot(api, ocpp_url, cp, "Hard")


async def test_TC_014_soft_reset(api, ocpp_url, cp):
    """TC_014_CSMS: Soft Reset."""
    await reset_and_reboot(api, ocpp_url, cp, "Soft")


# --- 3.6 Unlock connector -----------------------------------------------------------------------
async def test_TC_017_1_unlock_connector_no_session(api, cp):
    """TC_017_1_CSMS: Unlock connector - no charging session (not fixed cable)."""
    refused = await api.post(f"/charge-points/{cp.id}/unlock", json={"connector_id": 0})
    assert refused.status_code == 422  # connectorId must be > 0: never sent
    reply = await command(api, "POST", f"/charge-points/{cp.id}/unlock", json={"connector_id": 1})
    assert reply["status"] == "Unlocked"
    assert [p for a, p in cp.received if a == "UnlockConnector"] == [{"connector_id": 1}]


async def test_TC_017_2_unlock_connector_fixed_cable(api, cp):
    """TC_017_2_CSMS: Unlock connector - no charging session (fixed cable)."""
    cp.answers["UnlockConnector"] = "NotSupported"
    reply = await command(api, "POST", f"/charge-points/{cp.id}/unlock", json={"connector_id": 1})
    assert reply["status"] == "NotSupported"
    assert await cp.wait_for("UnlockConnector") == {"connector_id": 1}


async def test_TC_018_1_unlock_connector_with_session(api, cp):
    """TC_018_1_CSMS: Unlock Connector - With Charging Session (not fixed cable)."""
    transaction_id = await charging(cp, api, meter_start=100)
    reply = await command(api, "POST", f"/charge-points/{cp.id}/unlock", json={"connector_id": 1})
    assert reply["status"] == "Unlocked"
    assert await cp.wait_for("UnlockConnector") == {"connector_id": 1}
    await cp.status(1, "Finishing")
    await cp.stop_transaction(transaction_id, 1600, reason="UnlockCommand")
    await cp.status(1, "Available")

    shown = await transaction(api, transaction_id)
    assert (shown["active"], shown["stop_reason"], shown["energy_wh"]) == (
        False,
        "UnlockCommand",
        1500,
    )
    assert (await connector_statuses(api, cp.id))[1] == "Available"


# --- 3.7 Configuration ----------------------------------------------------------------------------
CORE_CONFIGURATION = {  # key: read-only?  (TC_019_1's list)
    "AuthorizeRemoteTxRequests": True,
    "ClockAlignedDataInterval": False,
    "ConnectionTimeOut": False,
    "ConnectorPhaseRotation": False,
    "GetConfigurationMaxKeys": True,
    "HeartbeatInterval": False,
    "LocalAuthorizeOffline": False,
    "LocalPreAuthorize": False,
    "MeterValuesAlignedData": False,
    "MeterValuesSampledData": False,
    "MeterValueSampleInterval": False,
    "NumberOfConnectors": True,
    "ResetRetries": False,
    "StopTransactionOnEVSideDisconnect": False,
    "StopTransactionOnInvalidId": False,
    "StopTxnAlignedData": False,
    "StopTxnSampledData": False,
    "SupportedFeatureProfiles": True,
    "TransactionMessageAttempts": False,
    "TransactionMessageRetryInterval": False,
    "UnlockConnectorOnEVSideDisconnect": False,
    "LocalAuthListEnabled": False,
    "LocalAuthListMaxLength": True,
    "SendLocalListMaxLength": True,
    "ChargeProfileMaxStackLevel": True,
    "ChargingScheduleAllowedChargingRateUnit": True,
    "ChargingScheduleMaxPeriods": True,
    "MaxChargingProfilesInstalled": True,
}


async def test_TC_019_1_retrieve_all_configuration_keys(api, cp):
    """TC_019_1_CSMS: Retrieve all configuration keys."""
    cp.configuration = {
        key: (f"value-of-{key}", readonly) for key, readonly in CORE_CONFIGURATION.items()
    }
    reply = await command(api, "GET", f"/charge-points/{cp.id}/configuration")
    assert not (await cp.wait_for("GetConfiguration")).get("key")  # omitted or empty: all keys
    shown = {k["key"]: (k["value"], k["readonly"]) for k in reply["payload"]["configurationKey"]}
    assert shown == cp.configuration
    assert not reply["payload"].get("unknownKey")


async def test_TC_019_2_retrieve_specific_configuration_key(api, cp):
    """TC_019_2_CSMS: Retrieve specific configuration key."""
    reply = await command(
        api,
        "GET",
        f"/charge-points/{cp.id}/configuration",
        params={"key": "SupportedFeatureProfiles"},
    )
    assert await cp.wait_for("GetConfiguration") == {"key": ["SupportedFeatureProfiles"]}
    assert reply["payload"]["configurationKey"] == [
        {
            "key": "SupportedFeatureProfiles",
            "readonly": True,
            "value": "Core,SmartCharging,RemoteTrigger",
        }
    ]
    assert not reply["payload"].get("unknownKey")


async def test_TC_021_change_configuration(api, cp):
    """TC_021_CSMS: Change/set Configuration."""
    reply = await command(
        api,
        "PUT",
        f"/charge-points/{cp.id}/configuration",
        json={"key": "MeterValueSampleInterval", "value": "60"},
    )
    assert await cp.wait_for("ChangeConfiguration") == {
        "key": "MeterValueSampleInterval",
        "value": "60",
    }
    assert reply["status"] == "Accepted"


# --- 3.8 Authorization ------------------------------------------------------------------------
async def test_TC_023_1_authorize_invalid(api, cp):
    """TC_023_1_CSMS: Start Charging Session - Authorize invalid."""
    assert (await api.get(f"/id-tags/{UNKNOWN}")).status_code == 404
    authorized = await cp.authorize(UNKNOWN)
    assert authorized.id_tag_info["status"] == "Invalid"


async def test_TC_023_2_authorize_expired(api, cp):
    """TC_023_2_CSMS: Start Charging Session - Authorize expired."""
    authorized = await cp.authorize(EXPIRED)
    assert authorized.id_tag_info["status"] == "Expired"
    # An Accepted tag whose expiry date has passed is just as expired.
    authorized = await cp.authorize(OUTDATED)
    assert authorized.id_tag_info["status"] == "Expired"
    assert ok(await api.get(f"/id-tags/{OUTDATED}"))["status"] == "Accepted"


async def test_TC_023_3_authorize_blocked(api, cp):
    """TC_023_3_CSMS: Start Charging Session - Authorize blocked."""
    authorized = await cp.authorize(BLOCKED)
    assert authorized.id_tag_info["status"] == "Blocked"


async def test_TC_024_start_charging_session_lock_failure(api, cp):
    """TC_024_CSMS: Start Charging Session Lock Failure. The driver is Authorized and plugs
    in; the connector cannot lock the cable and reports Faulted, ConnectorLockFailure. The
    Central System answers each StatusNotification and shows the operator the fault."""
    authorized = await cp.authorize(VALID)
    assert authorized.id_tag_info["status"] == "Accepted"
    assert await cp.status(1, "Preparing") is not None  # a StatusNotification.conf
    assert (await connector_statuses(api, cp.id))[1] == "Preparing"

    answer = await cp.status(1, "Faulted", error_code="ConnectorLockFailure")
    assert answer is not None
    shown = {
        c["connector_id"]: c for c in ok(await api.get(f"/charge-points/{cp.id}"))["connectors"]
    }
    assert (shown[1]["status"], shown[1]["error_code"]) == ("Faulted", "ConnectorLockFailure")
    assert (shown[2]["status"], shown[2]["error_code"]) == ("Available", "NoError")
    history = ok(await api.get(f"/charge-points/{cp.id}/status-history"))["items"]
    assert [(h["connector_id"], h["status"], h["error_code"]) for h in history[:2]] == [
        (1, "Faulted", "ConnectorLockFailure"),
        (1, "Preparing", "NoError"),
    ]
    assert await transactions(api, cp.id) == []  # no session began


# --- 3.9 Remote actions, non-happy flow ---------------------------------------------------------
async def test_TC_026_remote_start_rejected(api, cp):
    """TC_026_CSMS: Remote Start Charging Session - Rejected."""
    cp.answers["RemoteStartTransaction"] = "Rejected"
    start = {"connector_id": 1, "id_tag": VALID}
    reply = await command(api, "POST", f"/charge-points/{cp.id}/remote-start", json=start)
    assert reply["status"] == "Rejected"
    assert await cp.wait_for("RemoteStartTransaction") == start
    assert await transactions(api, cp.id) == []
    assert await connector_statuses(api, cp.id) == dict.fromkeys(CONNECTORS, "Available")

    cp.silent = True  # a charger that never answers: the operator gets a timeout, still no session
    unanswered = await api.post(f"/charge-points/{cp.id}/remote-start", json=start)
    assert unanswered.status_code == 504, unanswered.text
    assert await transactions(api, cp.id) == []


async def test_TC_028_remote_stop_rejected(api, cp):
    """TC_028_CSMS: Remote Stop Transaction - Rejected (unknown transactionId)."""
    transaction_id = await charging(cp, api)
    cp.answers["RemoteStopTransaction"] = "Rejected"
    unknown = transaction_id + 1000
    reply = await command(
        api, "POST", f"/charge-points/{cp.id}/remote-stop", json={"transaction_id": unknown}
    )
    assert reply["status"] == "Rejected"
    assert await cp.wait_for("RemoteStopTransaction") == {"transaction_id": unknown}

    shown = await transaction(api, transaction_id)
    assert (shown["active"], shown["stop_reason"]) == (True, None)
    assert (await connector_statuses(api, cp.id))[1] == "Charging"


# --- 3.10 Unlock connector, non-happy flow ------------------------------------------------------
async def test_TC_030_unlock_failure(api, cp):
    """TC_030_CSMS: Unlock Connector - Unlock Failure."""
    cp.answers["UnlockConnector"] = "UnlockFailed"
    reply = await command(api, "POST", f"/charge-points/{cp.id}/unlock", json={"connector_id": 1})
    assert reply["status"] == "UnlockFailed"
    assert await cp.wait_for("UnlockConnector") == {"connector_id": 1}


async def test_TC_031_unlock_unknown_connector(api, cp):
    """TC_031_CSMS: Unlock Connector - Unknown Connector."""
    cp.answers["UnlockConnector"] = "NotSupported"
    reply = await command(api, "POST", f"/charge-points/{cp.id}/unlock", json={"connector_id": 9})
    assert reply["status"] == "NotSupported"
    assert await cp.wait_for("UnlockConnector") == {"connector_id": 9}


# --- 3.11 Power failure -------------------------------------------------------------------------
async def test_TC_032_1_power_failure_stop_transaction(api, ocpp_url, cp):
    """TC_032_1_CSMS: Power failure boot, configured to stop transaction(s)."""
    transaction_id = await charging(cp, api, meter_start=10_000)
    await go_offline(cp, api)  # power cycled
    async with charger(ocpp_url, cp.id, PASSWORD) as rebooted:
        answer = await boot(rebooted, {1: "Finishing"})
        assert answer.status == "Accepted"
        assert await connector_statuses(api, cp.id) == {
            0: "Available",
            1: "Finishing",
            2: "Available",
        }
        await rebooted.stop_transaction(transaction_id, 12_345, reason="PowerLoss")

    shown = await transaction(api, transaction_id)
    assert (shown["active"], shown["stop_reason"], shown["energy_wh"]) == (False, "PowerLoss", 2345)


# --- 3.12 Offline behaviour ---------------------------------------------------------------------
async def test_TC_037_1_offline_start_transaction_valid_id(api, ocpp_url, cp):
    """TC_037_1_CSMS: Offline Start Transaction - Valid IdTag."""
    await go_offline(cp, api)
    started_at = minutes_ago(20)
    async with charger(ocpp_url, cp.id, PASSWORD) as back:  # no new BootNotification
        started = await back.start_transaction(1, VALID, 700, timestamp=iso(started_at))
        assert started.id_tag_info["status"] == "Accepted"
        await back.status(1, "Charging")
        # The .conf got lost; the charger sends the same StartTransaction again.
        replayed = await back.start_transaction(1, VALID, 700, timestamp=iso(started_at))
        assert replayed.transaction_id == started.transaction_id
        assert replayed.id_tag_info["status"] == "Accepted"

        (shown,) = await transactions(api, cp.id)
        assert shown["id"] == started.transaction_id
        assert parse(shown["started_at"]) == started_at
        assert (shown["active"], shown["meter_start"]) == (True, 700)
        assert ok(await api.get(f"/charge-points/{cp.id}"))["connected"] is True
        assert (await connector_statuses(api, cp.id))[1] == "Charging"


async def test_TC_037_3_offline_start_transaction_invalid_id(api, ocpp_url, cp):
    """TC_037_3_CSMS: Offline Start Transaction - Invalid IdTag, StopTransactionOnInvalidId."""
    await go_offline(cp, api)
    started_at = minutes_ago(15)
    async with charger(ocpp_url, cp.id, PASSWORD) as back:
        started = await back.start_transaction(1, UNKNOWN, 0, timestamp=iso(started_at))
        assert started.id_tag_info["status"] == "Invalid"
        assert started.transaction_id > 0
        await back.status(1, "Charging")
        await back.stop_transaction(started.transaction_id, 120, reason="DeAuthorized")
        await back.status(1, "Finishing")

    shown = await transaction(api, started.transaction_id)
    assert (shown["id_tag"], shown["active"], shown["stop_reason"]) == (
        UNKNOWN,
        False,
        "DeAuthorized",
    )
    assert parse(shown["started_at"]) == started_at
    assert shown["energy_wh"] == 120
    assert (await connector_statuses(api, cp.id))[1] == "Finishing"


async def test_TC_039_offline_transaction(api, ocpp_url, cp):
    """TC_039_CSMS: Offline Transaction (started and stopped while offline)."""
    await go_offline(cp, api)
    started_at, stopped_at = minutes_ago(40), minutes_ago(10)
    reading = {
        "timestamp": iso(minutes_ago(25)),
        "sampledValue": [{"value": "3000", "measurand": "Energy.Active.Import.Register"}],
    }
    async with charger(ocpp_url, cp.id, PASSWORD) as back:
        started = await back.start_transaction(1, VALID, 1000, timestamp=iso(started_at))
        assert started.id_tag_info["status"] == "Accepted"
        stopped = await back.stop_transaction(
            started.transaction_id,
            5000,
            reason="Local",
            id_tag=VALID,
            transaction_data=[reading],
            timestamp=iso(stopped_at),
        )
        assert stopped.id_tag_info["status"] == "Accepted"

    shown = await transaction(api, started.transaction_id)
    assert (shown["active"], shown["stop_reason"], shown["energy_wh"]) == (False, "Local", 4000)
    assert (parse(shown["started_at"]), parse(shown["stopped_at"])) == (started_at, stopped_at)
    assert [v["value"] for m in shown["meter_values"] for v in m["sampled_values"]] == ["3000"]


# --- 3.13 Configuration keys, non-happy flow ----------------------------------------------------
async def test_TC_040_1_configuration_unsupported_key(api, cp):
    """TC_040_1_CSMS: Configuration keys - unsupported key."""
    cp.answers["ChangeConfiguration"] = "NotSupported"
    change = {"key": "OcttUnsupportedKey", "value": "1"}
    reply = await command(api, "PUT", f"/charge-points/{cp.id}/configuration", json=change)
    assert await cp.wait_for("ChangeConfiguration") == change
    assert reply["status"] == "NotSupported"


async def test_TC_040_2_configuration_invalid_value(api, cp):
    """TC_040_2_CSMS: Configuration keys - invalid value."""
    cp.answers["ChangeConfiguration"] = "Rejected"
    change = {"key": "MeterValueSampleInterval", "value": "-1"}
    reply = await command(api, "PUT", f"/charge-points/{cp.id}/configuration", json=change)
    assert await cp.wait_for("ChangeConfiguration") == change
    assert reply["status"] == "Rejected"


# --- 3.20 Data transfer ---------------------------------------------------------------------
async def test_TC_064_data_transfer_to_csms(cp):
    """TC_064_CSMS: Data Transfer to a Central System (unknown vendorId)."""
    answer = await cp.call(
        call.DataTransfer(vendor_id="com.octt.unknown", message_id="Ping", data="hello")
    )
    assert answer is not None  # a DataTransfer.conf, not a CALLERROR
    assert answer.status in {"Rejected", "UnknownMessageId", "UnknownVendorId"}


# --- 3.21 Security ----------------------------------------------------------------------------
async def test_TC_085_basic_authentication_valid(api, ocpp_url, registered):
    """TC_085_CSMS: Basic Authentication - Valid username/password combination."""
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        assert cp.websocket.response is not None
        assert cp.websocket.response.status_code == 101
        assert cp.websocket.subprotocol == "ocpp1.6"
        await boot(cp)
        assert ok(await api.get(f"/charge-points/{registered}"))["connected"] is True
        assert await connector_statuses(api, registered) == dict.fromkeys(CONNECTORS, "Available")

    for password in ("wrong-password-but-long-enough", None):
        with pytest.raises(InvalidStatus) as refused:
            async with charger(ocpp_url, registered, password):
                pass
        assert refused.value.response.status_code == 401


async def test_a_replayed_stop_transaction_keeps_the_first_stop(api, ocpp_url, cp):
    """A charger that lost the .conf of its StopTransaction sends it again (later, with
    another reading): it is accepted, and the first stop stays the one recorded."""
    transaction_id = await charging(cp, api, meter_start=1_000)
    first = await cp.stop_transaction(transaction_id, 4_000, reason="EVDisconnected")
    again = await cp.stop_transaction(transaction_id, 4_500, reason="Local")
    assert first.id_tag_info == again.id_tag_info
    shown = await transaction(api, transaction_id)
    assert (shown["active"], shown["stop_reason"], shown["energy_wh"]) == (
        False,
        "EVDisconnected",
        3_000,
    )
