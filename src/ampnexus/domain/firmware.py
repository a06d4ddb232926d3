"""Firmware updates, diagnostics and logs: the files that travel between AmpNexus and its
chargers, and what the chargers report about them (OCPP 1.6 Firmware Management and the
security whitepaper's signed firmware and logs). Pure values and rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ampnexus.domain.errors import Invalid


class UpdateState(StrEnum):
    """Where one charger's firmware update stands (a rollout counts its chargers by it)."""

    PENDING = "pending"  # not sent yet (the charger was offline), or sent and not begun
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    INSTALLING = "installing"
    INSTALLED = "installed"
    FAILED = "failed"


# What each FirmwareStatusNotification / SignedFirmwareStatusNotification status means for
# the update. Idle is absent: a charger says it between updates, and it changes nothing.
_STATE_OF_STATUS = {
    "DownloadScheduled": UpdateState.PENDING,
    "Downloading": UpdateState.DOWNLOADING,
    "DownloadPaused": UpdateState.DOWNLOADING,
    "Downloaded": UpdateState.DOWNLOADED,
    "SignatureVerified": UpdateState.DOWNLOADED,
    "InstallScheduled": UpdateState.INSTALLING,
    "Installing": UpdateState.INSTALLING,
    "InstallRebooting": UpdateState.INSTALLING,
    "Installed": UpdateState.INSTALLED,
    "DownloadFailed": UpdateState.FAILED,
    "InstallationFailed": UpdateState.FAILED,
    "InstallVerificationFailed": UpdateState.FAILED,
    "InvalidSignature": UpdateState.FAILED,
}

# Statuses an operator must hear about: the firmware did not go on, or it was refused as
# not authentic (whitepaper §3.4: a charger that deems the signature invalid).
ALERTING_STATUSES = frozenset(
    {"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"}
)
# Of those, the ones that may mean someone tampered with the firmware.
SECURITY_STATUSES = frozenset({"InstallVerificationFailed", "InvalidSignature"})


def state_after(current: UpdateState, status: str) -> UpdateState:
    """The update's state once the charger reported `status` (unknown statuses: unchanged)."""
    return _STATE_OF_STATUS.get(status, current)


class UploadKind(StrEnum):
    """What a charger is asked to upload: GetDiagnostics, or GetLog of either log type."""

    DIAGNOSTICS = "diagnostics"
    DIAGNOSTICS_LOG = "DiagnosticsLog"
    SECURITY_LOG = "SecurityLog"


class SignedUpdateStatus(StrEnum):
    """SignedUpdateFirmware.conf (whitepaper §5.12)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"
    INVALID_CERTIFICATE = "InvalidCertificate"
    REVOKED_CERTIFICATE = "RevokedCertificate"

    @property
    def accepted(self) -> bool:
        return self in (SignedUpdateStatus.ACCEPTED, SignedUpdateStatus.ACCEPTED_CANCELED)


class LogRequestStatus(StrEnum):
    """GetLog.conf (whitepaper §5.6)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"


@dataclass(frozen=True, slots=True)
class FirmwareFile:
    """A firmware image AmpNexus serves to chargers at an unguessable URL."""

    id: int
    name: str
    size: int
    sha256: str
    token: str  # in the download URL: knowing it is what lets a charger download
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class Signing:
    """SignedUpdateFirmware's proof: the PEM certificate the firmware was signed with and
    the Base64 signature, as the operator's build pipeline produced them."""

    certificate: str
    signature: str

    def __post_init__(self) -> None:
        if "-----BEGIN CERTIFICATE-----" not in self.certificate:
            raise Invalid("signing_certificate must be a PEM certificate")
        if len(self.certificate) > 5500 or len(self.signature) > 800:
            raise Invalid("signing_certificate is at most 5500 characters, signature 800")


@dataclass(frozen=True, slots=True)
class UpdateSpec:
    """What an operator asks: the firmware (a URL, or one of ours) and when to fetch it."""

    location: str | None
    firmware_id: int | None
    retrieve_at: datetime
    retries: int | None = None
    retry_interval_s: int | None = None
    install_at: datetime | None = None  # signed updates only
    signing: Signing | None = None  # given: a SignedUpdateFirmware

    def __post_init__(self) -> None:
        if (self.location is None) == (self.firmware_id is None):
            raise Invalid("give either location (a URL) or firmware_id (a firmware we serve)")
        if self.install_at is not None and self.signing is None:
            raise Invalid("install_date is for signed updates only")


@dataclass(frozen=True, slots=True)
class FirmwareUpdate:
    """One charger's firmware update, from the request to its last status."""

    id: int
    charge_point_id: str
    location: str
    retrieve_at: datetime
    signed: bool
    state: UpdateState
    created_at: datetime
    updated_at: datetime
    rollout_id: int | None = None
    firmware_id: int | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    install_at: datetime | None = None
    signing: Signing | None = None
    sent_at: datetime | None = None
    answer: str | None = None  # the charger's answer to the command
    last_status: str | None = None  # the last status it reported for this update
    problem: str | None = None  # why it failed, or why it waits

    @property
    def request_id(self) -> int:
        """The requestId a signed update is sent with: the update's own id."""
        return self.id


@dataclass(frozen=True, slots=True)
class Rollout:
    id: int
    location: str
    signed: bool
    created_at: datetime
    firmware_id: int | None
    updates: tuple[FirmwareUpdate, ...]

    def counts(self) -> dict[str, int]:
        tally = dict.fromkeys((state.value for state in UpdateState), 0)
        for update in self.updates:
            tally[update.state.value] += 1
        return tally


@dataclass(frozen=True, slots=True)
class UploadRequest:
    """A GetDiagnostics or GetLog: where the charger uploads, and what arrived."""

    id: int
    charge_point_id: str
    kind: UploadKind
    token: str  # in the upload URL
    created_at: datetime
    answer: str | None = None  # Accepted, Rejected, ... (GetDiagnostics: NoFile when none)
    file_name: str | None = None  # the name the charger gave
    status: str | None = None  # the last status the charger reported
    size: int | None = None  # of the file received, once it arrived
    sha256: str | None = None
    uploaded_at: datetime | None = None

    @property
    def request_id(self) -> int:
        """GetLog's requestId: the request's own id."""
        return self.id


@dataclass(frozen=True, slots=True)
class TransferReport:
    """One FirmwareStatus-, SignedFirmwareStatus-, DiagnosticsStatus- or LogStatusNotification."""

    charge_point_id: str
    notification: str
    status: str
    received_at: datetime
    subject_id: int | None = None  # the update or upload request it was about, if known


def safe_file_name(name: str, fallback: str) -> str:
    """A name fit for a URL path segment and a Content-Disposition: its last path part,
    printable ASCII without quotes or slashes, at most 100 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in base if 32 < ord(ch) < 127 and ch not in '"/%?#;')
    return kept.strip(".")[:100] or fallback


@dataclass(frozen=True, slots=True)
class UploadOptions:
    """GetDiagnostics' and GetLog's optional fields: the period wanted, and the retries."""

    since: datetime | None = None  # GetDiagnostics startTime, GetLog oldestTimestamp
    until: datetime | None = None  # stopTime, latestTimestamp
    retries: int | None = None
    retry_interval_s: int | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise Invalid("the period's start is after its end")


# Where AmpNexus serves firmware and takes uploads, below the address chargers reach it at.
# The token in each is the only credential: a charger holds no API key.
FILES_PREFIX = "/files"
FIRMWARE_PATH = f"{FILES_PREFIX}/firmware"
UPLOADS_PATH = f"{FILES_PREFIX}/uploads"


def download_url(base_url: str, firmware: FirmwareFile) -> str:
    return f"{base_url.rstrip('/')}{FIRMWARE_PATH}/{firmware.token}/{firmware.name}"


def upload_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{UPLOADS_PATH}/{token}"
