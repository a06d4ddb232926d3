"""The OCPP 1.6 security extension (Security Whitepaper edition 2) in domain terms: security
events chargers report, the certificates exchanged with them, and the rules for moving a
charger to a stronger security profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Whitepaper §8: the events marked critical, which a charger pushes at once.
CRITICAL_SECURITY_EVENTS = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)


def is_critical(event_type: str) -> bool:
    return event_type in CRITICAL_SECURITY_EVENTS


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    charge_point_id: str
    type: str
    timestamp: datetime  # when the charger says it happened
    tech_info: str | None
    received_at: datetime
    id: int | None = None

    @property
    def critical(self) -> bool:
        return is_critical(self.type)


class CertificateUse(StrEnum):
    """Which trust store of the charger a root certificate goes to."""

    CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"


class HashAlgorithm(StrEnum):
    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"


@dataclass(frozen=True, slots=True)
class CertificateHashData:
    """How OCPP names an installed certificate (hex digests, serial number in hex)."""

    algorithm: HashAlgorithm
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


class InstallCertificateStatus(StrEnum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"
    REJECTED = "Rejected"


class DeleteCertificateStatus(StrEnum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_FOUND = "NotFound"


class InstalledCertificatesStatus(StrEnum):
    ACCEPTED = "Accepted"
    NOT_FOUND = "NotFound"


class CertificateSignedStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ExtendedTrigger(StrEnum):
    """What ExtendedTriggerMessage can ask a charger to send (its MessageTriggerEnumType)."""

    BOOT_NOTIFICATION = "BootNotification"
    LOG_STATUS_NOTIFICATION = "LogStatusNotification"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    HEARTBEAT = "Heartbeat"
    METER_VALUES = "MeterValues"
    SIGN_CHARGE_POINT_CERTIFICATE = "SignChargePointCertificate"
    STATUS_NOTIFICATION = "StatusNotification"


class ExtendedTriggerStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_IMPLEMENTED = "NotImplemented"


@dataclass(frozen=True, slots=True)
class SigningRequest:
    """A charger's certificate signing request, read: its PEM and subject."""

    pem: str
    common_name: str | None
    organization: str | None


class SigningState(StrEnum):
    """Where a charger's CSR is: refused, waiting for an external CA, or signed and sent."""

    REJECTED = "rejected"
    QUEUED = "queued"  # for the operator's external CA
    SENT = "sent"  # CertificateSigned sent; the charger's answer is beside it
    FAILED = "failed"  # signed, but CertificateSigned could not be delivered


@dataclass(frozen=True, slots=True)
class SigningRecord:
    id: int
    charge_point_id: str
    state: SigningState
    received_at: datetime
    csr: str
    problem: str | None = None  # why it was rejected, or why delivery failed
    certificate_chain: str | None = None
    charger_status: str | None = None  # the charger's CertificateSigned.conf status
    answered_at: datetime | None = None


def signing_problem(
    request: SigningRequest, charge_point_id: str, organization: str | None
) -> str | None:
    """Why a CSR may not be signed for this charger (None: it may). The CN names the charger
    (A00.FR.405), the O the CPO (A02.FR.13; checked when the CPO name is configured)."""
    if request.common_name != charge_point_id:
        return f"the CSR's CN is {request.common_name!r}, not the charger's id {charge_point_id!r}"
    if request.organization is None:
        return "the CSR has no O (organizationName): the charger's CpoName belongs there"
    if organization is not None and request.organization != organization:
        return f"the CSR's O is {request.organization!r}, not the CPO {organization!r}"
    return None


def upgrade_problem(current: int, requested: int) -> str | None:
    """Security profiles only go up (whitepaper §7.11: a charger rejects a lower one)."""
    if requested not in (1, 2, 3):
        return "security_profile must be 1, 2 or 3"
    if requested <= current:
        return (
            f"the charger is at security profile {current}: a profile can only be raised, "
            f"never lowered or set again ({requested} asked)"
        )
    return None
