"""Request and response bodies of the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from ampnexus.api.deps import Paging
from ampnexus.domain.alert import Alert, AlertKind, Severity
from ampnexus.domain.api_key import ApiKey, ApiKeyScope
from ampnexus.domain.charging_profile import ChargingProfile, ChargingSchedule
from ampnexus.domain.commands import CompositeAnswer
from ampnexus.domain.data_transfer import DataTransferRecord
from ampnexus.domain.id_tag import AuthorizationStatus, IdTag
from ampnexus.domain.time import utc
from ampnexus.domain.transaction import ChargerReading, Transaction
from ampnexus.ocpp.v16.profiles import parse_profile_strictly
from ampnexus.services.charge_points import ChargePointView
from ampnexus.services.ports import Page as ServicePage
from ampnexus.services.ports import StatusRecord

T = TypeVar("T")
S = TypeVar("S")

# OCPP integers (connector and transaction ids) and our id columns are 32-bit: larger
# numbers are refused as invalid input instead of failing in the database or encoder.
INT32_MAX = 2**31 - 1
# Free text a person types (descriptions); longer is refused with 422, not stored.
DESCRIPTION_MAX = 1000
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]
# An expiry without an offset is taken as UTC, like every timestamp AmpNexus receives.
UtcDatetime = Annotated[datetime, AfterValidator(utc)]


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def page_of(found: ServicePage[S], paging: Paging, show: Callable[[S], T]) -> Page[T]:
    """One page of service results as the API shows it."""
    return Page(
        items=[show(item) for item in found.items],
        total=found.total,
        limit=paging.limit,
        offset=paging.offset,
    )


# --- charge points ---------------------------------------------------------------------------
class ChargePointCreate(Strict):
    id: str = Field(min_length=1, max_length=48, examples=["CP-0001"])
    password: str | None = Field(
        None, min_length=16, max_length=40, description="HTTP Basic password (profiles 1 and 2)"
    )
    security_profile: Literal[0, 1, 2, 3] | None = Field(
        None,
        description="0: no auth; 1: HTTP Basic; 2: HTTP Basic over TLS; 3: TLS client "
        "certificate with the id as CN, no password. Default 1 when a password is given.",
    )
    description: Description | None = None


class ChargePointUpdate(Strict):
    description: Description | None = None
    password: str | None = Field(None, min_length=16, max_length=40)
    security_profile: Literal[0, 1, 2, 3] | None = None
    registration_status: Literal["Accepted", "Pending", "Rejected"] | None = None

    _no_nulls = field_validator("security_profile", "registration_status")(_not_null)


class ConnectorOut(BaseModel):
    connector_id: int
    status: str
    error_code: str
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    timestamp: datetime | None = None


class ChargePointOut(BaseModel):
    id: str
    description: str | None
    security_profile: int
    registration_status: str
    connected: bool
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    charge_box_serial_number: str | None = Field(description="From its last BootNotification")
    iccid: str | None = Field(description="Its modem's SIM card (ICCID), as it last booted")
    imsi: str | None = Field(description="Its modem's subscriber id (IMSI), as it last booted")
    meter_type: str | None = Field(description="Its main meter's type, as it last booted")
    meter_serial_number: str | None = Field(description="Its main meter's serial number")
    last_seen: datetime | None
    last_boot: datetime | None
    created_at: datetime | None
    site_id: str | None = Field(description="The site it is placed on (PUT /charge-points/{id})")
    circuit_id: str | None = Field(description="The circuit feeding it, on that site")
    connectors: list[ConnectorOut]

    @classmethod
    def of(cls, view: ChargePointView) -> ChargePointOut:
        cp = view.charge_point
        return cls(
            id=cp.id,
            description=cp.description,
            security_profile=cp.security_profile,
            registration_status=cp.registration_status.value,
            connected=view.connected,
            vendor=cp.vendor,
            model=cp.model,
            serial_number=cp.serial_number,
            firmware_version=cp.firmware_version,
            charge_box_serial_number=cp.charge_box_serial_number,
            iccid=cp.iccid,
            imsi=cp.imsi,
            meter_type=cp.meter_type,
            meter_serial_number=cp.meter_serial_number,
            last_seen=cp.last_seen,
            last_boot=cp.last_boot,
            created_at=cp.created_at,
            site_id=cp.site_id,
            circuit_id=cp.circuit_id,
            connectors=[
                ConnectorOut.model_validate(c, from_attributes=True) for c in cp.connectors
            ],
        )


class StatusOut(ConnectorOut):
    received_at: datetime

    @classmethod
    def of(cls, record: StatusRecord) -> StatusOut:
        c = record.connector
        return cls(
            connector_id=c.connector_id,
            status=c.status,
            error_code=c.error_code,
            info=c.info,
            vendor_id=c.vendor_id,
            vendor_error_code=c.vendor_error_code,
            timestamp=c.timestamp,
            received_at=record.received_at,
        )


# --- commands --------------------------------------------------------------------------------
class RemoteStart(Strict):
    connector_id: int | None = Field(None, ge=1, le=INT32_MAX)
    id_tag: str = Field(min_length=1, max_length=20)
    charging_profile: dict[str, Any] | None = Field(
        None, description="An OCPP 1.6 ChargingProfile (camelCase), purpose TxProfile"
    )

    def profile(self) -> ChargingProfile | None:
        """Read with the OCPP 1.6 codec: the API takes profiles in OCPP 1.6's own form."""
        if self.charging_profile is None:
            return None
        return parse_profile_strictly(self.charging_profile)


class RemoteStop(Strict):
    transaction_id: int = Field(ge=-INT32_MAX - 1, le=INT32_MAX)


class ResetRequest(Strict):
    type: Literal["Hard", "Soft"]


class UnlockRequest(Strict):
    connector_id: int = Field(ge=1, le=INT32_MAX)


class AvailabilityRequest(Strict):
    connector_id: int = Field(ge=0, le=INT32_MAX, description="0 means the whole charge point")
    type: Literal["Inoperative", "Operative"]


class ConfigurationChange(Strict):
    key: str = Field(min_length=1, max_length=50)
    value: str = Field(max_length=500)


class DataTransferRequest(Strict):
    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(None, max_length=50)
    # OCPP leaves it unbounded; the request body limit (http_max_body_bytes) bounds it.
    data: str | None = None


class CommandReply(BaseModel):
    status: str | None = Field(description="The charger's status, when its answer has one")
    payload: dict[str, Any] = Field(description="The charger's whole answer, as sent")

    @classmethod
    def of(cls, answer: Any) -> CommandReply:
        """Any of the command port's answers: shown as the charger sent it."""
        payload = dict(answer.as_sent)
        return cls(status=payload.get("status"), payload=payload)


# --- smart charging and remote trigger -------------------------------------------------------
TX_DEFAULT_EXAMPLE = {
    "chargingProfileId": 100,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "validFrom": "2025-01-01T00:00:00Z",
    "validTo": "2026-01-01T00:00:00Z",
    "chargingSchedule": {
        "duration": 86400,
        "startSchedule": "2025-01-01T00:00:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}],
    },
}
TX_PROFILE_EXAMPLE = {
    "chargingProfileId": 200,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 11000.0},
            {"startPeriod": 3600, "limit": 4200.0},
        ],
    },
}


class ChargingProfileRequest(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"connector_id": 1, "charging_profile": TX_DEFAULT_EXAMPLE},
                {"connector_id": 1, "charging_profile": TX_PROFILE_EXAMPLE},
            ]
        },
    )

    connector_id: int = Field(
        ge=0,
        le=INT32_MAX,
        description="0: the whole charge point (ChargePointMaxProfile, or a TxDefaultProfile "
        "for every connector); > 0: one connector",
    )
    charging_profile: dict[str, Any] = Field(
        description="An OCPP 1.6 csChargingProfiles object, camelCase as in the OCPP schema. "
        "A TxProfile is bound to the transaction running on the connector: its "
        "transactionId may be left out and is filled in.",
    )

    def profile(self) -> ChargingProfile:
        return parse_profile_strictly(self.charging_profile, connector_id=self.connector_id)


class TriggerMessageRequest(Strict):
    requested_message: Literal[
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    ] = Field(examples=["StatusNotification"])
    connector_id: int | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="The connector the message is about; left out: every connector",
        examples=[1],
    )


class AbsolutePeriodOut(BaseModel):
    start: datetime = Field(description="When the period starts (UTC)")
    end: datetime | None = Field(description="When it ends; null: open-ended")
    limit: float = Field(description="In the schedule's unit: A per phase, or W in total")
    number_phases: int | None


class ScheduleOut(BaseModel):
    connector_id: int | None
    charging_rate_unit: str
    start: datetime = Field(
        description="scheduleStart; when the charger sent none, the moment it was asked (UTC)"
    )
    end: datetime | None = Field(description="start + duration; null without a duration")
    min_charging_rate: float | None
    periods: list[AbsolutePeriodOut]

    @classmethod
    def of(cls, connector_id: int | None, schedule: ChargingSchedule) -> ScheduleOut:
        start = schedule.start_schedule
        assert start is not None, "a composite schedule always has an absolute start"
        end = None if schedule.duration is None else start + timedelta(seconds=schedule.duration)
        # Periods starting at or after the end are never executed (§5.16).
        moments = [(start + timedelta(seconds=p.start_period), p) for p in schedule.periods]
        starts = [(moment, p) for moment, p in moments if end is None or moment < end]
        ends = [moment for moment, _ in starts[1:]] + [end]
        return cls(
            connector_id=connector_id,
            charging_rate_unit=schedule.unit.value,
            start=start,
            end=end,
            min_charging_rate=schedule.min_charging_rate,
            periods=[
                AbsolutePeriodOut(
                    start=begins, end=until, limit=p.limit, number_phases=p.number_phases
                )
                for (begins, p), until in zip(starts, ends, strict=True)
            ],
        )


class CompositeScheduleReply(CommandReply):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "Accepted",
                    "payload": {
                        "status": "Accepted",
                        "connectorId": 1,
                        "scheduleStart": "2025-01-01T10:00:00Z",
                        "chargingSchedule": {
                            "duration": 3600,
                            "chargingRateUnit": "A",
                            "chargingSchedulePeriod": [
                                {"startPeriod": 0, "limit": 16.0},
                                {"startPeriod": 1800, "limit": 6.0},
                            ],
                        },
                    },
                    "schedule": {
                        "connector_id": 1,
                        "charging_rate_unit": "A",
                        "start": "2025-01-01T10:00:00Z",
                        "end": "2025-01-01T11:00:00Z",
                        "min_charging_rate": None,
                        "periods": [
                            {
                                "start": "2025-01-01T10:00:00Z",
                                "end": "2025-01-01T10:30:00Z",
                                "limit": 16.0,
                                "number_phases": None,
                            },
                            {
                                "start": "2025-01-01T10:30:00Z",
                                "end": "2025-01-01T11:00:00Z",
                                "limit": 6.0,
                                "number_phases": None,
                            },
                        ],
                    },
                    "problem": None,
                }
            ]
        }
    )

    schedule: ScheduleOut | None = Field(
        description="The composite schedule with absolute times; null when Rejected"
    )
    problem: str | None = Field(
        None, description="Why a schedule the charger sent could not be read, if it could not"
    )

    @classmethod
    def of_composite(cls, answer: CompositeAnswer) -> CompositeScheduleReply:
        schedule = answer.schedule and ScheduleOut.of(answer.connector_id, answer.schedule)
        reply = CommandReply.of(answer)
        return cls(
            status=reply.status, payload=reply.payload, schedule=schedule, problem=answer.problem
        )


# --- transactions ----------------------------------------------------------------------------
class SampledValueOut(BaseModel):
    value: str
    measurand: str
    unit: str | None
    phase: str | None
    context: str | None
    location: str | None
    format: str | None


class MeterValueOut(BaseModel):
    timestamp: datetime
    sampled_values: list[SampledValueOut]


class ChargerReadingOut(SampledValueOut):
    """One sampled value a charger sent in a MeterValues without a transaction."""

    connector_id: int = Field(description="0: the charger's main meter")
    timestamp: datetime = Field(description="When the charger took it")
    received_at: datetime

    @classmethod
    def of(cls, reading: ChargerReading) -> ChargerReadingOut:
        s = reading.sample
        return cls(
            connector_id=reading.connector_id,
            timestamp=reading.timestamp,
            received_at=reading.received_at,
            value=s.value,
            measurand=s.measurand,
            unit=s.unit,
            phase=s.phase,
            context=s.context,
            location=s.location,
            format=s.format,
        )


class DataTransferOut(BaseModel):
    id: int
    direction: Literal["in", "out"] = Field(
        description="in: the charger sent it; out: sent to the charger through the API"
    )
    vendor_id: str
    message_id: str | None
    data: str | None
    status: str | None = Field(
        description="The answer's status: the CSMS's (in) or the charger's (out); NoAnswer: "
        "the charger did not answer in time; CallError: it answered with a CALLERROR"
    )
    at: datetime = Field(description="When it was received or answered")

    @classmethod
    def of(cls, record: DataTransferRecord) -> DataTransferOut:
        return cls(
            id=record.id,
            direction=record.direction.value,
            vendor_id=record.vendor_id,
            message_id=record.message_id,
            data=record.data,
            status=record.status,
            at=record.at,
        )


class TransactionSummary(BaseModel):
    id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    started_at: datetime
    stopped_at: datetime | None
    meter_start: int
    meter_stop: int | None
    energy_wh: int | None
    stop_reason: str | None = Field(
        description="The charger's reason; superseded or charger_rebooted: AmpNexus closed it "
        "itself (see stop_detail)"
    )
    stop_id_tag: str | None = Field(description="The tag that stopped it, when one did")
    stop_detail: str | None = Field(
        description="Why AmpNexus closed it when its charger never sent the StopTransaction"
    )
    reservation_id: int | None = Field(description="The reservation it started on")
    active: bool
    started_remotely: bool = Field(
        description="started by a RemoteStartTransaction (the API's or plug & charge's) "
        "that the charger accepted up to 5 minutes before"
    )
    charge_now: bool = Field(
        description='"Charge now" is set on the session (POST /transactions/{id}/override): '
        "no peak windows and no random delay until it ends"
    )

    @classmethod
    def of(cls, t: Transaction) -> TransactionSummary:
        return cls(**_transaction_fields(t))


class TransactionOut(TransactionSummary):
    meter_values: list[MeterValueOut]

    @classmethod
    def of(cls, t: Transaction) -> TransactionOut:
        readings = [
            MeterValueOut(
                timestamp=r.timestamp,
                sampled_values=[
                    SampledValueOut.model_validate(s, from_attributes=True)
                    for s in r.sampled_values
                ],
            )
            for r in t.meter_values
        ]
        return cls(**_transaction_fields(t), meter_values=readings)


def _transaction_fields(t: Transaction) -> dict[str, Any]:
    return {
        "id": t.id,
        "charge_point_id": t.charge_point_id,
        "connector_id": t.connector_id,
        "id_tag": t.id_tag,
        "started_at": t.started_at,
        "stopped_at": t.stopped_at,
        "meter_start": t.meter_start,
        "meter_stop": t.meter_stop,
        "energy_wh": t.energy_wh,
        "stop_reason": t.stop_reason,
        "stop_id_tag": t.stop_id_tag,
        "stop_detail": t.stop_detail,
        "reservation_id": t.reservation_id,
        "active": t.active,
        "started_remotely": t.started_remotely,
        "charge_now": t.charge_now,
    }


# --- id tags ---------------------------------------------------------------------------------
TagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


class IdTagCreate(Strict):
    id_tag: str = Field(min_length=1, max_length=20)
    status: TagStatus = "Accepted"
    expiry_date: UtcDatetime | None = None
    parent_id_tag: str | None = Field(None, min_length=1, max_length=20)
    description: Description | None = None

    def to_domain(self) -> IdTag:
        return IdTag(
            id_tag=self.id_tag,
            status=AuthorizationStatus(self.status),
            expiry_date=self.expiry_date,
            parent_id_tag=self.parent_id_tag,
            description=self.description,
        )


class IdTagUpdate(Strict):
    status: TagStatus | None = None
    expiry_date: UtcDatetime | None = None
    parent_id_tag: str | None = Field(None, min_length=1, max_length=20)
    description: Description | None = None

    _no_nulls = field_validator("status")(_not_null)


class IdTagOut(BaseModel):
    id_tag: str
    status: str
    expiry_date: datetime | None
    parent_id_tag: str | None
    description: str | None
    charge_point_id: str | None = Field(
        description="set: the tag is valid on this charger only (its own, for plug & charge)"
    )

    @classmethod
    def of(cls, tag: IdTag) -> IdTagOut:
        return cls(
            id_tag=tag.id_tag,
            status=tag.status.value,
            expiry_date=tag.expiry_date,
            parent_id_tag=tag.parent_id_tag,
            description=tag.description,
            charge_point_id=tag.charge_point_id,
        )


# --- API keys ---------------------------------------------------------------------------------
class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    scope: ApiKeyScope = Field(
        ApiKeyScope.READ,
        description="read: GET and HEAD only; operator: everything but API keys; admin: "
        "everything. Least privilege by default.",
    )


class ApiKeyOut(BaseModel):
    id: int
    name: str
    scope: ApiKeyScope
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            scope=key.scope,
            prefix=key.prefix,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            active=key.active,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown this once; store it now.")


class AlertOut(BaseModel):
    id: int
    kind: AlertKind
    severity: Severity
    charge_point_id: str | None
    site_id: str | None
    message: str
    details: dict[str, Any]
    count: int = Field(description="How often it was raised while open")
    first_raised_at: datetime
    last_raised_at: datetime
    resolved_at: datetime | None
    open: bool

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls(
            id=alert.id,
            kind=alert.key.kind,
            severity=alert.severity,
            charge_point_id=alert.key.charge_point_id,
            site_id=alert.key.site_id,
            message=alert.message,
            details=alert.details,
            count=alert.count,
            first_raised_at=alert.first_raised_at,
            last_raised_at=alert.last_raised_at,
            resolved_at=alert.resolved_at,
            open=alert.open,
        )
