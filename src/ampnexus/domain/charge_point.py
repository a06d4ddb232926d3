"""Charge points, their connectors and how they are admitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RegistrationStatus(StrEnum):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


@dataclass(frozen=True, slots=True)
class Connector:
    connector_id: int
    status: str
    error_code: str
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    charge_box_serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class ChargePoint:
    """security_profile: 0 none, 1 HTTP Basic, 2 Basic over TLS, 3 client certificates."""

    id: str
    security_profile: int
    registration_status: RegistrationStatus
    description: str | None = None
    password_hash: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    # The rest of its last BootNotification.
    charge_box_serial_number: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    last_seen: datetime | None = None
    last_boot: datetime | None = None
    created_at: datetime | None = None
    connectors: tuple[Connector, ...] = field(default_factory=tuple)
    site_id: str | None = None  # where it is placed (the rest of the placement: sites)
    circuit_id: str | None = None

    @property
    def needs_password(self) -> bool:
        return self.security_profile in (1, 2)  # 3 authenticates by its client certificate
