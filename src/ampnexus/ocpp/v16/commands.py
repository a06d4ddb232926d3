"""The command port (`services.ports.ChargerCommands`) spoken as OCPP 1.6J: each command is
written as its action's request, sent through the gateway's raw call, and its answer read
back into the domain's terms. Answers the gateway returns are already schema-valid; what is
still checked here is what the schema cannot say (a composite schedule's own rules) or what
a status set this side does not know, and such an answer raises UnreadableAnswer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from ampnexus.domain.charging_profile import ChargingProfile, ChargingRateUnit, ProfileStatus
from ampnexus.domain.commands import (
    Acceptance,
    Answer,
    Availability,
    AvailabilityStatus,
    ClearProfileStatus,
    CompositeAnswer,
    ConfigurationRead,
    ConfigurationStatus,
    DataTransferAnswer,
    DataTransferStatus,
    ProfileFilter,
    ResetKind,
    TriggeredMessage,
    TriggerStatus,
    UnlockStatus,
)
from ampnexus.domain.errors import Invalid, UnreadableAnswer
from ampnexus.domain.firmware import (
    FirmwareUpdate,
    LogRequestStatus,
    SignedUpdateStatus,
    UploadOptions,
    UploadRequest,
)
from ampnexus.domain.local_list import ListEntry, ListUpdate, ListVersion, UpdateStatus
from ampnexus.domain.reservation import CancelStatus, ReserveStatus
from ampnexus.domain.time import Clock, format_timestamp
from ampnexus.ocpp.v16.profiles import parse_composite, profile_to_ocpp

S = TypeVar("S", bound=StrEnum)

# The OCPP 1.6 MessageTrigger of each message a charger can be asked for (§7.32).
MESSAGE_TRIGGERS: dict[TriggeredMessage, str] = {
    TriggeredMessage.BOOT: "BootNotification",
    TriggeredMessage.DIAGNOSTICS_STATUS: "DiagnosticsStatusNotification",
    TriggeredMessage.FIRMWARE_STATUS: "FirmwareStatusNotification",
    TriggeredMessage.HEARTBEAT: "Heartbeat",
    TriggeredMessage.METER_VALUES: "MeterValues",
    TriggeredMessage.STATUS: "StatusNotification",
}
TRIGGERED_BY_NAME = {name: message for message, name in MESSAGE_TRIGGERS.items()}


class RawCall(Protocol):
    """The gateway's side: a CALL out, its schema-valid CALLRESULT payload back."""

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> Any: ...


class V16Commands:
    """ChargerCommands over OCPP 1.6J."""

    def __init__(self, link: RawCall, clock: Clock) -> None:
        self._link = link
        self._clock = clock

    # --- Core ---------------------------------------------------------------------------------
    async def remote_start(
        self,
        charge_point_id: str,
        id_tag: str,
        connector_id: int | None,
        profile: ChargingProfile | None,
    ) -> Answer[Acceptance]:
        payload: dict[str, Any] = {"idTag": id_tag}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        if profile is not None:
            payload["chargingProfile"] = profile_to_ocpp(profile)
        return await self._status(charge_point_id, "RemoteStartTransaction", payload, Acceptance)

    async def remote_stop(self, charge_point_id: str, transaction_id: int) -> Answer[Acceptance]:
        payload = {"transactionId": transaction_id}
        return await self._status(charge_point_id, "RemoteStopTransaction", payload, Acceptance)

    async def reset(self, charge_point_id: str, kind: ResetKind) -> Answer[Acceptance]:
        return await self._status(charge_point_id, "Reset", {"type": kind.value}, Acceptance)

    async def unlock(self, charge_point_id: str, connector_id: int) -> Answer[UnlockStatus]:
        payload = {"connectorId": connector_id}
        return await self._status(charge_point_id, "UnlockConnector", payload, UnlockStatus)

    async def change_availability(
        self, charge_point_id: str, connector_id: int, availability: Availability
    ) -> Answer[AvailabilityStatus]:
        payload = {"connectorId": connector_id, "type": availability.value}
        return await self._status(
            charge_point_id, "ChangeAvailability", payload, AvailabilityStatus
        )

    async def get_configuration(
        self, charge_point_id: str, keys: Sequence[str]
    ) -> ConfigurationRead:
        payload = {"key": list(keys)} if keys else {}
        reply = await self._call(charge_point_id, "GetConfiguration", payload)
        return read_configuration(reply, f"{charge_point_id} GetConfiguration")

    async def change_configuration(
        self, charge_point_id: str, key: str, value: str
    ) -> Answer[ConfigurationStatus]:
        payload = {"key": key, "value": value}
        return await self._status(
            charge_point_id, "ChangeConfiguration", payload, ConfigurationStatus
        )

    async def clear_cache(self, charge_point_id: str) -> Answer[Acceptance]:
        return await self._status(charge_point_id, "ClearCache", {}, Acceptance)

    async def data_transfer(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: str | None
    ) -> DataTransferAnswer:
        fields = {"vendorId": vendor_id, "messageId": message_id, "data": data}
        payload = {key: value for key, value in fields.items() if value is not None}
        answer = await self._status(charge_point_id, "DataTransfer", payload, DataTransferStatus)
        sent_data = answer.as_sent.get("data")
        if sent_data is not None and not isinstance(sent_data, str):
            raise _unreadable(f"{charge_point_id} DataTransfer", f"data is not text: {sent_data!r}")
        return DataTransferAnswer(answer.status, sent_data, answer.as_sent)

    # --- Smart Charging -----------------------------------------------------------------------
    async def set_charging_profile(
        self, charge_point_id: str, connector_id: int, profile: ChargingProfile
    ) -> Answer[ProfileStatus]:
        payload = {"connectorId": connector_id, "csChargingProfiles": profile_to_ocpp(profile)}
        return await self._status(charge_point_id, "SetChargingProfile", payload, ProfileStatus)

    async def clear_charging_profile(
        self, charge_point_id: str, which: ProfileFilter
    ) -> Answer[ClearProfileStatus]:
        fields = {
            "id": which.profile_id,
            "connectorId": which.connector_id,
            "chargingProfilePurpose": which.purpose and which.purpose.value,
            "stackLevel": which.stack_level,
        }
        payload = {key: value for key, value in fields.items() if value is not None}
        return await self._status(
            charge_point_id, "ClearChargingProfile", payload, ClearProfileStatus
        )

    async def get_composite_schedule(
        self,
        charge_point_id: str,
        connector_id: int,
        duration_s: int,
        unit: ChargingRateUnit | None,
    ) -> CompositeAnswer:
        payload: dict[str, Any] = {"connectorId": connector_id, "duration": duration_s}
        if unit is not None:
            payload["chargingRateUnit"] = unit.value
        asked_at = self._clock.now()
        reply = await self._call(charge_point_id, "GetCompositeSchedule", payload)
        return read_composite(reply, asked_at, f"{charge_point_id} GetCompositeSchedule")

    # --- Remote Trigger -----------------------------------------------------------------------
    async def trigger_message(
        self, charge_point_id: str, message: TriggeredMessage, connector_id: int | None
    ) -> Answer[TriggerStatus]:
        payload: dict[str, Any] = {"requestedMessage": MESSAGE_TRIGGERS[message]}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return await self._status(charge_point_id, "TriggerMessage", payload, TriggerStatus)

    # --- Reservation ---------------------------------------------------------------------------
    async def reserve_now(
        self,
        charge_point_id: str,
        reservation_id: int,
        connector_id: int,
        id_tag: str,
        parent_id_tag: str | None,
        expires_at: datetime,
    ) -> Answer[ReserveStatus]:
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "expiryDate": format_timestamp(expires_at),
            "idTag": id_tag,
            "reservationId": reservation_id,
        }
        if parent_id_tag is not None:
            payload["parentIdTag"] = parent_id_tag
        return await self._status(charge_point_id, "ReserveNow", payload, ReserveStatus)

    async def cancel_reservation(
        self, charge_point_id: str, reservation_id: int
    ) -> Answer[CancelStatus]:
        payload = {"reservationId": reservation_id}
        return await self._status(charge_point_id, "CancelReservation", payload, CancelStatus)

    # --- Local Auth List Management -------------------------------------------------------
    async def send_local_list(
        self, charge_point_id: str, update: ListUpdate
    ) -> Answer[UpdateStatus]:
        payload = {
            "listVersion": update.version,
            "updateType": update.kind.value,
            "localAuthorizationList": [authorization_data(e) for e in update.entries],
        }
        return await self._status(charge_point_id, "SendLocalList", payload, UpdateStatus)

    async def get_local_list_version(self, charge_point_id: str) -> ListVersion:
        """The version the charger holds: 0 for an empty list, -1 when it has none."""
        reply = await self._call(charge_point_id, "GetLocalListVersion", {})
        version = reply.get("listVersion")
        if not isinstance(version, int) or isinstance(version, bool):
            raise _unreadable(f"{charge_point_id} GetLocalListVersion", f"listVersion {version!r}")
        return ListVersion(version, reply)

    # --- Firmware Management, and the whitepaper's signed firmware and logs -----------------
    async def update_firmware(self, update: FirmwareUpdate) -> Mapping[str, Any]:
        payload = {
            "location": update.location,
            "retrieveDate": format_timestamp(update.retrieve_at),
        }
        return await self._call(
            update.charge_point_id, "UpdateFirmware", payload | _retries(update)
        )

    async def signed_update_firmware(self, update: FirmwareUpdate) -> Answer[SignedUpdateStatus]:
        assert update.signing is not None
        firmware = {
            "location": update.location,
            "retrieveDateTime": format_timestamp(update.retrieve_at),
            "signingCertificate": update.signing.certificate,
            "signature": update.signing.signature,
        }
        if update.install_at is not None:
            firmware["installDateTime"] = format_timestamp(update.install_at)
        payload = {"requestId": update.request_id, "firmware": firmware} | _retries(update)
        return await self._status(
            update.charge_point_id, "SignedUpdateFirmware", payload, SignedUpdateStatus
        )

    async def get_diagnostics(
        self, charge_point_id: str, location: str, options: UploadOptions
    ) -> Mapping[str, Any]:
        payload: dict[str, Any] = {"location": location} | _retries(options)
        if options.since is not None:
            payload["startTime"] = format_timestamp(options.since)
        if options.until is not None:
            payload["stopTime"] = format_timestamp(options.until)
        return await self._call(charge_point_id, "GetDiagnostics", payload)

    async def get_log(
        self, request: UploadRequest, location: str, options: UploadOptions
    ) -> Answer[LogRequestStatus]:
        log: dict[str, Any] = {"remoteLocation": location}
        if options.since is not None:
            log["oldestTimestamp"] = format_timestamp(options.since)
        if options.until is not None:
            log["latestTimestamp"] = format_timestamp(options.until)
        payload = {"logType": request.kind.value, "requestId": request.request_id, "log": log}
        return await self._status(
            request.charge_point_id, "GetLog", payload | _retries(options), LogRequestStatus
        )

    # --- the wire -----------------------------------------------------------------------------
    async def _call(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> Mapping[str, Any]:
        reply = await self._link.call(charge_point_id, action, payload)
        if not isinstance(reply, Mapping):
            raise _unreadable(f"{charge_point_id} {action}", f"not an object: {reply!r}")
        return reply

    async def _status(
        self, charge_point_id: str, action: str, payload: dict[str, Any], kind: type[S]
    ) -> Answer[S]:
        reply = await self._call(charge_point_id, action, payload)
        return Answer(read_status(reply, kind, f"{charge_point_id} {action}"), reply)


def authorization_data(entry: ListEntry) -> dict[str, Any]:
    """An AuthorizationData (§7.2); without idTagInfo it removes the tag (differential)."""
    data: dict[str, Any] = {"idTag": entry.id_tag}
    if entry.info is not None:
        info: dict[str, Any] = {"status": entry.info.status.value}
        if entry.info.expiry_date is not None:
            info["expiryDate"] = format_timestamp(entry.info.expiry_date)
        if entry.info.parent_id_tag is not None:
            info["parentIdTag"] = entry.info.parent_id_tag
        data["idTagInfo"] = info
    return data


def _retries(what: FirmwareUpdate | UploadOptions) -> dict[str, int]:
    fields = {"retries": what.retries, "retryInterval": what.retry_interval_s}
    return {key: value for key, value in fields.items() if value is not None}


def read_status(reply: Mapping[str, Any], kind: type[S], what: str) -> S:
    """The reply's status as the domain's `kind`: OCPP 1.6 spells them as the domain does."""
    value = reply.get("status")
    if not isinstance(value, str) or value not in {member.value for member in kind}:
        allowed = ", ".join(member.value for member in kind)
        raise _unreadable(what, f"status {value!r} is not one of {allowed}")
    return kind(value)


def read_configuration(reply: Mapping[str, Any], what: str) -> ConfigurationRead:
    items, unknown = reply.get("configurationKey") or [], reply.get("unknownKey") or []
    if not isinstance(items, list) or not all(
        isinstance(item, Mapping) and isinstance(item.get("key"), str) for item in items
    ):
        raise _unreadable(what, f"configurationKey is not a list of keys: {items!r}")
    if not isinstance(unknown, list) or not all(isinstance(key, str) for key in unknown):
        raise _unreadable(what, f"unknownKey is not a list of keys: {unknown!r}")
    values = {item["key"]: _text(item.get("value"), what) for item in items}
    read_only = frozenset(item["key"] for item in items if item.get("readonly") is True)
    return ConfigurationRead(values, tuple(unknown), read_only, reply)


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _unreadable(what, f"a configuration value is not text: {value!r}")
    return value


def read_composite(reply: Mapping[str, Any], asked_at: datetime, what: str) -> CompositeAnswer:
    """A schedule that breaks the domain's rules is reported, not raised: the operator sees
    what the charger sent, and why it cannot be used. Without a scheduleStart the periods
    count from the request (§5.7)."""
    accepted = read_status(reply, Acceptance, what) is Acceptance.ACCEPTED
    connector_id = reply.get("connectorId")
    connector_id = connector_id if isinstance(connector_id, int) else None
    try:
        schedule = parse_composite(dict(reply))
    except Invalid as error:
        problem = f"the charger's schedule is not valid: {error}"
        return CompositeAnswer(accepted, connector_id, None, problem, reply)
    if schedule is not None and schedule.start_schedule is None:
        schedule = replace(schedule, start_schedule=asked_at)
    return CompositeAnswer(accepted, connector_id, schedule, None, reply)


def _unreadable(what: str, problem: str) -> UnreadableAnswer:
    return UnreadableAnswer("FormationViolation", problem, f"{what}: unreadable answer, {problem}")
