"""The API's shapes for firmware, rollouts, diagnostics and logs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from ampnexus.api.models import INT32_MAX, Strict, UtcDatetime
from ampnexus.domain.errors import Invalid
from ampnexus.domain.firmware import (
    FirmwareFile,
    FirmwareUpdate,
    Rollout,
    Signing,
    TransferReport,
    UpdateSpec,
    UploadOptions,
    UploadRequest,
)

# What a charger can fetch: OCPP gives no scheme list; these are the ones chargers speak.
Location = Annotated[str, Field(max_length=512, pattern=r"^(https?|ftps?)://[^\s]+$")]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]


class FirmwareOut(BaseModel):
    id: int
    name: str
    size: int = Field(description="Bytes")
    sha256: str
    uploaded_at: datetime
    download_url: str = Field(description="What chargers are sent; needs no API key")

    @classmethod
    def of(cls, firmware: FirmwareFile, url: str) -> FirmwareOut:
        return cls(
            id=firmware.id,
            name=firmware.name,
            size=firmware.size,
            sha256=firmware.sha256,
            uploaded_at=firmware.uploaded_at,
            download_url=url,
        )


class UpdateRequest(Strict):
    """The firmware (`location`, a URL, or `firmware_id`, one uploaded to AmpNexus) and when
    the charger should fetch it."""

    location: Location | None = None
    firmware_id: Annotated[int, Field(ge=1)] | None = None
    retrieve_date: UtcDatetime | None = Field(None, description="Default: now")
    retries: Count | None = None
    retry_interval: Count | None = Field(None, description="Seconds between retries")

    def spec(self, now: datetime) -> UpdateSpec:
        return self._spec(now, None, None)

    def _spec(self, now: datetime, signing: Signing | None, install: datetime | None) -> UpdateSpec:
        return UpdateSpec(
            location=self.location,
            firmware_id=self.firmware_id,
            retrieve_at=self.retrieve_date or now,
            retries=self.retries,
            retry_interval_s=self.retry_interval,
            install_at=install,
            signing=signing,
        )


class SignedUpdateRequest(UpdateRequest):
    """SignedUpdateFirmware (security whitepaper): the firmware's signing certificate (PEM)
    and its signature (Base64), as your build pipeline made them."""

    signing_certificate: str = Field(max_length=5500)
    signature: str = Field(min_length=1, max_length=800)
    install_date: UtcDatetime | None = None

    def spec(self, now: datetime) -> UpdateSpec:
        signing = Signing(self.signing_certificate, self.signature)
        return self._spec(now, signing, self.install_date)


class RolloutRequest(UpdateRequest):
    """A rollout: the same update to every charger listed. With `signing_certificate` and
    `signature` (both or neither) it is a signed update."""

    charge_point_ids: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        min_length=1, max_length=1000
    )
    signing_certificate: str | None = Field(None, max_length=5500)
    signature: str | None = Field(None, min_length=1, max_length=800)
    install_date: UtcDatetime | None = None

    def spec(self, now: datetime) -> UpdateSpec:
        if self.signing_certificate is None and self.signature is None:
            return self._spec(now, None, self.install_date)
        if self.signing_certificate is None or self.signature is None:
            raise Invalid("give both signing_certificate and signature, or neither")
        signing = Signing(self.signing_certificate, self.signature)
        return self._spec(now, signing, self.install_date)


class UpdateOut(BaseModel):
    id: int = Field(description="Also the requestId of a signed update")
    charge_point_id: str
    state: Literal["pending", "downloading", "downloaded", "installing", "installed", "failed"]
    location: str
    signed: bool
    retrieve_date: datetime
    install_date: datetime | None
    retries: int | None
    retry_interval: int | None
    rollout_id: int | None
    firmware_id: int | None
    answer: str | None = Field(description="The charger's answer to the command")
    last_status: str | None = Field(description="The last status the charger reported")
    problem: str | None = Field(description="Why it failed, or why it waits")
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, update: FirmwareUpdate) -> UpdateOut:
        return cls(
            id=update.id,
            charge_point_id=update.charge_point_id,
            state=update.state.value,
            location=update.location,
            signed=update.signed,
            retrieve_date=update.retrieve_at,
            install_date=update.install_at,
            retries=update.retries,
            retry_interval=update.retry_interval_s,
            rollout_id=update.rollout_id,
            firmware_id=update.firmware_id,
            answer=update.answer,
            last_status=update.last_status,
            problem=update.problem,
            created_at=update.created_at,
            sent_at=update.sent_at,
            updated_at=update.updated_at,
        )


class FirmwareStateOut(BaseModel):
    status: str | None = Field(description="The last (Signed)FirmwareStatusNotification status")
    reported_at: datetime | None
    update: UpdateOut | None = Field(description="The charger's latest update")


class ReportOut(BaseModel):
    notification: str
    status: str
    received_at: datetime
    subject_id: int | None = Field(description="The update or request it was about")

    @classmethod
    def of(cls, report: TransferReport) -> ReportOut:
        return cls(
            notification=report.notification,
            status=report.status,
            received_at=report.received_at,
            subject_id=report.subject_id,
        )


class RolloutOut(BaseModel):
    id: int
    location: str
    signed: bool
    firmware_id: int | None
    created_at: datetime
    counts: dict[str, int] = Field(
        description="Chargers by state: pending, downloading, downloaded, installing, "
        "installed, failed"
    )
    chargers: list[UpdateOut]

    @classmethod
    def of(cls, rollout: Rollout) -> RolloutOut:
        return cls(
            id=rollout.id,
            location=rollout.location,
            signed=rollout.signed,
            firmware_id=rollout.firmware_id,
            created_at=rollout.created_at,
            counts=rollout.counts(),
            chargers=[UpdateOut.of(update) for update in rollout.updates],
        )


class UploadAsk(Strict):
    """Optional: the period wanted, and how often the charger retries its upload."""

    start_time: UtcDatetime | None = None
    stop_time: UtcDatetime | None = None
    retries: Count | None = None
    retry_interval: Count | None = None

    def options(self) -> UploadOptions:
        return UploadOptions(self.start_time, self.stop_time, self.retries, self.retry_interval)


class LogAsk(UploadAsk):
    log_type: Literal["DiagnosticsLog", "SecurityLog"]


class UploadOut(BaseModel):
    id: int = Field(description="Also the requestId of a GetLog")
    charge_point_id: str
    kind: Literal["diagnostics", "DiagnosticsLog", "SecurityLog"]
    answer: str | None = Field(description="The charger's answer to the command")
    file_name: str | None
    status: str | None = Field(description="The last status the charger reported")
    size: int | None = Field(description="Bytes received, once the file arrived")
    sha256: str | None
    created_at: datetime
    uploaded_at: datetime | None

    @classmethod
    def of(cls, request: UploadRequest) -> UploadOut:
        return cls(
            id=request.id,
            charge_point_id=request.charge_point_id,
            kind=request.kind.value,
            answer=request.answer,
            file_name=request.file_name,
            status=request.status,
            size=request.size,
            sha256=request.sha256,
            created_at=request.created_at,
            uploaded_at=request.uploaded_at,
        )
