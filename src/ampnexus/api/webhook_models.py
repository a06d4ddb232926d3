"""Webhook subscriptions, deliveries and the events' payloads as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AnyUrl, BaseModel, Field, UrlConstraints

from ampnexus.api.models import Strict
from ampnexus.domain.webhook import Attempt, Delivery, DeliveryStatus, Webhook
from ampnexus.services.webhooks import FAILING_AFTER

HttpUrl = Annotated[AnyUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]
Pattern = Annotated[str, Field(min_length=1, max_length=64, examples=["session.*"])]
SiteId = Annotated[str, Field(min_length=1, max_length=48)]


class WebhookCreate(Strict):
    url: HttpUrl = Field(examples=["https://fleet.example.com/ampnexus/events"])
    events: list[Pattern] = Field(
        min_length=1,
        max_length=50,
        description="Event types to receive: exact names, a prefix such as `session.*`, or "
        "`*` for every event",
    )
    site_ids: list[SiteId] | None = Field(
        None, max_length=1000, description="Only events of these sites (null: every site)"
    )
    description: str | None = Field(None, max_length=200)
    enabled: bool = True


class WebhookPatch(Strict):
    url: HttpUrl | None = None
    events: list[Pattern] | None = Field(None, min_length=1, max_length=50)
    site_ids: list[SiteId] | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = Field(
        None, description="Disabled: events meanwhile are not delivered to it"
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    site_ids: list[str] | None
    description: str | None
    enabled: bool
    created_at: datetime
    health: str = Field(
        description=f"`ok`, or `failing` after {FAILING_AFTER} failed attempts in a row "
        "(its deliveries wait and are retried)"
    )
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            id=webhook.id,
            url=webhook.url,
            events=list(webhook.events),
            site_ids=None if webhook.site_ids is None else list(webhook.site_ids),
            description=webhook.description,
            enabled=webhook.enabled,
            created_at=webhook.created_at,
            health="failing" if webhook.consecutive_failures >= FAILING_AFTER else "ok",
            consecutive_failures=webhook.consecutive_failures,
            last_success_at=webhook.last_success_at,
            last_failure_at=webhook.last_failure_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every delivery (the AmpNexus-Signature header). Shown only now: "
        "keep it where the receiver can read it"
    )

    @classmethod
    def of_new(cls, webhook: Webhook) -> WebhookCreated:
        return cls(**WebhookOut.of(webhook).model_dump(), secret=webhook.secret)


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str
    event_id: str = Field(description="The event's id: the same in every delivery of it")
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending delivery goes next")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_duration_ms: float | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        pending = delivery.status is DeliveryStatus.PENDING
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_uid,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            last_attempt_at=delivery.last_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            last_duration_ms=delivery.last_duration_ms,
            delivered_at=delivery.delivered_at,
        )


class PingOut(BaseModel):
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float

    @classmethod
    def of(cls, attempt: Attempt) -> PingOut:
        return cls(
            ok=attempt.ok,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=round(attempt.duration_ms, 1),
        )


# --- the events' payloads (documented under "webhooks" in the OpenAPI document) ----------
class ChargePointConnection(BaseModel):
    charge_point_id: str
    at: datetime


class ConnectorStatus(BaseModel):
    charge_point_id: str
    connector_id: int = Field(description="0: the charger as a whole")
    status: str = Field(examples=["Charging"], description="OCPP 1.6 ChargePointStatus")
    error_code: str = Field(examples=["NoError"])
    info: str | None
    vendor_error_code: str | None
    at: datetime


class SessionStarted(BaseModel):
    transaction_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: datetime
    started_remotely: bool


class SessionUpdated(BaseModel):
    transaction_id: int
    charge_point_id: str
    connector_id: int
    energy_wh: float | None = Field(description="Since the start (null: no energy register)")
    power_w: float | None = Field(description="Import power now (null: not metered)")
    at: datetime = Field(description="When the charger took the reading")


class SessionStopped(BaseModel):
    transaction_id: int
    charge_point_id: str
    connector_id: int
    stopped_at: datetime
    meter_stop_wh: int | None
    energy_wh: float | None
    reason: str | None = Field(
        examples=["EVDisconnected"],
        description="The charger's StopTransaction reason; superseded or charger_rebooted: "
        "AmpNexus closed a session its charger left open (a new start on the connector, or "
        "Available after a reboot), at its last register reading",
    )


class PowerStep(BaseModel):
    from_: datetime = Field(alias="from")
    power_w: float


class PlannedSessionOut(BaseModel):
    transaction_id: int
    charge_point_id: str
    connector_id: int
    power_w: list[PowerStep] = Field(description="The planned power from each change on")
    energy_needed_wh: float
    energy_planned_wh: float
    cost: float | None = Field(description="At the site's import prices (null: no tariff)")
    waiting_reason: str | None


class BindingSlot(BaseModel):
    slot_start: datetime
    constraint: str = Field(examples=["site power"])


class PlanUpdatedData(BaseModel):
    site_id: str
    planned_at: datetime
    method: str = Field(description="highs (the LP) or heuristic")
    sessions: list[PlannedSessionOut]
    binding: list[BindingSlot] = Field(description="Slots a constraint limits")
    alerts: list[str]


class AlertRaisedData(BaseModel):
    alert_id: int
    kind: str
    charge_point_id: str | None
    site_id: str | None
    message: str
    at: datetime


class SecurityEventData(BaseModel):
    charge_point_id: str
    type: str = Field(examples=["TamperDetectionActivated", "InvalidChargePointCertificate"])
    critical: bool = Field(description="Critical in the OCPP 1.6 security whitepaper's list")
    tech_info: str | None
    timestamp: datetime = Field(description="When the charger says it happened")
    at: datetime = Field(description="When AmpNexus received it")


class GridEventReceived(BaseModel):
    site_id: str
    program_id: str
    event_id: str = Field(description="The VTN's event id")
    modification_number: int
    status: str = Field(examples=["far", "active", "cancelled"])
    signal_name: str = Field(examples=["SIMPLE", "LOAD_DISPATCH"])
    signal_type: str = Field(examples=["level", "setpoint"])
    effect: str = Field(description="cut, limit, price, or none (recorded only)")
    opt: str = Field(description="optIn or optOut, as answered to the VTN")
    opt_reason: str
    start: datetime | None
    end: datetime | None
    at: datetime


class GridEventEnded(BaseModel):
    site_id: str
    program_id: str
    event_id: str = Field(description="The VTN's event id")
    at: datetime


class WebhookPing(BaseModel):
    webhook_id: str
    at: datetime


PAYLOADS: dict[str, type[BaseModel]] = {
    "charge_point.connected": ChargePointConnection,
    "charge_point.disconnected": ChargePointConnection,
    "charge_point.status_changed": ConnectorStatus,
    "charge_point.faulted": ConnectorStatus,
    "session.started": SessionStarted,
    "session.updated": SessionUpdated,
    "session.stopped": SessionStopped,
    "plan.updated": PlanUpdatedData,
    "alert.raised": AlertRaisedData,
    "charge_point.security_event": SecurityEventData,
    "grid.event_received": GridEventReceived,
    "grid.event_ended": GridEventEnded,
    "webhook.ping": WebhookPing,
}
