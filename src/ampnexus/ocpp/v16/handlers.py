"""What AmpNexus answers to each OCPP 1.6 Core message a charger sends.

Each handler receives a payload that already passed its JSON schema, turns it
into domain values, calls one service and shapes the answer.

Timestamps the schema let through must also lie near the server's clock (the window
`ctx.services.time_window`): anything else is a charger whose clock is wrong, and is
refused before anything is stored. A StatusNotification's optional timestamp is dropped
instead, so a charger that booted at 1970 still reports its connectors (received_at
remains).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from ampnexus.domain.charge_point import BootInfo, Connector, RegistrationStatus
from ampnexus.domain.id_tag import IdTagInfo
from ampnexus.domain.time import format_timestamp, parse_timestamp
from ampnexus.domain.transaction import (
    MeterReading,
    SampledValue,
    TransactionStart,
    TransactionStop,
)
from ampnexus.ocpp.errors import PROPERTY_CONSTRAINT_VIOLATION, CallError
from ampnexus.ocpp.routing import Context, Router

log = logging.getLogger(__name__)
router = Router()

# Boot retry interval for a Pending or Rejected charger, in seconds.
RETRY_INTERVAL = 60


@router.on("BootNotification")
async def boot_notification(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    boot = BootInfo(
        vendor=payload["chargePointVendor"],
        model=payload["chargePointModel"],
        serial_number=payload.get("chargePointSerialNumber"),
        charge_box_serial_number=payload.get("chargeBoxSerialNumber"),
        firmware_version=payload.get("firmwareVersion"),
        iccid=payload.get("iccid"),
        imsi=payload.get("imsi"),
        meter_type=payload.get("meterType"),
        meter_serial_number=payload.get("meterSerialNumber"),
    )
    charge_points = ctx.services.charge_points
    status = await charge_points.boot(ctx.charge_point_id, boot)
    ctx.services.transactions.charger_booted(ctx.charge_point_id)
    ctx.session.registration = status
    accepted = status is RegistrationStatus.ACCEPTED
    if accepted:  # a firmware rollout that found it offline reaches it now
        ctx.after(lambda: ctx.services.firmware.booted(ctx.charge_point_id))
    return {
        "status": status.value,
        "currentTime": format_timestamp(ctx.services.clock.now()),
        "interval": charge_points.heartbeat_interval if accepted else RETRY_INTERVAL,
    }


@router.on("Heartbeat")
async def heartbeat(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": format_timestamp(ctx.services.clock.now())}


@router.on("StatusNotification")
async def status_notification(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    timestamp = payload.get("timestamp")
    try:
        instant = reported_instant(ctx, timestamp, "timestamp") if timestamp else None
    except CallError as error:  # optional: the status matters more than its time
        log.debug("%s StatusNotification: %s; timestamp dropped", ctx.charge_point_id, error)
        instant = None
    connector = Connector(
        connector_id=payload["connectorId"],
        status=payload["status"],
        error_code=payload["errorCode"],
        info=payload.get("info"),
        vendor_id=payload.get("vendorId"),
        vendor_error_code=payload.get("vendorErrorCode"),
        timestamp=instant,
    )
    await ctx.services.charge_points.status_notification(ctx.charge_point_id, connector)
    await ctx.services.transactions.connector_reported(
        ctx.charge_point_id, connector.connector_id, connector.status
    )
    return {}


@router.on("Authorize")
async def authorize(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    info = await ctx.services.authorization.authorize(payload["idTag"], ctx.charge_point_id)
    return {"idTagInfo": id_tag_info(info)}


@router.on("StartTransaction")
async def start_transaction(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    start = TransactionStart(
        charge_point_id=ctx.charge_point_id,
        connector_id=payload["connectorId"],
        id_tag=payload["idTag"],
        meter_start=payload["meterStart"],
        timestamp=reported_instant(ctx, payload["timestamp"], "timestamp"),
        reservation_id=payload.get("reservationId"),
    )
    transaction_id, info = await ctx.services.transactions.start(start)
    return {"transactionId": transaction_id, "idTagInfo": id_tag_info(info)}


@router.on("StopTransaction")
async def stop_transaction(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    stop = TransactionStop(
        charge_point_id=ctx.charge_point_id,
        transaction_id=payload["transactionId"],
        meter_stop=payload["meterStop"],
        timestamp=reported_instant(ctx, payload["timestamp"], "timestamp"),
        id_tag=payload.get("idTag"),
        reason=payload.get("reason"),
        transaction_data=meter_readings(ctx, payload.get("transactionData", ()), "transactionData"),
    )
    info = await ctx.services.transactions.stop(stop)
    return {"idTagInfo": id_tag_info(info)} if info else {}


@router.on("MeterValues")
async def meter_values(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    await ctx.services.transactions.meter_values(
        ctx.charge_point_id,
        payload["connectorId"],
        payload.get("transactionId"),
        meter_readings(ctx, payload["meterValue"], "meterValue"),
    )
    return {}


@router.on("DataTransfer")
async def data_transfer(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    reply = await ctx.services.data_transfer.received(
        ctx.charge_point_id, payload["vendorId"], payload.get("messageId"), payload.get("data")
    )
    return {"status": reply.status} | ({"data": reply.data} if reply.data is not None else {})


# --- Firmware Management, and the whitepaper's signed firmware and logs ------------------------
@router.on("FirmwareStatusNotification")
async def firmware_status(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    await ctx.services.firmware.status_received(
        ctx.charge_point_id, "FirmwareStatusNotification", payload["status"], None
    )
    return {}


@router.on("SignedFirmwareStatusNotification")
async def signed_firmware_status(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    await ctx.services.firmware.status_received(
        ctx.charge_point_id,
        "SignedFirmwareStatusNotification",
        payload["status"],
        payload.get("requestId"),
    )
    return {}


@router.on("DiagnosticsStatusNotification")
async def diagnostics_status(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    await ctx.services.uploads.status_received(
        ctx.charge_point_id, "DiagnosticsStatusNotification", payload["status"], None
    )
    return {}


@router.on("LogStatusNotification")
async def log_status(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    await ctx.services.uploads.status_received(
        ctx.charge_point_id, "LogStatusNotification", payload["status"], payload.get("requestId")
    )
    return {}


def id_tag_info(info: IdTagInfo) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": info.status.value}
    if info.expiry_date is not None:
        answer["expiryDate"] = format_timestamp(info.expiry_date)
    if info.parent_id_tag is not None:
        answer["parentIdTag"] = info.parent_id_tag
    return answer


def reported_instant(ctx: Context, text: str, field: str) -> datetime:
    """A timestamp the charger reports, refused if the server's clock cannot believe it."""
    instant = parse_timestamp(text)
    now = ctx.services.clock.now()
    window = ctx.services.time_window
    if window.contains(instant, now):
        return instant
    limit, side = (window.ahead, "ahead of") if instant > now else (window.behind, "behind")
    raise CallError(
        PROPERTY_CONSTRAINT_VIOLATION,
        f"{field} {text} is more than {_span(limit)} {side} the CSMS clock "
        f"({format_timestamp(now)}): check the charger's clock",
        {"field": field},
    )


def _span(length: timedelta) -> str:
    hours = length.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"


def meter_readings(ctx: Context, meter_value: Any, field: str) -> tuple[MeterReading, ...]:
    return tuple(
        MeterReading(
            reported_instant(ctx, reading["timestamp"], f"{field}[{index}].timestamp"),
            tuple(
                SampledValue(
                    value=sample["value"],
                    measurand=sample.get("measurand", "Energy.Active.Import.Register"),
                    unit=sample.get("unit"),
                    phase=sample.get("phase"),
                    context=sample.get("context"),
                    location=sample.get("location"),
                    format=sample.get("format"),
                )
                for sample in reading["sampledValue"]
            ),
        )
        for index, reading in enumerate(meter_value)
    )
