"""The tables the fake stores share, as the SQL stores share one database.

Several ports read each other's rows (a placement lives on the charge point, a need and a
driver binding name an id tag, a site's history joins transactions to placements), so the
fakes are views of one `Memory` rather than independent dictionaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import TypeVar

from ampnexus.domain.alert import Alert
from ampnexus.domain.api_key import ApiKey
from ampnexus.domain.charge_point import ChargePoint, Connector
from ampnexus.domain.charging_mode import ModeChange, ModeSetting
from ampnexus.domain.driver import DriverProfile
from ampnexus.domain.id_tag import IdTag
from ampnexus.domain.needs import SessionNeed
from ampnexus.domain.operator_profile import OperatorProfile
from ampnexus.domain.series import Point, SeriesKind
from ampnexus.domain.site import Circuit, Placement, Site
from ampnexus.domain.tariff import PricePeriod, Tariff
from ampnexus.domain.transaction import MeterReading, Transaction
from ampnexus.domain.user import PortalSession, User
from ampnexus.services.ports import Page, StatusRecord

T = TypeVar("T")


@dataclass(slots=True)
class StoredReading:
    """A meter_values row group: `transaction_id` set when attached, `rejected_id` when the
    charger named a transaction not its own."""

    charge_point_id: str
    connector_id: int
    transaction_id: int | None
    rejected_id: int | None
    reading: MeterReading
    received_at: datetime


@dataclass(slots=True)
class StoredSeriesPoint:
    site_id: str
    kind: SeriesKind
    point: Point
    received_at: datetime
    id: int


@dataclass(slots=True)
class Memory:
    # Charge points without their placement (kept in `placements`, as the columns of a row).
    charge_points: dict[str, ChargePoint] = field(default_factory=dict)
    placements: dict[str, Placement] = field(default_factory=dict)
    connectors: dict[tuple[str, int], Connector] = field(default_factory=dict)
    status_history: list[tuple[str, StatusRecord]] = field(default_factory=list)
    last_boot: dict[str, datetime] = field(default_factory=dict)
    # Keyed by the folded spelling: one tag per spelling, whatever the case.
    id_tags: dict[str, IdTag] = field(default_factory=dict)
    transactions: dict[int, Transaction] = field(default_factory=dict)
    readings: list[StoredReading] = field(default_factory=list)
    data_transfers: list[dict[str, object]] = field(default_factory=list)
    api_keys: dict[int, tuple[ApiKey, str]] = field(default_factory=dict)  # with its digest
    alerts: dict[int, Alert] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    circuits: dict[str, tuple[Circuit, ...]] = field(default_factory=dict)
    tariffs: dict[int, Tariff] = field(default_factory=dict)
    prices: dict[int, list[PricePeriod]] = field(default_factory=dict)
    series: list[StoredSeriesPoint] = field(default_factory=list)
    drivers: dict[int, DriverProfile] = field(default_factory=dict)  # id_tags kept below
    driver_tags: dict[str, int] = field(default_factory=dict)  # tag's own spelling -> profile
    transaction_needs: dict[int, SessionNeed] = field(default_factory=dict)
    id_tag_needs: dict[str, SessionNeed] = field(default_factory=dict)  # tag's own spelling
    modes: dict[str, ModeSetting] = field(default_factory=dict)  # by charge point
    mode_history: list[ModeChange] = field(default_factory=list)  # oldest first, no foreign key
    feed: list[object] = field(default_factory=list)  # domain events committed to the outbox
    overrides: dict[int, tuple[str, datetime]] = field(default_factory=dict)  # set_by, set_at
    operator_profiles: list[OperatorProfile] = field(default_factory=list)
    users: dict[int, tuple[User, str]] = field(default_factory=dict)  # with its password hash
    portal_sessions: dict[str, PortalSession] = field(default_factory=dict)  # by digest
    _ids: dict[str, count[int]] = field(default_factory=dict)

    def next_id(self, table: str) -> int:
        """Ids from 1 up per table, as autoincrement columns issue them."""
        return next(self._ids.setdefault(table, count(1)))

    def id_tag(self, spelling: str) -> IdTag | None:
        return self.id_tags.get(fold(spelling))

    def delete_id_tag(self, spelling: str) -> bool:
        tag = self.id_tags.pop(fold(spelling), None)
        if tag is None:
            return False
        # ON DELETE CASCADE: its driver binding and its need go with it.
        self.driver_tags.pop(tag.id_tag, None)
        self.id_tag_needs.pop(tag.id_tag, None)
        return True


def fold(id_tag: str) -> str:
    """lower() as SQLite applies it, to ASCII only: id tags are CiString20, and beyond ASCII
    the two databases fold differently, so no test should rely on either."""
    return "".join(c.lower() if c.isascii() else c for c in id_tag)


def page(items: Sequence[T], limit: int | None, offset: int) -> Page[T]:
    """One page of `items` (already in the store's order) and the total."""
    end = None if limit is None else offset + limit
    return Page(list(items[offset:end]), len(items))


class ForeignKeyViolation(Exception):
    """What the database refuses and no service is meant to catch: a row naming a row that
    does not exist (the SQL stores raise IntegrityError there)."""
