"""The charge point simulator against the real server: OCPP 1.6J over real WebSockets,
what the operator sees through the REST API, on SQLite and on PostgreSQL.

Simulated time runs at SPEED times real time, so a minute of charging takes a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.domain.time import format_timestamp, parse_timestamp
from ampnexus.sim import EV, ChargerSpec, SimChargePoint, SimClock
from ampnexus.sim.charger import Transaction
from ampnexus.sim.script import check_script, parse_script
from tests.conftest import PASSWORD
from tests.support.portal import portal_sign_in

SPEED = 60.0
CARD = "SIM-CARD-1"
BLOCKED_CARD = "SIM-CARD-LOST"
VOLTS_3P = 230.0 * 3  # W per A on a three-phase charger
TRANSACTION_MESSAGES = ("StartTransaction", "MeterValues", "StopTransaction")


# --- helpers --------------------------------------------------------------------------------
def ok(response: httpx.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


async def eventually(probe: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not await probe():  # noqa: ASYNC110 (the API offers no event to wait on)
            await asyncio.sleep(0.02)


def sent(cp: SimChargePoint, action: str) -> list[dict[str, Any]]:
    """What the simulator sent (and the server answered), oldest first."""
    return [payload for name, payload in cp.link.sent if name == action]


def samples_sent(cp: SimChargePoint, tx: Transaction) -> list[dict[str, Any]]:
    return [p for p in sent(cp, "MeterValues") if p.get("transactionId") == tx.id]


async def started(cp: SimChargePoint, connector_id: int = 1) -> Transaction:
    """The connector's transaction, once the CSMS has given it an id."""
    await cp.wait_until(
        lambda: (tx := cp.connector(connector_id).transaction) is not None and tx.id is not None
    )
    tx = cp.connector(connector_id).transaction
    assert tx is not None
    return tx


async def charging(
    cp: SimChargePoint, connector_id: int = 1, ev: EV | None = None, card: str = CARD
) -> Transaction:
    await cp.plug_in(connector_id, ev or EV(capacity_kwh=60, soc=30, max_power_w=11_000))
    assert await cp.present_tag(connector_id, card) == "Accepted"
    return await started(cp, connector_id)


async def transaction(api: httpx.AsyncClient, transaction_id: int | None) -> Any:
    return ok(await api.get(f"/transactions/{transaction_id}"))


async def connector_statuses(api: httpx.AsyncClient, cp_id: str) -> dict[int, str]:
    shown = ok(await api.get(f"/charge-points/{cp_id}"))
    return {c["connector_id"]: c["status"] for c in shown["connectors"]}


async def shows_status(api: httpx.AsyncClient, cp_id: str, connector_id: int, status: str) -> None:
    async def probe() -> bool:
        return (await connector_statuses(api, cp_id)).get(connector_id) == status

    await eventually(probe)


def value(reading: dict[str, Any], measurand: str, phase: str | None = None) -> dict[str, Any]:
    return next(
        s for s in reading["sampled_values"] if s["measurand"] == measurand and s["phase"] == phase
    )


def power(reading: dict[str, Any]) -> float:
    return float(value(reading, "Power.Active.Import")["value"])


def iso(moment: datetime) -> str:
    return format_timestamp(moment)


def profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    start: datetime | None = None,
    kind: str = "Absolute",
    stack_level: int = 0,
    unit: str = "A",
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    if start is not None:
        schedule["startSchedule"] = iso(start)
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }


async def set_profile(
    server: AmpNexus, cp: SimChargePoint, connector_id: int, body: dict[str, Any]
) -> str:
    reply = await server.gateway.call(
        cp.id, "SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": body}
    )
    return str(reply["status"])


async def next_samples(
    cp: SimChargePoint, api: httpx.AsyncClient, tx: Transaction, count: int = 2
) -> list[dict[str, Any]]:
    """The transaction's meter values as the API shows them, after `count` more samples."""
    target = len(samples_sent(cp, tx)) + count
    await cp.wait_until(lambda: len(samples_sent(cp, tx)) >= target)
    return list((await transaction(api, tx.id))["meter_values"])


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture
def clock() -> SimClock:
    return SimClock(SPEED)


@pytest.fixture
async def cards(api: httpx.AsyncClient) -> None:
    ok(await api.post("/id-tags", json={"id_tag": CARD}), 201)
    ok(await api.post("/id-tags", json={"id_tag": BLOCKED_CARD, "status": "Blocked"}), 201)


@contextlib.asynccontextmanager
async def simulated(
    api: httpx.AsyncClient, ocpp_url: str, clock: SimClock, spec: ChargerSpec
) -> AsyncIterator[SimChargePoint]:
    """A registered simulated charger, booted and with its statuses delivered."""
    ok(await api.post("/charge-points", json={"id": spec.id, "password": spec.password}), 201)
    async with SimChargePoint(
        spec, ocpp_url, clock=clock, tick_seconds=1.0, boot_delay=3.0, meter_sample_interval=20
    ) as cp:
        await cp.wait_until(lambda: cp.registration == "Accepted")
        await cp.settled()
        yield cp


@pytest.fixture
async def cp(
    api: httpx.AsyncClient, ocpp_url: str, clock: SimClock, cards: None
) -> AsyncIterator[SimChargePoint]:
    """A 22 kW three-phase charger with two connectors."""
    spec = ChargerSpec("SIM-1", connectors=2, max_power_w=22_000, phases=3, password=PASSWORD)
    async with simulated(api, ocpp_url, clock, spec) as charge_point:
        yield charge_point


# --- a session ------------------------------------------------------------------------------
async def test_a_full_session_with_every_measurand_reaches_the_api(
    cp: SimChargePoint, api: httpx.AsyncClient
) -> None:
    tx = await charging(cp, 1, EV(capacity_kwh=60, soc=30, max_power_w=11_000))
    await cp.wait_until(lambda: len(samples_sent(cp, tx)) >= 3)
    assert await cp.present_tag(1, CARD) == "Accepted"  # the same card stops it
    await cp.unplug(1)
    await cp.settled()

    shown = await transaction(api, tx.id)
    assert shown["active"] is False and shown["stop_reason"] == "Local"
    assert (shown["meter_start"], shown["meter_stop"]) == (tx.meter_start, tx.meter_stop)
    assert tx.started_at is not None and tx.stopped_at is not None
    hours = (tx.stopped_at - tx.started_at).total_seconds() / 3600
    assert shown["energy_wh"] == tx.energy_wh == pytest.approx(11_000 * hours, abs=2)

    readings = shown["meter_values"]
    assert len(readings) == len(samples_sent(cp, tx)) >= 3
    for reading in readings:
        assert {(s["measurand"], s["phase"]) for s in reading["sampled_values"]} == {
            ("Energy.Active.Import.Register", None),
            ("Power.Active.Import", None),
            ("Current.Import", "L1"),
            ("Current.Import", "L2"),
            ("Current.Import", "L3"),
            ("SoC", None),
        }
        assert power(reading) == 11_000.0
        assert value(reading, "Power.Active.Import")["unit"] == "W"
        for phase in ("L1", "L2", "L3"):
            current = value(reading, "Current.Import", phase)
            assert (current["value"], current["unit"]) == (f"{11_000 / VOLTS_3P:.2f}", "A")
        soc = value(reading, "SoC")
        assert (soc["unit"], soc["location"]) == ("Percent", "EV")
        assert value(reading, "Energy.Active.Import.Register")["unit"] == "Wh"
    registers = [float(value(r, "Energy.Active.Import.Register")["value"]) for r in readings]
    socs = [float(value(r, "SoC")["value"]) for r in readings]
    assert registers == sorted(registers) and tx.meter_start < registers[0] <= tx.meter_stop
    assert socs == sorted(socs) and socs[0] > 30

    history = ok(await api.get(f"/charge-points/{cp.id}/status-history"))["items"]
    on_connector_1 = [h["status"] for h in reversed(history) if h["connector_id"] == 1]
    assert on_connector_1 == ["Available", "Preparing", "Charging", "Finishing", "Available"]


async def test_the_ev_decides_when_it_is_full(cp: SimChargePoint, api: httpx.AsyncClient) -> None:
    ev = EV(capacity_kwh=10, soc=99.8, max_power_w=11_000)  # 20 Wh to go, tapered
    tx = await charging(cp, 1, ev)
    await shows_status(api, cp.id, 1, "SuspendedEV")
    assert ev.full and cp.connector(1).transaction is tx  # the transaction goes on
    readings = await next_samples(cp, api, tx, 1)
    assert power(readings[-1]) == 0.0
    assert float(value(readings[-1], "SoC")["value"]) == 100.0


async def test_an_invalid_card_is_refused_and_a_blocked_one_stops_its_transaction(
    cp: SimChargePoint, api: httpx.AsyncClient
) -> None:
    await cp.plug_in(1, EV())
    assert await cp.present_tag(1, "NOBODY") == "Invalid"
    assert await cp.present_tag(1, BLOCKED_CARD) == "Blocked"
    assert cp.connector(1).transaction is None and not sent(cp, "StartTransaction")

    # Offline, the blocked card is unknown to the cache; AllowOfflineTxForUnknownId lets it
    # start. Back online, StartTransaction.conf says Blocked: StopTransactionOnInvalidId.
    ok(
        await api.put(
            f"/charge-points/{cp.id}/configuration",
            json={"key": "AllowOfflineTxForUnknownId", "value": "true"},
        )
    )
    cp.cache.clear()
    await cp.go_offline()
    assert await cp.present_tag(1, BLOCKED_CARD) == "Accepted"
    await cp.come_back()
    await cp.settled()
    tx = cp.transactions[-1]
    shown = await transaction(api, tx.id)
    assert shown["stop_reason"] == "DeAuthorized" and shown["active"] is False
    await shows_status(api, cp.id, 1, "Finishing")


async def test_a_fault_ends_the_transaction_and_is_reported(
    cp: SimChargePoint, api: httpx.AsyncClient
) -> None:
    tx = await charging(cp, 1)
    await cp.fault(1, "GroundFailure")
    await cp.settled()
    assert (await transaction(api, tx.id))["stop_reason"] == "Other"
    shown = ok(await api.get(f"/charge-points/{cp.id}"))["connectors"]
    faulted = next(c for c in shown if c["connector_id"] == 1)
    assert (faulted["status"], faulted["error_code"]) == ("Faulted", "GroundFailure")
    assert await cp.present_tag(1, CARD) is None  # no charging while faulted
    await cp.clear_fault(1)
    await shows_status(api, cp.id, 1, "Finishing")  # back to before: the car is still in


async def test_unplugging_at_the_ev_suspends_or_stops_as_configured(
    cp: SimChargePoint, api: httpx.AsyncClient
) -> None:
    path = f"/charge-points/{cp.id}/configuration"
    keep_on = {"key": "StopTransactionOnEVSideDisconnect", "value": "false"}
    assert ok(await api.put(path, json=keep_on))["status"] == "Accepted"
    tx = await charging(cp, 1)
    await cp.unplug(1)
    await shows_status(api, cp.id, 1, "SuspendedEV")
    assert cp.connector(1).transaction is tx  # it goes on
    await cp.plug_in(1, EV())
    await shows_status(api, cp.id, 1, "Charging")

    stop = {"key": "StopTransactionOnEVSideDisconnect", "value": "true"}
    assert ok(await api.put(path, json=stop))["status"] == "Accepted"
    await cp.unplug(1)
    await cp.settled()
    assert (await transaction(api, tx.id))["stop_reason"] == "EVDisconnected"
    history = ok(await api.get(f"/charge-points/{cp.id}/status-history"))["items"]
    assert [h["status"] for h in history if h["connector_id"] == 1][:2] == [
        "Available",
        "Finishing",
    ]


# --- offline ------------------------------------------------------------------------------
async def test_offline_transactions_are_replayed_in_order_without_loss_or_duplicates(
    cp: SimChargePoint, api: httpx.AsyncClient
) -> None:
    first = await charging(cp, 1, EV(soc=20))
    await cp.wait_until(lambda: len(samples_sent(cp, first)) >= 1)
    await cp.go_offline()

    async def disconnected() -> bool:
        return not ok(await api.get(f"/charge-points/{cp.id}"))["connected"]

    await eventually(disconnected)
    replay_from = len(cp.link.sent)

    # It charges on while offline, and the driver stops with the same card.
    await cp.wait_until(lambda: cp.outbox.pending().count("MeterValues") >= 3)
    assert await cp.present_tag(1, CARD) == "Accepted"
    await cp.unplug(1)
    # A second session starts and ends offline: the card is in the authorization cache.
    await cp.plug_in(2, EV(soc=50))
    assert await cp.present_tag(2, CARD) == "Accepted"
    second = cp.connector(2).transaction
    assert second is not None and second.id is None
    await cp.wait_until(lambda: cp.outbox.pending().count("MeterValues") >= 5)
    assert await cp.present_tag(2, CARD) == "Accepted"
    await cp.unplug(2)

    queued = cp.outbox.pending()
    assert set(queued) == set(TRANSACTION_MESSAGES)  # statuses are not queued, only told
    assert queued.count("StartTransaction") == 1 and queued.count("StopTransaction") == 2
    assert (await transaction(api, first.id))["active"] is True  # the server knows nothing yet

    await cp.come_back()
    await cp.settled()
    replayed = [(a, p) for a, p in list(cp.link.sent)[replay_from:] if a in TRANSACTION_MESSAGES]
    assert [action for action, _ in replayed] == queued  # everything, in order
    times = [_time_of(action, payload) for action, payload in replayed]
    assert times == sorted(times)
    assert second.id is not None and second.id != first.id
    stops = [p for a, p in replayed if a == "StopTransaction"]
    assert [s["transactionId"] for s in stops] == [first.id, second.id]  # fixed up in the queue

    for tx in (first, second):
        shown = await transaction(api, tx.id)
        assert shown["active"] is False and shown["meter_stop"] == tx.meter_stop
        assert shown["energy_wh"] == tx.energy_wh and tx.energy_wh is not None
        assert len(shown["meter_values"]) == len(samples_sent(cp, tx))  # nothing lost
    listed = ok(await api.get("/transactions", params={"charge_point_id": cp.id}))
    assert sorted(t["id"] for t in listed["items"]) == sorted([first.id, second.id])
    await shows_status(api, cp.id, 1, "Available")


def _time_of(action: str, payload: dict[str, Any]) -> datetime:
    if action == "MeterValues":
        return parse_timestamp(payload["meterValue"][0]["timestamp"])
    return parse_timestamp(payload["timestamp"])


# --- boot and reset ----------------------------------------------------------------------
async def test_a_pending_charger_retries_its_boot_until_accepted(
    api: httpx.AsyncClient, ocpp_url: str, clock: SimClock
) -> None:
    spec = ChargerSpec("SIM-PENDING", password=PASSWORD)
    ok(await api.post("/charge-points", json={"id": spec.id, "password": PASSWORD}), 201)
    patch = {"registration_status": "Pending"}
    ok(await api.patch(f"/charge-points/{spec.id}", json=patch))
    async with SimChargePoint(spec, ocpp_url, clock=clock, tick_seconds=1.0) as cp:
        # The server's retry interval is 60 s: a second (real) apart at this speed.
        await cp.wait_until(lambda: len(sent(cp, "BootNotification")) >= 2)
        assert cp.registration == "Pending"
        assert {action for action, _ in cp.link.sent} == {"BootNotification"}
        ok(await api.patch(f"/charge-points/{spec.id}", json={"registration_status": "Accepted"}))
        await cp.wait_until(lambda: cp.registration == "Accepted")
        await cp.settled()
        await shows_status(api, cp.id, 1, "Available")
        assert cp.configuration.get("HeartbeatInterval") == "120"  # from the accepting answer


async def test_a_refused_charger_keeps_trying_and_connects_once_registered(
    api: httpx.AsyncClient, ocpp_url: str, clock: SimClock
) -> None:
    spec = ChargerSpec("SIM-LATE", password=PASSWORD)
    async with SimChargePoint(spec, ocpp_url, clock=clock) as cp:
        await cp.wait_until(lambda: cp.link.attempts >= 2)  # refused (HTTP 404), retried
        assert cp.link.connections == 0
        ok(await api.post("/charge-points", json={"id": spec.id, "password": PASSWORD}), 201)
        await cp.wait_until(lambda: cp.registration == "Accepted")  # backoff: 1, 2, 4... s
        assert cp.link.connections == 1


@pytest.mark.parametrize("kind", ["Soft", "Hard"])
async def test_reset_through_the_api_reboots_the_charger(
    cp: SimChargePoint, api: httpx.AsyncClient, kind: str
) -> None:
    tx = await charging(cp, 1)
    reply = ok(await api.post(f"/charge-points/{cp.id}/reset", json={"type": kind}))
    assert reply["status"] == "Accepted"
    await cp.wait_until(lambda: cp.boots == 2)
    await cp.settled()

    shown = await transaction(api, tx.id)
    assert shown["stop_reason"] == f"{kind}Reset" and shown["meter_stop"] == tx.meter_stop
    actions = [action for action, _ in cp.link.sent]
    stop, reboot = (
        actions.index("StopTransaction"),
        len(actions) - 1 - actions[::-1].index("BootNotification"),
    )
    # A soft reset stops the transaction first; a hard one tells of it after booting again.
    assert (stop < reboot) if kind == "Soft" else (stop > reboot)
    assert ok(await api.get(f"/charge-points/{cp.id}"))["connected"] is True
    await shows_status(api, cp.id, 1, "Finishing")  # the car is still plugged in


# --- Core commands ------------------------------------------------------------------------
async def test_remote_start_and_stop(cp: SimChargePoint, api: httpx.AsyncClient) -> None:
    await cp.plug_in(2, EV())
    start = {"id_tag": CARD}  # no connector: the charger picks the one with the car
    reply = ok(await api.post(f"/charge-points/{cp.id}/remote-start", json=start))
    assert reply["status"] == "Accepted"
    tx = await started(cp, 2)
    shown = await transaction(api, tx.id)
    assert (shown["connector_id"], shown["id_tag"]) == (2, CARD)
    assert not sent(cp, "Authorize")  # AuthorizeRemoteTxRequests is false

    busy = {"id_tag": CARD, "connector_id": 2}
    reply = ok(await api.post(f"/charge-points/{cp.id}/remote-start", json=busy))
    assert reply["status"] == "Rejected"
    missing = {"id_tag": CARD, "connector_id": 3}
    reply = ok(await api.post(f"/charge-points/{cp.id}/remote-start", json=missing))
    assert reply["status"] == "Rejected"

    stop = {"transaction_id": tx.id}
    reply = ok(await api.post(f"/charge-points/{cp.id}/remote-stop", json=stop))
    assert reply["status"] == "Accepted"
    await cp.settled()
    assert (await transaction(api, tx.id))["stop_reason"] == "Remote"
    await shows_status(api, cp.id, 2, "Finishing")
    reply = ok(await api.post(f"/charge-points/{cp.id}/remote-stop", json=stop))
    assert reply["status"] == "Rejected"  # no such transaction any more


async def test_remote_start_authorizes_first_when_configured(
    cp: SimChargePoint, api: httpx.AsyncClient
) -> None:
    change = {"key": "AuthorizeRemoteTxRequests", "value": "true"}
    assert ok(await api.put(f"/charge-points/{cp.id}/configuration", json=change))["status"] == (
        "Accepted"
    )
    await cp.plug_in(1, EV())
    start = {"id_tag": BLOCKED_CARD, "connector_id": 1}
    reply = ok(await api.post(f"/charge-points/{cp.id}/remote-start", json=start))
    assert reply["status"] == "Accepted"  # it will try
    await cp.wait_until(lambda: len(sent(cp, "Authorize")) == 1)
    await cp.settled()
    assert cp.connector(1).transaction is None and not sent(cp, "StartTransaction")


async def test_unlock_connector(cp: SimChargePoint, api: httpx.AsyncClient) -> None:
    tx = await charging(cp, 1)
    reply = ok(await api.post(f"/charge-points/{cp.id}/unlock", json={"connector_id": 1}))
    assert reply["status"] == "Unlocked"
    await cp.settled()
    assert (await transaction(api, tx.id))["stop_reason"] == "UnlockCommand"
    reply = ok(await api.post(f"/charge-points/{cp.id}/unlock", json={"connector_id": 3}))
    assert reply["status"] == "NotSupported"


async def test_change_availability(cp: SimChargePoint, api: httpx.AsyncClient) -> None:
    async def availability(connector_id: int, kind: str) -> str:
        body = {"connector_id": connector_id, "type": kind}
        reply = ok(await api.post(f"/charge-points/{cp.id}/availability", json=body))
        return str(reply["status"])

    assert await availability(2, "Inoperative") == "Accepted"
    await shows_status(api, cp.id, 2, "Unavailable")
    await cp.plug_in(2, EV())
    assert await cp.present_tag(2, CARD) is None  # no charging on an unavailable connector

    tx = await charging(cp, 1)
    assert await availability(1, "Inoperative") == "Scheduled"  # after the transaction
    assert await availability(1, "Operative") == "Accepted"  # it already is
    assert await availability(1, "Inoperative") == "Scheduled"
    await shows_status(api, cp.id, 1, "Charging")
    await cp.present_tag(1, CARD)
    await shows_status(api, cp.id, 1, "Unavailable")
    assert (await transaction(api, tx.id))["active"] is False

    assert await availability(9, "Inoperative") == "Rejected"
    assert await availability(0, "Operative") == "Accepted"  # the whole charge point
    await shows_status(api, cp.id, 1, "Finishing")  # the car is still plugged in
    await shows_status(api, cp.id, 2, "Preparing")
    assert await availability(0, "Inoperative") == "Accepted"
    await shows_status(api, cp.id, 0, "Unavailable")
    await shows_status(api, cp.id, 2, "Unavailable")

    ok(await api.post(f"/charge-points/{cp.id}/reset", json={"type": "Soft"}))
    await cp.wait_until(lambda: cp.boots == 2)
    await cp.settled()
    assert await connector_statuses(api, cp.id) == {
        0: "Unavailable",
        1: "Unavailable",
        2: "Unavailable",
    }


async def test_get_and_change_configuration(cp: SimChargePoint, api: httpx.AsyncClient) -> None:
    path = f"/charge-points/{cp.id}/configuration"
    everything = ok(await api.get(path))["payload"]
    keys = {k["key"]: k for k in everything["configurationKey"]}
    assert keys["HeartbeatInterval"]["value"] == "120"  # as the boot answer said
    assert keys["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "2",
    }
    for key in (
        "MeterValueSampleInterval",
        "ChargingScheduleAllowedChargingRateUnit",
        "ChargeProfileMaxStackLevel",
        "ChargingScheduleMaxPeriods",
        "MaxChargingProfilesInstalled",
        "SupportedFeatureProfiles",
        "StopTransactionOnEVSideDisconnect",
    ):
        assert key in keys
    assert "AuthorizationKey" not in keys and "unknownKey" not in everything
    assert PASSWORD not in str(everything)  # write-only

    some = ok(
        await api.get(path, params={"key": ["HeartbeatInterval", "AuthorizationKey", "Nope"]})
    )
    assert [k["key"] for k in some["payload"]["configurationKey"]] == ["HeartbeatInterval"]
    assert some["payload"]["unknownKey"] == ["AuthorizationKey", "Nope"]

    async def change(key: str, new: str) -> str:
        return str(ok(await api.put(path, json={"key": key, "value": new}))["status"])

    assert await change("NumberOfConnectors", "3") == "Rejected"  # read-only
    assert await change("Nope", "1") == "NotSupported"
    assert await change("HeartbeatInterval", "soon") == "Rejected"
    assert await change("StopTransactionOnInvalidId", "maybe") == "Rejected"
    assert await change("MeterValuesSampledData", "Temperature") == "Rejected"
    assert await change("AuthorizationKey", "short") == "Rejected"
    assert await change("MeterValuesSampledData", "Energy.Active.Import.Register") == "Accepted"

    # Heartbeats follow the new interval (sent when the link has been idle that long).
    assert await change("HeartbeatInterval", "10") == "Accepted"
    before = len(sent(cp, "Heartbeat"))
    await cp.wait_until(lambda: len(sent(cp, "Heartbeat")) >= before + 1)
    first = cp.clock.elapsed()
    await cp.wait_until(lambda: len(sent(cp, "Heartbeat")) >= before + 3)
    assert 19 <= cp.clock.elapsed() - first <= 24  # two intervals, give or take a tick


async def test_a_new_authorization_key_is_used_to_reconnect(
    cp: SimChargePoint, api: httpx.AsyncClient
) -> None:
    new_password = "another-horse-battery-staple"
    ok(await api.patch(f"/charge-points/{cp.id}", json={"password": new_password}))
    change = {"key": "AuthorizationKey", "value": new_password}
    reply = ok(await api.put(f"/charge-points/{cp.id}/configuration", json=change))
    assert reply["status"] == "Accepted"
    await cp.wait_until(lambda: cp.link.connections == 2 and cp.outbox.ready)
    assert cp.boots == 1  # a new connection, not a reboot

    async def connected() -> bool:  # the server registers it just after the handshake
        return ok(await api.get(f"/charge-points/{cp.id}"))["connected"] is True

    await eventually(connected)


async def test_clear_cache_and_data_transfer(cp: SimChargePoint, api: httpx.AsyncClient) -> None:
    await cp.plug_in(1, EV())
    assert await cp.present_tag(1, CARD) == "Accepted"  # now in the cache
    await cp.unplug(1)
    await cp.settled()  # the transaction's answers refresh the cache too
    reply = ok(await api.post(f"/charge-points/{cp.id}/clear-cache"))
    assert reply["status"] == "Accepted"
    await cp.settled()
    await cp.go_offline()
    await cp.plug_in(1, EV())
    assert await cp.present_tag(1, CARD) == "Invalid"  # offline, and the cache is empty
    await cp.come_back()

    transfer = {"vendor_id": "com.example", "message_id": "ping"}
    await cp.settled()
    reply = ok(await api.post(f"/charge-points/{cp.id}/data-transfer", json=transfer))
    assert reply["status"] == "UnknownVendorId"


# --- Remote Trigger -----------------------------------------------------------------------
async def test_trigger_message(
    cp: SimChargePoint, server: AmpNexus, api: httpx.AsyncClient
) -> None:
    async def trigger(message: str, connector_id: int | None = None) -> str:
        payload: dict[str, Any] = {"requestedMessage": message}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return str((await server.gateway.call(cp.id, "TriggerMessage", payload))["status"])

    assert await trigger("BootNotification") == "Accepted"
    await cp.wait_until(lambda: cp.boots == 2)

    heartbeats = len(sent(cp, "Heartbeat"))
    assert await trigger("Heartbeat") == "Accepted"
    await cp.wait_until(lambda: len(sent(cp, "Heartbeat")) == heartbeats + 1)

    await cp.settled()
    statuses = len(sent(cp, "StatusNotification"))
    assert await trigger("StatusNotification") == "Accepted"  # the charge point and each connector
    await cp.wait_until(lambda: len(sent(cp, "StatusNotification")) == statuses + 3)
    assert [p["connectorId"] for p in sent(cp, "StatusNotification")[-3:]] == [0, 1, 2]
    assert await trigger("StatusNotification", 2) == "Accepted"
    await cp.wait_until(lambda: len(sent(cp, "StatusNotification")) == statuses + 4)

    tx = await charging(cp, 1)
    assert await trigger("MeterValues", 1) == "Accepted"

    async def triggered_sample_stored() -> bool:
        readings = (await transaction(api, tx.id))["meter_values"]
        return any(s["context"] == "Trigger" for r in readings for s in r["sampled_values"])

    await eventually(triggered_sample_stored)
    assert await trigger("DiagnosticsStatusNotification") == "NotImplemented"
    assert await trigger("StatusNotification", 7) == "Rejected"


# --- Smart Charging -----------------------------------------------------------------------
async def test_a_default_profile_limits_the_power_drawn(
    cp: SimChargePoint, server: AmpNexus, api: httpx.AsyncClient
) -> None:
    ten_amps = profile(1, "TxDefaultProfile", [(0, 10)], start=cp.clock.now() - timedelta(hours=1))
    assert await set_profile(server, cp, 0, ten_amps) == "Accepted"
    tx = await charging(cp, 1, EV(max_power_w=22_000))
    readings = await next_samples(cp, api, tx)
    assert power(readings[-1]) == 10 * VOLTS_3P
    assert value(readings[-1], "Current.Import", "L2")["value"] == "10.00"

    cleared = await server.gateway.call(cp.id, "ClearChargingProfile", {"id": 1})
    assert cleared["status"] == "Accepted"
    readings = await next_samples(cp, api, tx)
    assert power(readings[-1]) == 22_000.0  # the charger's and the EV's maximum
    cleared = await server.gateway.call(cp.id, "ClearChargingProfile", {"id": 1})
    assert cleared["status"] == "Unknown"


async def test_a_tx_profile_is_followed_period_by_period(
    cp: SimChargePoint, server: AmpNexus, api: httpx.AsyncClient
) -> None:
    path = f"/charge-points/{cp.id}/configuration"
    ok(await api.put(path, json={"key": "MeterValueSampleInterval", "value": "10"}))
    tx = await charging(cp, 1, EV(max_power_w=22_000))
    begin = cp.clock.now()
    body = profile(7, "TxProfile", [(0, 16), (60, 8), (120, 0)], start=begin, transactionId=tx.id)
    assert await set_profile(server, cp, 1, body) == "Accepted"
    await cp.wait_until(lambda: cp.clock.now() > begin + timedelta(seconds=150))
    await shows_status(api, cp.id, 1, "SuspendedEVSE")

    expected = {0: 16 * VOLTS_3P, 60: 8 * VOLTS_3P, 120: 0.0}
    seen: dict[int, list[float]] = {start: [] for start in expected}
    for reading in await next_samples(cp, api, tx, 1):
        offset = (parse_timestamp(reading["timestamp"]) - begin).total_seconds()
        near_a_change = any(abs(offset - start) < 2 for start in expected)
        if offset > 0 and not near_a_change:
            period = max(start for start in expected if start <= offset)
            seen[period].append(power(reading))
    for period, powers in seen.items():
        assert powers and set(powers) == {expected[period]}, (period, powers)

    await cp.present_tag(1, CARD)
    await cp.settled()
    assert all(p.purpose.value != "TxProfile" for _, p in cp.charger.profiles.profiles())


async def test_the_charge_point_maximum_is_shared_between_connectors(
    cp: SimChargePoint, server: AmpNexus, api: httpx.AsyncClient
) -> None:
    cap = profile(3, "ChargePointMaxProfile", [(0, 32)], start=cp.clock.now() - timedelta(hours=1))
    assert await set_profile(server, cp, 0, cap) == "Accepted"
    first = await charging(cp, 1, EV(max_power_w=22_000))
    second = await charging(cp, 2, EV(max_power_w=22_000))
    for tx in (first, second):
        readings = await next_samples(cp, api, tx)
        assert power(readings[-1]) == 16 * VOLTS_3P  # half of 32 A each


async def test_remote_start_with_a_tx_profile(cp: SimChargePoint, api: httpx.AsyncClient) -> None:
    await cp.plug_in(1, EV(max_power_w=22_000))
    twelve_amps = profile(5, "TxProfile", [(0, 12)], kind="Relative")
    start = {"connector_id": 1, "id_tag": CARD, "charging_profile": twelve_amps}
    reply = ok(await api.post(f"/charge-points/{cp.id}/remote-start", json=start))
    assert reply["status"] == "Accepted"
    tx = await started(cp, 1)
    readings = await next_samples(cp, api, tx)
    assert power(readings[-1]) == 12 * VOLTS_3P
    assert [(c, p.transaction_id) for c, p in cp.charger.profiles.profiles()] == [(1, tx.id)]


async def test_get_composite_schedule(cp: SimChargePoint, server: AmpNexus) -> None:
    now = cp.clock.now()
    default = profile(1, "TxDefaultProfile", [(0, 20), (600, 12)], start=now, duration=1200)
    default["chargingSchedule"]["duration"] = default.pop("duration")
    assert await set_profile(server, cp, 0, default) == "Accepted"
    cap = profile(2, "ChargePointMaxProfile", [(0, 18)], start=now)
    assert await set_profile(server, cp, 0, cap) == "Accepted"

    async def composite(connector_id: int, **extra: Any) -> dict[str, Any]:
        request = {"connectorId": connector_id, "duration": 1800, **extra}
        return dict(await server.gateway.call(cp.id, "GetCompositeSchedule", request))

    answer = await composite(1)
    assert answer["status"] == "Accepted" and answer["connectorId"] == 1
    late = (parse_timestamp(answer["scheduleStart"]) - now).total_seconds()
    schedule = answer["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A" and schedule["duration"] == 1800
    periods = [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]]
    assert [limit for _, limit in periods] == [18.0, 12.0, 18.0]  # min(ChargePointMax, TxDefault)
    assert [start for start, _ in periods][1:] == pytest.approx([600 - late, 1200 - late], abs=1)

    in_watts = await composite(1, chargingRateUnit="W")
    watts = [p["limit"] for p in in_watts["chargingSchedule"]["chargingSchedulePeriod"]]
    assert watts == [18 * VOLTS_3P, 12 * VOLTS_3P, 18 * VOLTS_3P]
    whole = await composite(0)
    assert [p["limit"] for p in whole["chargingSchedule"]["chargingSchedulePeriod"]] == [18.0]
    assert (await composite(5))["status"] == "Rejected"

    # What it reports is what it draws.
    cp.configuration.set("MeterValueSampleInterval", "10")
    tx = await charging(cp, 1, EV(max_power_w=22_000))
    await cp.wait_until(lambda: len(samples_sent(cp, tx)) >= 1)
    assert cp.connector(1).power_w == 18 * VOLTS_3P


async def test_set_charging_profile_is_refused_where_the_spec_says_so(
    cp: SimChargePoint, server: AmpNexus
) -> None:
    now = cp.clock.now()
    assert await set_profile(server, cp, 1, profile(1, "TxProfile", [(0, 8)], start=now)) == (
        "Rejected"  # no transaction
    )
    cap = profile(2, "ChargePointMaxProfile", [(0, 8)], start=now)
    assert await set_profile(server, cp, 1, cap) == "Rejected"  # only on connector 0
    assert await set_profile(server, cp, 3, cap) == "Rejected"  # no such connector
    deep = profile(3, "TxDefaultProfile", [(0, 8)], start=now, stack_level=11)
    assert await set_profile(server, cp, 0, deep) == "Rejected"  # ChargeProfileMaxStackLevel 10
    long = profile(4, "TxDefaultProfile", [(60 * n, 8) for n in range(25)], start=now)
    assert await set_profile(server, cp, 0, long) == "Rejected"  # ChargingScheduleMaxPeriods 24

    tx = await charging(cp, 1)
    other = profile(5, "TxProfile", [(0, 8)], start=now, transactionId=tx.ocpp_id + 1)
    assert await set_profile(server, cp, 1, other) == "Rejected"  # not this transaction
    mine = profile(6, "TxProfile", [(0, 8)], start=now, transactionId=tx.ocpp_id)
    assert await set_profile(server, cp, 1, mine) == "Accepted"


# --- scripts and `ampnexus simulate` -----------------------------------------------------
def test_scripts_are_checked_before_they_run() -> None:
    events = parse_script(
        {
            "events": [
                {"at": 5, "action": "unplug"},
                {"at": 1, "charger": "X-1", "action": "plug_in", "ev": {"soc": 40}},
            ]
        }
    )
    assert [(e.at, e.action, e.charger) for e in events] == [
        (1, "plug_in", "X-1"),
        (5, "unplug", None),
    ]
    assert events[0].params == {"ev": {"soc": 40}} and events[0].connector == 1
    with pytest.raises(ValueError, match="unknown action"):
        parse_script({"events": [{"at": 1, "action": "explode"}]})
    with pytest.raises(ValueError):
        parse_script({"steps": []})
    with pytest.raises(ValueError, match="X-1"):
        check_script(events, ["Y-1"])


@contextlib.asynccontextmanager
async def ampnexus_child(*args: str, **pipes: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """`ampnexus ARGS` in a child process, killed if the test leaves it running."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ampnexus.cli", *args, **pipes
    )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def interrupted(child: asyncio.subprocess.Process) -> int:
    """Ctrl-C, as a user stops it; its exit status."""
    child.send_signal(signal.SIGINT)
    return await asyncio.wait_for(child.wait(), 20)


async def test_ampnexus_simulate_runs_a_scripted_fleet(
    api: httpx.AsyncClient, ocpp_url: str, cards: None, tmp_path: Path
) -> None:
    for cp_id in ("SIM-0001", "SIM-0002"):
        ok(await api.post("/charge-points", json={"id": cp_id, "password": PASSWORD}), 201)
    script = tmp_path / "evening.json"
    plug_in = {"action": "plug_in", "ev": {"soc": 40, "max_power_kw": 22}}
    swipe = {"action": "present_tag", "id_tag": CARD}
    # The first swipe waits 10 s of real time (600 simulated): a swipe before its charger is
    # booted is lost, and a loaded machine has taken 3 s to start the simulator and boot.
    events = [{"at": 0, **plug_in}, {"at": 600, **swipe}, {"at": 870, **swipe}]
    events += [{"at": 890, "action": "unplug"}]
    script.write_text(json.dumps({"events": [{"charger": "SIM-0001", **e} for e in events]}))
    fleet = ("--url", ocpp_url, "--chargers", "2", "--password", PASSWORD)
    async with ampnexus_child("simulate", *fleet, "--script", str(script), "--speed", "60") as sim:

        async def session_over() -> bool:
            chargers = ok(await api.get("/charge-points"))["items"]
            found = ok(await api.get("/transactions", params={"charge_point_id": "SIM-0001"}))
            done = [t for t in found["items"] if not t["active"]]
            return all(c["connected"] for c in chargers) and bool(done)

        await eventually(session_over, timeout=40)
        found = ok(await api.get("/transactions", params={"charge_point_id": "SIM-0001"}))
        (session,) = found["items"]
        # SIM-0001 is the fleet's 7.4 kW single-phase wall box, charging from the first swipe
        # (600 s) to the second (870 s). At 60x a busy machine may run the script a few
        # simulated seconds late, so the energy is judged on the session as recorded.
        lasted = (
            datetime.fromisoformat(session["stopped_at"])
            - datetime.fromisoformat(session["started_at"])
        ).total_seconds()
        assert 240 <= lasted <= 300, session
        assert session["energy_wh"] == pytest.approx(7_400 * lasted / 3600, rel=0.05)
        assert session["stop_reason"] == "Local"
        assert await interrupted(sim) == 0


EXAMPLE_SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "car-plugs-in.json"


async def test_the_readme_tour_simulator_recipe_plugs_a_car_into_the_registered_charger(
    api: httpx.AsyncClient, ocpp_url: str, cards: None
) -> None:
    """The quick tour's terminal 3, word for word but for the URL: CP-1, its password, the
    example script; then the tour's remote start finds the car plugged in."""
    ok(await api.post("/charge-points", json={"id": "CP-1", "password": PASSWORD}), 201)
    tour = ("--url", ocpp_url, "--id", "CP-1", "--password", PASSWORD)
    async with ampnexus_child(
        "simulate", *tour, "--script", str(EXAMPLE_SCRIPT), stderr=asyncio.subprocess.PIPE
    ) as sim:

        async def plugged_in() -> bool:
            shown = ok(await api.get("/charge-points/CP-1"))
            statuses = {c["connector_id"]: c["status"] for c in shown["connectors"]}
            return shown["connected"] and statuses.get(1) == "Preparing"

        await eventually(plugged_in, timeout=20)
        start = {"connector_id": 1, "id_tag": CARD}
        answer = ok(await api.post("/charge-points/CP-1/remote-start", json=start))
        assert answer["status"] == "Accepted"

        async def charging() -> bool:
            return ok(await api.get("/transactions", params={"active": "true"}))["total"] == 1

        await eventually(charging, timeout=10)
        assert await interrupted(sim) == 0
        assert sim.stderr is not None
        said = (await sim.stderr.read()).decode()
    for line in ("CP-1 booted: Accepted", "CP-1/1: a car is plugged in", "started for " + CARD):
        assert line in said, said


# --- the demo ----------------------------------------------------------------------------
async def test_the_demo_shows_cars_charging_and_leaving_with_what_they_asked_for() -> None:
    """Over 160 simulated minutes: a live table of power and energy every few seconds,
    arrivals, departures, and drivers who tell AmpNexus what they need and get it."""
    run = ("--duration", "20", "--speed", "480", "--chargers", "3", "--seed", "1")
    ports = ("--http-port", "0", "--ocpp-port", "0")
    async with ampnexus_child("demo", *run, *ports, stdout=asyncio.subprocess.PIPE) as demo:
        assert demo.stdout is not None
        printed: dict[str, str] = {}
        async with asyncio.timeout(30):
            while not {"portal", "API", "API key"} <= set(printed):
                line = (await demo.stdout.readline()).decode()
                assert line, "the demo ended before printing where to look"
                name, _, shown = line.strip().partition("  ")
                if name in ("portal", "API", "API key"):
                    printed[name] = shown.strip()
        # The portal's address and a login that works.
        portal = re.fullmatch(
            r"(http://\S+/)  \(sign in as (\S+), password (\S+)\)", printed["portal"]
        )
        assert portal, printed["portal"]
        async with httpx.AsyncClient(base_url=portal[1]) as browser:
            signed_in = await portal_sign_in(browser, portal[2], portal[3])
            assert signed_in.status_code == 303, signed_in.text
            assert "Dashboard" in (await browser.get("/")).text
        headers = {"Authorization": f"Bearer {printed['API key']}"}
        async with httpx.AsyncClient(base_url=printed["API"], headers=headers) as client:

            async def a_session_with_its_need() -> bool:
                chargers = ok(await client.get("/charge-points"))["items"]
                if len(chargers) != 3 or not all(c["connected"] for c in chargers):
                    return False
                for tx in ok(await client.get("/transactions"))["items"]:
                    need = await client.get(f"/transactions/{tx['id']}/need")
                    if need.status_code == 200 and need.json()["energy_kwh"] > 0:
                        return True
                return False

            await eventually(a_session_with_its_need, timeout=30)
        output, _ = await asyncio.wait_for(demo.communicate(), 60)
    assert demo.returncode == 0
    text = output.decode()
    tables = re.findall(r"site (\d+\.\d) of (\d+\.\d) kW, (\d+) cars parked", text)
    assert len(tables) >= 3, text  # one every few real seconds
    assert all(float(power) <= float(limit) + 0.05 for power, limit, _ in tables), text
    assert any(float(power) > 0 for power, _, _ in tables), text
    assert len(re.findall(r"accepted; wants \d+\.\d kWh by \d\d:\d\d", text)) >= 3, text
    assert re.search(r"charging +\d+\.\d kW +\d+\.\d of +\d+\.\d kWh", text), text
    left = re.findall(r"leaves with (\d+\.\d) of (\d+\.\d) kWh", text)
    assert len(left) >= 2, text
    summary = re.search(r"(\d+) of the (\d+) drivers who left got the energy they asked", text)
    assert summary is not None, text
    satisfied, departed = int(summary[1]), int(summary[2])
    assert departed == len(left) and satisfied >= 1, text
    assert satisfied == sum(float(got) >= float(wanted) - 0.05 for got, wanted in left), text
