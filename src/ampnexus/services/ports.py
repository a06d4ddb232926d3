"""Interfaces the services need from the outer rings (storage, protocol adapter)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from ampnexus.domain.alert import Alert, AlertKey, AlertKind, Severity
from ampnexus.domain.api_key import ApiKey, ApiKeyScope
from ampnexus.domain.charge_point import BootInfo, ChargePoint, Connector
from ampnexus.domain.charging_mode import ModeChange, ModeSetting
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
    ProfileFilter,
    ResetKind,
    TriggeredMessage,
    TriggerStatus,
    UnlockStatus,
)
from ampnexus.domain.data_transfer import DataTransferRecord
from ampnexus.domain.demand_response import Event as DrEvent
from ampnexus.domain.demand_response import Program
from ampnexus.domain.driver import DriverProfile
from ampnexus.domain.id_tag import IdTag
from ampnexus.domain.needs import PastSession, SessionNeed
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.domain.series import Point, SeriesKind
from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.domain.tariff import PricePeriod, Tariff
from ampnexus.domain.transaction import (
    NO_FILTER,
    ChargerReading,
    LeftOpen,
    MeterReading,
    ReadingFilter,
    SessionFilter,
    Transaction,
    TransactionOwner,
    TransactionStart,
    TransactionStop,
)
from ampnexus.domain.user import PortalSession, Role, User
from ampnexus.services.feed import Announce

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int


@dataclass(frozen=True, slots=True)
class StatusRecord:
    connector: Connector
    received_at: datetime


class ChargePointStore(Protocol):
    async def get(self, charge_point_id: str) -> ChargePoint | None: ...
    async def list(self, limit: int, offset: int) -> Page[ChargePoint]: ...
    async def add(self, charge_point: ChargePoint) -> None: ...
    async def update(self, charge_point_id: str, changes: dict[str, Any]) -> None: ...
    async def delete(self, charge_point_id: str) -> bool: ...
    async def record_boot(
        self, charge_point_id: str, boot: BootInfo, at: datetime, heartbeat_interval: int
    ) -> None: ...
    async def record_status(
        self, charge_point_id: str, record: StatusRecord, events: Sequence[object] = ()
    ) -> None:
        """Store a status; `events`, the feed events it caused, in the same commit."""
        ...

    async def record_last_seen(self, seen: dict[str, datetime]) -> None: ...
    async def status_history(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[StatusRecord]: ...


class IdTagStore(Protocol):
    async def get(self, id_tag: str) -> IdTag | None: ...
    async def list(self, limit: int, offset: int) -> Page[IdTag]: ...
    async def add(self, tag: IdTag, at: datetime) -> None: ...
    async def replace(self, tag: IdTag) -> None: ...
    async def delete(self, id_tag: str) -> bool: ...


class TransactionStore(Protocol):
    async def start(
        self, start: TransactionStart, at: datetime, announce: Announce[int] | None = None
    ) -> int:
        """Store a start and return its id; a replayed identical start returns the first id.
        `announce`: the events the start caused, given its id, committed with it."""
        ...

    async def stop(
        self, stop: TransactionStop, at: datetime, events: Sequence[object] = ()
    ) -> bool:
        """Close a transaction; False when the charger named an unknown one. `events` are
        committed with it when this stop closes it (not for a replay)."""
        ...

    async def add_meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        readings: Sequence[MeterReading],
        at: datetime,
        events: Sequence[object] = (),
    ) -> None: ...
    async def add_rejected_meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        claimed_transaction_id: int,
        readings: Sequence[MeterReading],
        at: datetime,
    ) -> None:
        """Readings that named a transaction not the charger's own: stored with no
        transaction, marked with the id claimed."""
        ...

    async def close_left_open(
        self, left: LeftOpen, announce: Announce[list[Transaction]] | None = None
    ) -> list[Transaction]:
        """Close the transactions its charger left open, as `left` finds them: each at its
        latest total import register reading, else at `left.fallback_at` with no energy.
        Returns those this call closed (none twice); `announce`, given them, the events
        committed with it."""
        ...

    async def charger_readings(
        self, charge_point_id: str, where: ReadingFilter, limit: int, offset: int
    ) -> Page[ChargerReading]:
        """The samples the charger sent without a transaction, newest first."""
        ...

    async def owner(self, transaction_id: int) -> TransactionOwner | None: ...
    async def highest_transaction_id(self) -> int:
        """The highest transaction id issued so far; 0 when there is none."""
        ...

    async def get(self, transaction_id: int) -> Transaction | None: ...
    async def list(
        self,
        charge_point_id: str | None,
        active: bool | None,
        limit: int,
        offset: int,
        where: SessionFilter = NO_FILTER,
        registers: bool = False,
    ) -> Page[Transaction]:
        """Newest first. `registers`: with their total energy import register readings
        (what a session's energy and cost are counted from), else no meter values."""
        ...

    async def active_on(self, charge_point_ids: Sequence[str]) -> Sequence[Transaction]:
        """The running transactions of these chargers, newest first."""
        ...

    async def finished_at_site(self, site_id: str, since: datetime) -> Sequence[Transaction]:
        """Transactions started since `since` at chargers now placed on the site and closed
        with a meter reading, oldest first (the history a session forecast is made from)."""
        ...

    async def energy_sessions(
        self, charge_point_ids: Sequence[str], since: datetime, until: datetime
    ) -> Sequence[Transaction]:
        """The chargers' transactions that ran at some time in [since, until) (a running
        one still runs), oldest first, in one read; `meter_values` holds only their total
        energy import register readings, in time order (what an energy report needs)."""
        ...


class DataTransferStore(Protocol):
    async def record(
        self,
        charge_point_id: str,
        direction: str,
        vendor_id: str,
        message_id: str | None,
        data: str | None,
        status: str | None,
        at: datetime,
    ) -> None: ...
    async def list(self, charge_point_id: str, limit: int, offset: int) -> Page[DataTransferRecord]:
        """Both directions, newest first."""
        ...


class ApiKeyStore(Protocol):
    async def add(
        self, name: str, scope: ApiKeyScope, prefix: str, digest: str, at: datetime
    ) -> ApiKey: ...
    async def find_active(self, digest: str) -> ApiKey | None: ...
    async def list(self) -> Sequence[ApiKey]: ...
    async def revoke(self, key_id: int, at: datetime) -> bool: ...


class UserStore(Protocol):
    async def add(self, email: str, role: Role, password_hash: str, at: datetime) -> User:
        """Raises Conflict if a user has this (lower-cased) email."""
        ...

    async def get(self, user_id: int) -> User | None: ...
    async def find(self, email: str) -> tuple[User, str] | None:
        """The user with this lower-cased email, and their password hash."""
        ...

    async def list(self) -> Sequence[User]: ...
    async def delete(self, user_id: int) -> bool:
        """Their portal sessions go with them."""
        ...

    async def update(self, user_id: int, changes: dict[str, Any]) -> User | None:
        """Sets `role`, `password_hash`, `disabled_at` or `last_login_at`."""
        ...


class PortalSessionStore(Protocol):
    async def add(
        self,
        user_id: int,
        digest: str,
        csrf_token: str,
        at: datetime,
        expires_at: datetime,
    ) -> PortalSession: ...
    async def find(self, digest: str) -> tuple[User, PortalSession] | None: ...
    async def touch(self, session_id: int, at: datetime) -> None: ...
    async def delete(self, digest: str) -> bool: ...
    async def delete_for_user(self, user_id: int) -> int: ...
    async def delete_expired(self, now: datetime, idle_since: datetime) -> int:
        """Sessions at or past `expires_at`, or last seen at or before `idle_since`."""
        ...


class AlertStore(Protocol):
    async def raise_alert(
        self,
        key: AlertKey,
        severity: Severity,
        message: str,
        details: dict[str, Any],
        at: datetime,
        occurrences: int = 1,
        announce: Announce[Alert] | None = None,
    ) -> Alert:
        """Open an alert for `key`, or count `occurrences` more on the open one; returns it
        (`announce`: the events it caused, committed with it)."""
        ...

    async def resolve(self, key: AlertKey, at: datetime) -> bool:
        """Close the open alert of `key`; False when there was none."""
        ...

    async def resolve_id(self, alert_id: int, at: datetime) -> Alert | None: ...
    async def get(self, alert_id: int) -> Alert | None: ...
    async def list(
        self,
        open_only: bool | None,
        kind: AlertKind | None,
        charge_point_id: str | None,
        site_id: str | None,
        limit: int,
        offset: int,
    ) -> Page[Alert]: ...


class EventPublisher(Protocol):
    def publish(self, event: object) -> None: ...


class ChargerCommands(Protocol):
    """Commands to a connected charger, in domain terms. One adapter per protocol version
    (`ocpp/v16/commands.py`) writes the request and reads the answer; connector 0 means the
    whole charger.

    Each raises ChargerNotConnected, CommandTimeout or CommandFailed (the charger answered
    with an error, or with an answer that cannot be read: only a valid answer is returned).
    """

    async def remote_start(
        self,
        charge_point_id: str,
        id_tag: str,
        connector_id: int | None,
        profile: ChargingProfile | None,
    ) -> Answer[Acceptance]: ...
    async def remote_stop(
        self, charge_point_id: str, transaction_id: int
    ) -> Answer[Acceptance]: ...
    async def reset(self, charge_point_id: str, kind: ResetKind) -> Answer[Acceptance]: ...
    async def unlock(self, charge_point_id: str, connector_id: int) -> Answer[UnlockStatus]: ...
    async def change_availability(
        self, charge_point_id: str, connector_id: int, availability: Availability
    ) -> Answer[AvailabilityStatus]: ...
    async def get_configuration(
        self, charge_point_id: str, keys: Sequence[str]
    ) -> ConfigurationRead:
        """The given keys, or every key when none is given."""
        ...

    async def change_configuration(
        self, charge_point_id: str, key: str, value: str
    ) -> Answer[ConfigurationStatus]: ...
    async def clear_cache(self, charge_point_id: str) -> Answer[Acceptance]: ...
    async def data_transfer(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: str | None
    ) -> DataTransferAnswer: ...
    async def set_charging_profile(
        self, charge_point_id: str, connector_id: int, profile: ChargingProfile
    ) -> Answer[ProfileStatus]:
        """Sent as given: a TxProfile carries the transaction it is for (the caller's check)."""
        ...

    async def clear_charging_profile(
        self, charge_point_id: str, which: ProfileFilter
    ) -> Answer[ClearProfileStatus]: ...
    async def get_composite_schedule(
        self,
        charge_point_id: str,
        connector_id: int,
        duration_s: int,
        unit: ChargingRateUnit | None,
    ) -> CompositeAnswer:
        """The limits from the moment of asking; a schedule the charger sends without a
        start counts from then."""
        ...

    async def trigger_message(
        self, charge_point_id: str, message: TriggeredMessage, connector_id: int | None
    ) -> Answer[TriggerStatus]: ...


# --- sites, tariffs, series, driver profiles and needs ------------------------------------------
LayoutEdit = Callable[[SiteLayout], SiteLayout]


class SiteStore(Protocol):
    async def get(self, site_id: str) -> Site | None: ...
    async def list(self, limit: int, offset: int) -> Page[Site]: ...
    async def add(self, site: Site) -> None: ...
    async def replace(self, site: Site) -> None: ...
    async def delete(self, site_id: str) -> bool:
        """Delete the site, its circuits, tariffs and series; its chargers stay, unplaced."""
        ...

    async def layout(self, site_id: str) -> SiteLayout | None: ...
    async def edit_layout(self, site_id: str, edit: LayoutEdit) -> SiteLayout:
        """Apply `edit` to the current layout and store the result, in one transaction;
        whatever `edit` raises is raised. NotFound for an unknown site or charge point."""
        ...

    async def placement(self, charge_point_id: str) -> Placement | None:
        """None for an unknown charge point."""
        ...

    async def set_placement(self, placement: Placement) -> None:
        """Store a placement on no site; NotFound for an unknown charge point."""
        ...


class TariffStore(Protocol):
    async def add(self, tariff: Tariff) -> Tariff:
        """Store a tariff with its bands; returns it with its id."""
        ...

    async def get(self, site_id: str, tariff_id: int) -> Tariff | None: ...
    async def list(self, site_id: str, limit: int, offset: int) -> Page[Tariff]: ...
    async def delete(self, site_id: str, tariff_id: int) -> bool: ...
    async def replace_periods(self, tariff_id: int, periods: Sequence[PricePeriod]) -> int:
        """Store dynamic prices; stored periods overlapping their span are replaced.
        Returns how many were replaced."""
        ...

    async def periods(
        self,
        tariff_id: int,
        start: datetime | None,
        end: datetime | None,
        limit: int | None,
        offset: int = 0,
    ) -> Page[PricePeriod]:
        """Periods overlapping [start, end), in time order; `limit` None: all of them."""
        ...


class SeriesStore(Protocol):
    async def add(
        self, site_id: str, kind: SeriesKind, points: Sequence[Point], at: datetime
    ) -> None: ...
    async def points(
        self,
        site_id: str,
        kind: SeriesKind,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> Page[Point]:
        """Points in [start, end) in time order; of equal timestamps, the newest only."""
        ...

    async def window(
        self, site_id: str, kind: SeriesKind, start: datetime, end: datetime
    ) -> list[Point]:
        """What resampling [start, end) needs: the points in it and the last one before."""
        ...


class DriverProfileStore(Protocol):
    async def add(self, profile: DriverProfile) -> DriverProfile:
        """Store a profile and bind its id tags; returns it with its id. Invalid for an
        unknown id tag, Conflict for one bound to another profile."""
        ...

    async def get(self, profile_id: int) -> DriverProfile | None: ...
    async def list(self, limit: int, offset: int) -> Page[DriverProfile]: ...
    async def replace(self, profile: DriverProfile) -> None:
        """Like add, for an existing profile (its id tags are replaced too)."""
        ...

    async def delete(self, profile_id: int) -> bool: ...
    async def bind(self, profile_id: int, id_tag: str) -> None: ...
    async def unbind(self, profile_id: int, id_tag: str) -> bool: ...
    async def by_id_tag(self, id_tag: str) -> DriverProfile | None: ...
    async def by_id_tags(self, id_tags: Sequence[str]) -> dict[str, DriverProfile]:
        """The profiles these id tags are bound to, by the tag in lower case (unbound
        tags are left out)."""
        ...


class NeedStore(Protocol):
    async def put(self, need: SessionNeed) -> None:
        """Store the need of its transaction or id tag, replacing the one before."""
        ...

    async def for_transaction(self, transaction_id: int) -> SessionNeed | None: ...
    async def for_id_tag(self, id_tag: str) -> SessionNeed | None: ...
    async def delete_for_transaction(self, transaction_id: int) -> bool: ...
    async def delete_for_id_tag(self, id_tag: str) -> bool: ...
    async def history(self, id_tags: Sequence[str], limit: int) -> list[PastSession]:
        """The latest finished sessions of these id tags, newest first."""
        ...

    async def for_transactions(self, transaction_ids: Sequence[int]) -> dict[int, SessionNeed]:
        """The needs set for these transactions (those with none are left out)."""
        ...

    async def for_id_tags(self, id_tags: Sequence[str]) -> dict[str, SessionNeed]:
        """The needs set for these id tags, by the tag in lower case."""
        ...

    async def histories(self, id_tags: Sequence[str], limit: int) -> dict[str, list[PastSession]]:
        """For each id tag (in lower case), its latest `limit` finished sessions, newest
        first; a tag with none is left out."""
        ...


class ModeStore(Protocol):
    """Each charger's own charging mode, and the append-only trail of its changes."""

    async def get(self, charge_point_id: str) -> ModeSetting | None: ...
    async def get_many(
        self, charge_point_ids: Sequence[str]
    ) -> Mapping[str, tuple[int, ModeSetting | None]]:
        """In one read, each registered charger's security profile and own mode (None:
        it follows its site); unknown chargers are left out."""
        ...

    async def put(self, setting: ModeSetting) -> ModeChange:
        """Store the charger's own setting and append the change to its trail, in one
        transaction; returns the change with its id. NotFound for an unknown charger."""
        ...

    async def clear(self, charge_point_id: str, changed_by: str, at: datetime) -> ModeChange | None:
        """Remove the charger's own setting (it follows its site again) and append that to
        its trail; None when it had none."""
        ...

    async def history(self, charge_point_id: str, limit: int, offset: int) -> Page[ModeChange]:
        """The trail, newest first; it stays when the charger is deleted."""
        ...

    async def set_override(
        self, charge_point_id: str, transaction_id: int, set_by: str, at: datetime
    ) -> ModeChange | None:
        """Mark the session "charge now" (the transaction's `charge_now`) and append that
        to its charger's trail, in one transaction; None, recording nothing, when it
        already was. The caller checks the session is the charger's and running."""
        ...

    async def cancel_override(
        self, charge_point_id: str, transaction_id: int, cancelled_by: str, at: datetime
    ) -> ModeChange | None:
        """Remove the session's override and append that to the trail; None when it had
        none."""
        ...


class OperatorProfileStore(Protocol):
    """The charging profiles operators gave chargers and the chargers accepted, kept by the
    charger's rules (`domain/operator_profile.py`); a charger's go with it when deleted."""

    async def put(self, record: OperatorProfile) -> int:
        """Store it, replacing the charger's profiles it replaces; returns how many it
        replaced. NotFound for an unknown charger."""
        ...

    async def clear(self, charge_point_id: str, which: ProfileFilter) -> int:
        """Remove the charger's profiles `which` clears; returns how many."""
        ...

    async def drop_transaction(self, charge_point_id: str, transaction_id: int) -> int:
        """Remove the charger's TxProfiles bound to the transaction; returns how many."""
        ...

    async def drop_tx_profiles(self, charge_point_id: str) -> int:
        """Remove all the charger's TxProfiles; returns how many."""
        ...

    async def for_chargers(
        self, charge_point_ids: Sequence[str]
    ) -> dict[str, list[OperatorProfile]]:
        """Each charger's profiles by connector, purpose, stack level and id; a charger with
        none is left out."""
        ...


class DemandResponseStore(Protocol):
    """Demand-response programs and their events, each event as of its newest modification
    (`domain/demand_response.py`); a program's events go with it."""

    async def add_program(self, program: Program, at: datetime) -> None:
        """Conflict when a program has that id."""
        ...

    async def update_program(self, program: Program, at: datetime) -> None:
        """NotFound for an unknown program."""
        ...

    async def delete_program(self, program_id: str) -> bool: ...

    async def program(self, program_id: str) -> Program | None: ...

    async def programs(self) -> list[Program]:
        """All, by id."""
        ...

    async def set_ven_id(self, program_id: str, ven_id: str | None) -> None:
        """What the VTN assigned at registration, kept to register as the same VEN."""
        ...

    async def put_event(
        self, event: DrEvent, announce: Callable[[bool], Sequence[object]] | None = None
    ) -> bool:
        """Store it unless a higher modification of it is stored; True: stored.
        `announce`: the domain events to commit to the feed with it (given the result)."""
        ...

    async def events(
        self,
        ending_after: datetime | None = None,
        program_id: str | None = None,
        starting_before: datetime | None = None,
    ) -> list[DrEvent]:
        """Events whose last interval ends after `ending_after` and whose first starts
        before `starting_before` (None: no bound), by start."""
        ...
