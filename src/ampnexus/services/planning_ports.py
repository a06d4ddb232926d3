"""What the smart charging service needs from the rest of AmpNexus, each as a narrow port:
the site's shape, its running sessions and their needs, its signals and prices, which
chargers are connected, and the commands that reach them. The composition root passes the
services that provide them; unit tests pass in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from ampnexus.charging.compiler import ChargerCapabilities, Steps
from ampnexus.domain.charging_mode import ChargingMode, EffectiveMode
from ampnexus.domain.demand_response import DelaySpan, SlotLimit, SlotPrice
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.domain.reservation import Reservation
from ampnexus.domain.series import Point, SeriesKind, Slots
from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.domain.transaction import Transaction
from ampnexus.services.needs import SessionFacts


class SiteDirectory(Protocol):
    """Sites, their circuit trees and where each charger is placed (NotFound: none)."""

    async def get(self, site_id: str) -> Site: ...
    async def layout(self, site_id: str) -> SiteLayout: ...
    async def placement(self, charge_point_id: str) -> Placement: ...


class RunningSessions(Protocol):
    async def active_on(self, charge_point_ids: Sequence[str]) -> Sequence[Transaction]:
        """The running transactions of these chargers, newest first."""
        ...


class SessionNeeds(Protocol):
    async def resolve_all(
        self, transactions: Sequence[Transaction], site: Site
    ) -> Mapping[int, SessionFacts]:
        """Each session's need (energy, departure) and driver, by transaction id."""
        ...


class SiteSignals(Protocol):
    """The site's measured and forecast series (meter, solar, carbon)."""

    async def recent(self, site_id: str, kind: SeriesKind, since: datetime) -> list[Point]: ...
    async def resampled(self, site_id: str, kind: SeriesKind, grid: Slots) -> tuple[float, ...]: ...


class SlotPrices(Protocol):
    async def slot_prices(
        self, site_id: str, grid: Slots
    ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(import, export) per slot; None when the site has no tariff."""
        ...


class ChargerPresence(Protocol):
    def is_connected(self, charge_point_id: str) -> bool: ...


class ChargerModes(Protocol):
    async def effective_on_site(
        self, site_id: str, default_mode: ChargingMode | None, charge_point_ids: Sequence[str]
    ) -> Mapping[str, EffectiveMode]:
        """Each of the site's chargers' effective mode, in one read."""
        ...


class OperatorBounds(Protocol):
    """The charging profiles operators gave chargers (`OperatorProfiles`): upper bounds that
    plans keep. `load` once per site replan; then `bound` and `held` answer from memory."""

    async def load(self, charge_point_ids: Iterable[str]) -> None: ...

    def bound(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        transaction_started_at: datetime | None,
        capabilities: ChargerCapabilities,
        since: datetime,
        until: datetime,
    ) -> Steps | None:
        """The most the operator's profiles let the connector draw (W); None: no bound."""
        ...

    def held(self, charge_point_id: str) -> Sequence[OperatorProfile]:
        """The operator's profiles the charger holds."""
        ...


class DemandResponseLimits(Protocol):
    """What demand-response events in force ask of a site's EV load (`DemandResponseService`)."""

    def site_limits(
        self, site_id: str, starts: Sequence[datetime], ends: Sequence[datetime]
    ) -> tuple[SlotLimit, ...]:
        """Per slot [start, end); () when no event is in force anywhere."""
        ...

    def site_prices(
        self, site_id: str, starts: Sequence[datetime], ends: Sequence[datetime]
    ) -> tuple[SlotPrice | None, ...]:
        """Per slot, the price event's word on its import price; () when none is in force."""
        ...

    def delay_exempt(self, site_id: str) -> tuple[DelaySpan, ...]:
        """When the site provides demand response (no regulation-mode random delay then)."""
        ...


class ReservedConnectors(Protocol):
    """Reservations in force (`ReservationService`): a driver is coming to each."""

    async def active_on(self, charge_point_ids: Sequence[str]) -> Sequence[Reservation]: ...
