"""What happened: domain events that services publish and others (replanning, webhooks,
the portal's live view) react to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ampnexus.domain.charging_profile import ChargingProfile


@dataclass(frozen=True, slots=True)
class ChargerBooted:
    charge_point_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChargerConnected:
    """A charger's WebSocket connection was accepted."""

    charge_point_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChargerDisconnected:
    charge_point_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ConnectorStatusChanged:
    """A StatusNotification: the status a connector reports (also when unchanged)."""

    charge_point_id: str
    connector_id: int
    status: str
    at: datetime
    error_code: str = "NoError"
    info: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    transaction_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    at: datetime
    # The TxProfile of the RemoteStartTransaction that started it, and who sent that.
    remote_profile: ChargingProfile | None = None
    remote_set_by: str | None = None
    meter_start_wh: int = 0


@dataclass(frozen=True, slots=True)
class TransactionStopped:
    transaction_id: int
    charge_point_id: str
    at: datetime
    connector_id: int  # the car has gone from it: it draws nothing from `at`
    meter_stop_wh: int | None = None
    energy_wh: float | None = None  # meter stop less meter start
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PowerMeasured:
    """The latest power a connector draws, from its MeterValues (W, summed over phases)."""

    charge_point_id: str
    connector_id: int
    transaction_id: int | None
    power_w: float
    at: datetime
    register_wh: float | None = None  # Energy.Active.Import.Register, when sent with it


@dataclass(frozen=True, slots=True)
class SessionProgressed:
    """A running session's energy and power so far; at most one per session every
    `AMPNEXUS_SESSION_UPDATE_INTERVAL` seconds (integrators, not planning, read these)."""

    transaction_id: int
    charge_point_id: str
    connector_id: int
    energy_wh: float | None
    power_w: float | None
    at: datetime


@dataclass(frozen=True, slots=True)
class NeedChanged:
    """A driver's energy or departure was set or removed: for one running transaction (on
    `charge_point_id`), or for an id tag's sessions (`charge_point_id` None: wherever)."""

    charge_point_id: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class SiteMeterRead:
    """The site's own meter reported: its newest reading (W, EVs included) and when it was
    taken (an upload may also bring older readings, which do not matter to a plan now)."""

    site_id: str
    power_w: float
    taken_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class SiteChanged:
    """Something a plan of the site is made from changed: the site itself (its grid limit,
    voltage, ...), one of its circuits, or a charger placed on or taken off it."""

    site_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DriverChanged:
    """A driver profile was created, changed or deleted, or an id tag bound to or unbound
    from one: its sessions' priority, power cap and defaults may differ."""

    profile_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class IdTagChanged:
    """An id tag was changed or deleted (a deleted tag takes its driver binding and its
    need with it)."""

    id_tag: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IdTagAdded:
    """An id tag was created (chargers' local lists take it in)."""

    id_tag: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ModeChanged:
    """A charger's own charging mode was set, changed or removed (`mode` None: it follows
    its site's default again). A site's default_mode changing is a SiteChanged."""

    charge_point_id: str
    mode: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class OperatorLimitChanged:
    """A charging profile an operator gave the charger was recorded, replaced, cleared or
    dropped (its transaction ended, the charger rebooted): its upper bounds changed."""

    charge_point_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DemandResponseChanged:
    """A demand-response event was received, modified or cancelled, or a program's sites
    changed or it was removed: what the sites' plans must keep to may differ."""

    program_id: str
    event_id: str | None  # None: the program itself changed
    site_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class DemandResponseEventReceived:
    """A VTN's event (or a modification of it: a new limit, a cancellation) was received
    and answered; public as `grid.event_received`, once per site it covers."""

    program_id: str
    event_id: str
    modification_number: int
    status: str
    signal_name: str
    signal_type: str
    effect: str
    opt: str
    opt_reason: str
    site_ids: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    at: datetime
    opted_out: tuple[tuple[str, str], ...] = ()  # sites that opted out alone, and why


@dataclass(frozen=True, slots=True)
class DemandResponseEventEnded:
    """An opted-in demand-response event's last interval ended; public as
    `grid.event_ended`, once per site it covered."""

    program_id: str
    event_id: str
    site_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """An alert was opened (not when an open one is counted again)."""

    alert_id: int
    kind: str
    charge_point_id: str | None
    site_id: str | None
    message: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PlannedSession:
    """One session's part of a plan: its power from each change on (W), and what it gets."""

    transaction_id: int
    charge_point_id: str
    connector_id: int
    power_w: tuple[tuple[datetime, float], ...]  # (from, W): a step where the power changes
    energy_needed_wh: float
    energy_planned_wh: float
    cost: float | None  # at the site's import price, in its currency
    waiting_reason: str | None


@dataclass(frozen=True, slots=True)
class PlanUpdated:
    """A site was replanned: the optimisation result the chargers are now told."""

    site_id: str
    at: datetime
    method: str
    sessions: tuple[PlannedSession, ...]
    binding: tuple[tuple[datetime, str], ...]  # (slot start, the constraint that limits it)
    alerts: tuple[str, ...]


Event = (
    ChargerBooted
    | ChargerConnected
    | ChargerDisconnected
    | SessionProgressed
    | PlanUpdated
    | ConnectorStatusChanged
    | TransactionStarted
    | TransactionStopped
    | PowerMeasured
    | NeedChanged
    | SiteMeterRead
    | SiteChanged
    | DriverChanged
    | IdTagChanged
    | ModeChanged
    | OperatorLimitChanged
    | DemandResponseChanged
    | DemandResponseEventReceived
    | DemandResponseEventEnded
    | AlertRaised
)


@dataclass(frozen=True, slots=True)
class SecurityEventReported:
    """A charger's SecurityEventNotification (OCPP 1.6 security extension)."""

    charge_point_id: str
    type: str
    timestamp: datetime  # when the charger says it happened
    tech_info: str | None
    critical: bool
    at: datetime  # when it was received
