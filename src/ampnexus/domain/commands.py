"""Commands the CSMS sends a charger and what it answers, in domain terms: what the command
port (`services.ports.ChargerCommands`) takes and returns, whichever OCPP version the charger
speaks. The status values are the words the API and the database have always shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from ampnexus.domain.charging_profile import ChargingSchedule, ProfilePurpose

S = TypeVar("S", bound=StrEnum)


class Acceptance(StrEnum):
    """Remote start and stop, reset, clearing the authorization cache."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class UnlockStatus(StrEnum):
    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    NOT_SUPPORTED = "NotSupported"


class AvailabilityStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"  # after the transaction running on it


class ConfigurationStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"  # an unknown key


class DataTransferStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_MESSAGE_ID = "UnknownMessageId"
    UNKNOWN_VENDOR_ID = "UnknownVendorId"


class ClearProfileStatus(StrEnum):
    ACCEPTED = "Accepted"
    UNKNOWN = "Unknown"  # no profile matched


class TriggerStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_IMPLEMENTED = "NotImplemented"


class ResetKind(StrEnum):
    HARD = "Hard"
    SOFT = "Soft"


class Availability(StrEnum):
    OPERATIVE = "Operative"
    INOPERATIVE = "Inoperative"


class TriggeredMessage(StrEnum):
    """What a charger can be asked to send now; each protocol adapter names them its way."""

    BOOT = "boot"
    DIAGNOSTICS_STATUS = "diagnostics_status"
    FIRMWARE_STATUS = "firmware_status"
    HEARTBEAT = "heartbeat"
    METER_VALUES = "meter_values"
    STATUS = "connector_status"


@dataclass(frozen=True, slots=True)
class Answer(Generic[S]):
    """A charger's answer: its status, and the answer as it sent it (in its protocol's own
    words, shown to operators; the services never read it)."""

    status: S
    as_sent: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class DataTransferAnswer:
    status: DataTransferStatus
    data: str | None = None
    as_sent: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ConfigurationRead:
    """The values of the keys the charger knows (a key it holds no value for reads ""), and
    the keys asked for that it does not know."""

    values: dict[str, str]
    unknown: tuple[str, ...] = ()
    read_only: frozenset[str] = frozenset()
    as_sent: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class CompositeAnswer:
    """A composite schedule, with an absolute start (UTC); `schedule` None when the charger
    refused, or sent one that cannot be read (then `problem` says why)."""

    accepted: bool
    connector_id: int | None = None
    schedule: ChargingSchedule | None = None
    problem: str | None = None
    as_sent: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class ProfileFilter:
    """Which profiles to clear: by id alone, or every one matching all the given fields;
    nothing given clears every profile."""

    profile_id: int | None = None
    connector_id: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None
