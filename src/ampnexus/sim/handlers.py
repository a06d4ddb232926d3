"""How the simulated charge point answers each CSMS command: Core, Smart Charging and
Remote Trigger. Each handler decides its answer at once; what the command sets in motion
(a transaction stopping, a reboot, a triggered message) runs after the answer is sent.

Commands of profiles the charger does not offer (Reservation, LocalAuthListManagement,
FirmwareManagement) get the CALLERROR NotSupported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ProfilePurpose,
    composite_schedule,
    convert,
)
from ampnexus.domain.errors import Invalid
from ampnexus.ocpp.v16.profiles import composite_to_ocpp, parse_profile
from ampnexus.sim.charger import Connector
from ampnexus.sim.connection import Reply

if TYPE_CHECKING:
    from ampnexus.sim.charge_point import SimChargePoint

Handler = Callable[["SimChargePoint", dict[str, Any]], Reply]
HANDLERS: dict[str, Handler] = {}


def handles(action: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[action] = handler
        return handler

    return register


def status(value: str, then: Callable[[], Awaitable[Any]] | None = None) -> Reply:
    return Reply({"status": value}, then)


# --- Core ----------------------------------------------------------------------------------
@handles("RemoteStartTransaction")
def remote_start(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    if cp.registration != "Accepted":
        return status("Rejected")  # not allowed while Pending (§4.2)
    profile = None
    if "chargingProfile" in payload:
        profile = _tx_profile(payload["chargingProfile"])
        if profile is None:
            return status("Rejected")
    connector = _connector_for_remote_start(cp, payload.get("connectorId"))
    if connector is None:
        return status("Rejected")
    return status("Accepted", lambda: cp.remote_start(connector, payload["idTag"], profile))


def _tx_profile(payload: dict[str, Any]) -> ChargingProfile | None:
    """A RemoteStartTransaction's profile: a TxProfile without a transactionId (§5.16.2)."""
    try:
        profile = parse_profile(payload)
    except Invalid:
        return None
    if profile.purpose is not ProfilePurpose.TX or profile.transaction_id is not None:
        return None
    return profile


def _connector_for_remote_start(cp: SimChargePoint, connector_id: int | None) -> Connector | None:
    if connector_id is not None:
        connector = cp.charger.connector(connector_id)
        return connector if connector is not None and cp.can_start(connector) else None
    free = [c for c in cp.charger.connectors.values() if cp.can_start(c)]
    plugged = [c for c in free if c.ev is not None]  # the driver's car is waiting there
    return next(iter(plugged or free), None)


@handles("RemoteStopTransaction")
def remote_stop(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    connector = cp.transaction(payload["transactionId"])
    if connector is None:
        return status("Rejected")

    async def stop() -> None:
        cp.stop_transaction(connector, "Remote")

    return status("Accepted", stop)


@handles("Reset")
def reset(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    return status("Accepted", lambda: cp.reboot(hard=payload["type"] == "Hard"))


@handles("UnlockConnector")
def unlock_connector(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    connector = cp.charger.connector(payload["connectorId"])
    if connector is None:
        return status("NotSupported")

    async def unlock() -> None:
        cp.stop_transaction(connector, "UnlockCommand")  # a transaction ends first (§5.18)

    return status("Unlocked", unlock)


@handles("ChangeAvailability")
def change_availability(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    connector_id, inoperative = payload["connectorId"], payload["type"] == "Inoperative"
    charger = cp.charger
    if connector_id == 0:
        targets = list(charger.connectors.values())
    elif (connector := charger.connector(connector_id)) is not None:
        targets = [connector]
    else:
        return status("Rejected")
    for target in targets:
        if target.transaction is not None and inoperative:
            target.scheduled = True  # once the transaction is over (§5.2)
        else:
            target.inoperative, target.scheduled = inoperative, None
    if connector_id == 0:
        charger.inoperative = inoperative
    busy = inoperative and any(target.transaction is not None for target in targets)

    async def report() -> None:
        cp.refresh()

    return status("Scheduled" if busy else "Accepted", report)


@handles("GetConfiguration")
def get_configuration(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    return Reply(cp.configuration.read(payload.get("key")))


@handles("ChangeConfiguration")
def change_configuration(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    key = payload["key"]
    result = cp.configuration.change(key, payload["value"])
    if result == "Accepted" and key == "AuthorizationKey":
        # Security whitepaper A01: reconnect with the new password.
        return status(result, lambda: cp.link.reconnect())
    return status(result)


@handles("ClearCache")
def clear_cache(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    cp.cache.clear()
    return status("Accepted")


@handles("DataTransfer")
def data_transfer(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    return status("UnknownVendorId")  # the simulator has no vendor extensions


# --- Smart Charging ------------------------------------------------------------------------
@handles("SetChargingProfile")
def set_charging_profile(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    connector_id = payload["connectorId"]
    if connector_id != 0 and cp.charger.connector(connector_id) is None:
        return status("Rejected")
    try:
        profile = parse_profile(payload["csChargingProfiles"], connector_id=connector_id)
    except Invalid:
        return status("Rejected")
    tx = None
    if connector_id != 0:
        tx = cp.connector(connector_id).transaction
    active = tx.ocpp_id if tx is not None else None
    result = cp.charger.profiles.install(
        connector_id, profile, active_transaction_id=active, now=cp.clock.now()
    )
    return status(result.value, _refreshing(cp))


@handles("ClearChargingProfile")
def clear_charging_profile(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    purpose = payload.get("chargingProfilePurpose")
    cleared = cp.charger.profiles.clear(
        profile_id=payload.get("id"),
        connector_id=payload.get("connectorId"),
        purpose=ProfilePurpose(purpose) if purpose else None,
        stack_level=payload.get("stackLevel"),
    )
    return status("Accepted" if cleared else "Unknown", _refreshing(cp))


@handles("GetCompositeSchedule")
def get_composite_schedule(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    connector_id = payload["connectorId"]
    charger, spec = cp.charger, cp.spec
    if connector_id != 0 and charger.connector(connector_id) is None:
        return status("Rejected")
    unit = ChargingRateUnit(payload.get("chargingRateUnit", "A"))
    tx = charger.connectors[connector_id].transaction if connector_id else None
    own_max = charger.total_max_w if connector_id == 0 else spec.max_power_w
    schedule = composite_schedule(
        charger.profiles,
        connector_id,
        cp.clock.now(),
        payload["duration"],
        unit,
        transaction_start=tx.started_at if tx else None,
        voltage=spec.voltage,
        phases=spec.phases,
        now_transaction_id=tx.ocpp_id if tx else None,
        max_limit=convert(own_max, ChargingRateUnit.W, unit, spec.phases, spec.voltage),
    )
    return Reply(composite_to_ocpp(connector_id, schedule))


def _refreshing(cp: SimChargePoint) -> Callable[[], Any]:
    async def refresh() -> None:
        cp.refresh()  # a new limit may suspend or resume charging

    return refresh


# --- Remote Trigger ------------------------------------------------------------------------
@handles("TriggerMessage")
def trigger_message(cp: SimChargePoint, payload: dict[str, Any]) -> Reply:
    requested, connector_id = payload["requestedMessage"], payload.get("connectorId")
    if (
        connector_id is not None
        and connector_id != 0
        and cp.charger.connector(connector_id) is None
    ):
        return status("Rejected")
    every = [0, *cp.charger.connectors]
    if requested == "BootNotification":
        return status("Accepted", _discard(cp.boot))
    if requested == "Heartbeat":
        return status("Accepted", _discard(lambda: cp.send_now("Heartbeat", {})))
    if requested == "StatusNotification":
        targets = every if connector_id is None else [connector_id]
        return status("Accepted", _each(targets, cp.send_status_now))
    if requested == "MeterValues":
        targets = list(cp.charger.connectors) if connector_id is None else [connector_id]
        return status("Accepted", _each(targets, cp.send_meter_values_now))
    return status("NotImplemented")  # diagnostics and firmware: profiles not offered


def _discard(send: Callable[[], Any]) -> Callable[[], Any]:
    async def run() -> None:
        await send()

    return run


def _each(connector_ids: list[int], send: Callable[[int], Any]) -> Callable[[], Any]:
    async def run() -> None:
        for connector_id in connector_ids:
            await send(connector_id)

    return run
