"""Reservations (OCPP 1.6 Reservation profile): a connector, or any connector of a charger
(connector 0), held for one id tag, or its group (parent id tag), until an expiry date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ReservationState(StrEnum):
    ACTIVE = "active"  # the charger holds it (or is being asked to)
    USED = "used"  # a transaction started on it
    CANCELLED = "cancelled"  # by the operator, or the charger dropped it (fault, unavailable)
    EXPIRED = "expired"  # its expiry date passed unused
    REJECTED = "rejected"  # the charger refused it, or never answered


class ReserveStatus(StrEnum):
    """A charger's answer to ReserveNow."""

    ACCEPTED = "Accepted"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"
    REJECTED = "Rejected"
    UNAVAILABLE = "Unavailable"


class CancelStatus(StrEnum):
    """A charger's answer to CancelReservation: Rejected when it holds no such reservation."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


# Connector statuses on which a charger terminates the reservations it holds there (§5.13).
TERMINATING_STATUSES = frozenset({"Faulted", "Unavailable"})


@dataclass(frozen=True, slots=True)
class NewReservation:
    charge_point_id: str
    connector_id: int  # 0: any connector of the charger
    id_tag: str
    parent_id_tag: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int  # also the OCPP reservationId
    charge_point_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expires_at: datetime
    state: ReservationState
    created_at: datetime
    answer: ReserveStatus | None = None  # the charger's answer to ReserveNow
    reason: str | None = None  # why it is no longer active
    transaction_id: int | None = None  # the transaction that used it
    ended_at: datetime | None = None

    def state_at(self, now: datetime) -> ReservationState:
        """Active past its expiry date is expired, whether or not the sweep stored it yet."""
        if self.state is ReservationState.ACTIVE and self.expires_at <= now:
            return ReservationState.EXPIRED
        return self.state

    def covers(self, connector_id: int) -> bool:
        return self.connector_id in (0, connector_id)

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        """Whether the tag may charge on it: the reserved tag itself, or a tag of the same
        group (§5.13). A group is matched by parent id tags only: a parent value need not be
        a tag anyone presents (§3.10)."""
        if _same_tag(id_tag, self.id_tag):
            return True
        return (
            self.parent_id_tag is not None
            and parent_id_tag is not None
            and _same_tag(parent_id_tag, self.parent_id_tag)
        )


def _same_tag(a: str, b: str) -> bool:
    """Id tags are CiString20: compared case-insensitively (ASCII only, as the store does)."""
    return a == b or (a.isascii() and b.isascii() and a.lower() == b.lower())


@dataclass(frozen=True, slots=True)
class ReservationFilter:
    charge_point_id: str | None = None
    state: ReservationState | None = None
    id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class ReservationChanged:
    """A reservation began, or stopped holding its connector (used, cancelled, expired,
    refused): smart charging keeps room for the active ones."""

    reservation_id: int
    charge_point_id: str
    connector_id: int
    state: ReservationState
    at: datetime
