"""Commands an operator sends to a charger (OCPP 1.6 Core), answered with its reply."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    ProfilePurpose,
    parse_composite,
    parse_profile,
    profile_to_ocpp,
)
from ampnexus.domain.errors import Conflict, Invalid
from ampnexus.domain.time import Clock
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.data_transfer import DataTransferService
from ampnexus.services.ports import CommandPort, TransactionStore

RESET_TYPES = ("Hard", "Soft")
AVAILABILITY_TYPES = ("Inoperative", "Operative")
MESSAGE_TRIGGERS = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
# How many of a charger's active transactions are searched for the one a TxProfile is for:
# far more than any charger has connectors.
ACTIVE_TRANSACTIONS_SCANNED = 500


@dataclass(frozen=True, slots=True)
class CompositeReply:
    """A GetCompositeSchedule.conf as sent, and its schedule with an absolute start (UTC)."""

    payload: dict[str, Any]
    schedule: ChargingSchedule | None
    problem: str | None = None  # why a schedule the charger sent could not be read


class CommandService:
    def __init__(
        self,
        port: CommandPort,
        charge_points: ChargePointService,
        data_transfer: DataTransferService,
        transactions: TransactionStore,
        clock: Clock,
    ) -> None:
        self._port = port
        self._charge_points = charge_points
        self._data_transfer = data_transfer
        self._transactions = transactions
        self._clock = clock

    async def send(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> Any:
        await self._charge_points.get(charge_point_id)  # 404 before 409
        return await self._port.call(charge_point_id, action, payload)

    async def remote_start(
        self,
        charge_point_id: str,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> Any:
        payload: dict[str, Any] = {"idTag": id_tag}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        if charging_profile is not None:
            profile = _parse_profile(charging_profile)
            if profile.purpose is not ProfilePurpose.TX:
                raise Invalid("a remote start's charging profile must have purpose TxProfile")
            if profile.transaction_id is not None:
                raise Invalid("a remote start's charging profile must not have a transactionId")
            payload["chargingProfile"] = profile_to_ocpp(profile)
        return await self.send(charge_point_id, "RemoteStartTransaction", payload)

    async def remote_stop(self, charge_point_id: str, transaction_id: int) -> Any:
        return await self.send(
            charge_point_id, "RemoteStopTransaction", {"transactionId": transaction_id}
        )

    async def reset(self, charge_point_id: str, reset_type: str) -> Any:
        if reset_type not in RESET_TYPES:
            raise Invalid("reset type must be Hard or Soft")
        return await self.send(charge_point_id, "Reset", {"type": reset_type})

    async def unlock(self, charge_point_id: str, connector_id: int) -> Any:
        return await self.send(charge_point_id, "UnlockConnector", {"connectorId": connector_id})

    async def change_availability(
        self, charge_point_id: str, connector_id: int, availability: str
    ) -> Any:
        if availability not in AVAILABILITY_TYPES:
            raise Invalid("availability type must be Inoperative or Operative")
        return await self.send(
            charge_point_id,
            "ChangeAvailability",
            {"connectorId": connector_id, "type": availability},
        )

    async def get_configuration(self, charge_point_id: str, keys: list[str] | None) -> Any:
        return await self.send(charge_point_id, "GetConfiguration", {"key": keys} if keys else {})

    async def change_configuration(self, charge_point_id: str, key: str, value: str) -> Any:
        return await self.send(charge_point_id, "ChangeConfiguration", {"key": key, "value": value})

    async def clear_cache(self, charge_point_id: str) -> Any:
        return await self.send(charge_point_id, "ClearCache", {})

    async def data_transfer(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: str | None
    ) -> Any:
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        reply = await self.send(charge_point_id, "DataTransfer", payload)
        await self._data_transfer.sent(
            charge_point_id, vendor_id, message_id, data, reply.get("status")
        )
        return reply

    # --- Smart Charging ------------------------------------------------------------------------
    async def set_charging_profile(
        self, charge_point_id: str, connector_id: int, charging_profile: dict[str, Any]
    ) -> Any:
        """SetChargingProfile with a camelCase csChargingProfiles object, checked first."""
        profile = _parse_profile(charging_profile, connector_id)
        return await self.install_profile(charge_point_id, connector_id, profile)

    async def install_profile(
        self, charge_point_id: str, connector_id: int, profile: ChargingProfile
    ) -> Any:
        """SetChargingProfile; a TxProfile is bound to the transaction running on the connector
        (§5.16: the Central System SHALL include its transactionId)."""
        if profile.purpose is ProfilePurpose.TX:
            await self._charge_points.get(charge_point_id)  # 404 before 409
            running = await self._running_transaction(charge_point_id, connector_id)
            if running is None:
                raise Conflict(f"no transaction is running on connector {connector_id}")
            if profile.transaction_id not in (None, running):
                raise Conflict(
                    f"transaction {profile.transaction_id} is not the one running on connector "
                    f"{connector_id} ({running})"
                )
            profile = replace(profile, transaction_id=running)
        payload = {"connectorId": connector_id, "csChargingProfiles": profile_to_ocpp(profile)}
        return await self.send(charge_point_id, "SetChargingProfile", payload)

    async def clear_charging_profile(
        self,
        charge_point_id: str,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        """ClearChargingProfile; the charger clears what matches every given field, or
        everything when none is given."""
        if purpose is not None and purpose not in set(ProfilePurpose):
            raise Invalid(f"purpose must be one of {', '.join(ProfilePurpose)}")
        if connector_id is not None and connector_id < 0:
            raise Invalid("connector id must not be negative")
        if stack_level is not None and stack_level < 0:
            raise Invalid("stack level must not be negative")
        fields = {
            "id": profile_id,
            "connectorId": connector_id,
            "chargingProfilePurpose": purpose,
            "stackLevel": stack_level,
        }
        payload = {key: value for key, value in fields.items() if value is not None}
        return await self.send(charge_point_id, "ClearChargingProfile", payload)

    async def get_composite_schedule(
        self, charge_point_id: str, connector_id: int, duration: int, unit: str | None = None
    ) -> CompositeReply:
        """GetCompositeSchedule for the next `duration` seconds from now."""
        if connector_id < 0:
            raise Invalid("connector id must not be negative")
        if duration <= 0:
            raise Invalid("duration must be a positive number of seconds")
        if unit is not None and unit not in set(ChargingRateUnit):
            raise Invalid("unit must be A or W")
        payload: dict[str, Any] = {"connectorId": connector_id, "duration": duration}
        if unit is not None:
            payload["chargingRateUnit"] = unit
        asked_at = self._clock.now()
        reply = await self.send(charge_point_id, "GetCompositeSchedule", payload)
        return _composite(reply, asked_at)

    # --- Remote Trigger ------------------------------------------------------------------------
    async def trigger_message(
        self, charge_point_id: str, requested_message: str, connector_id: int | None = None
    ) -> Any:
        if requested_message not in MESSAGE_TRIGGERS:
            raise Invalid(f"requested message must be one of {', '.join(MESSAGE_TRIGGERS)}")
        if connector_id is not None and connector_id < 0:
            raise Invalid("connector id must not be negative")
        payload: dict[str, Any] = {"requestedMessage": requested_message}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return await self.send(charge_point_id, "TriggerMessage", payload)

    async def _running_transaction(self, charge_point_id: str, connector_id: int) -> int | None:
        """The newest transaction still running on the connector."""
        active = await self._transactions.list(
            charge_point_id, True, ACTIVE_TRANSACTIONS_SCANNED, 0
        )
        return next((t.id for t in active.items if t.connector_id == connector_id), None)


def _parse_profile(payload: dict[str, Any], connector_id: int | None = None) -> ChargingProfile:
    """The domain's checks, plus a refusal of fields OCPP does not define (typos would
    otherwise be dropped without a word)."""
    profile = parse_profile(payload, connector_id=connector_id)
    unknown = _unknown_fields(payload, profile_to_ocpp(profile))
    if unknown:
        raise Invalid(f"unknown charging profile field(s): {', '.join(unknown)}")
    return profile


def _unknown_fields(given: Any, known: Any, where: str = "") -> list[str]:
    """Paths of the fields in `given` that its canonical form `known` lacks."""
    if isinstance(given, list) and isinstance(known, list):
        return [
            path
            for index, (item, canonical) in enumerate(zip(given, known, strict=False))
            for path in _unknown_fields(item, canonical, f"{where}[{index}]")
        ]
    if not (isinstance(given, dict) and isinstance(known, dict)):
        return []
    unknown: list[str] = []
    for key, value in given.items():
        path = f"{where}.{key}" if where else key
        if key not in known and value is not None:
            unknown.append(path)
        else:
            unknown.extend(_unknown_fields(value, known.get(key), path))
    return unknown


def _composite(reply: Any, asked_at: datetime) -> CompositeReply:
    """Without a scheduleStart (or startSchedule), periods count from the request (§5.7)."""
    payload = reply if isinstance(reply, dict) else {}
    try:
        schedule = parse_composite(payload)
    except Invalid as error:
        return CompositeReply(payload, None, f"the charger's schedule is not valid: {error}")
    if schedule is not None and schedule.start_schedule is None:
        schedule = replace(schedule, start_schedule=asked_at)
    return CompositeReply(payload, schedule)
