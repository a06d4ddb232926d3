"""Bodies of the OCPP security extension's routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ampnexus.api.models import INT32_MAX, CommandReply, Strict
from ampnexus.domain.commands import Answer, ConfigurationStatus
from ampnexus.domain.security import (
    CertificateHashData,
    ExtendedTrigger,
    HashAlgorithm,
    SecurityEvent,
    SigningRecord,
)
from ampnexus.services.security import Installed, InstalledCertificates, ProfileRaise

CertificateType = Literal["CentralSystemRootCertificate", "ManufacturerRootCertificate"]


class SecurityEventOut(BaseModel):
    id: int
    type: str
    critical: bool = Field(description="Critical in the OCPP 1.6 security whitepaper's list")
    timestamp: datetime = Field(description="When the charger says it happened")
    tech_info: str | None
    received_at: datetime

    @classmethod
    def of(cls, event: SecurityEvent) -> SecurityEventOut:
        assert event.id is not None
        return cls(
            id=event.id,
            type=event.type,
            critical=event.critical,
            timestamp=event.timestamp,
            tech_info=event.tech_info,
            received_at=event.received_at,
        )


class ProfileRaiseRequest(Strict):
    security_profile: int = Field(ge=0, le=3, description="Higher than the charger's profile")


class ProfileRaiseOut(BaseModel):
    security_profile: int = Field(description="The charger's profile now")
    raised: bool = Field(description="Whether the charger took the new profile")
    authorization_key: CommandReply | None = Field(
        description="The charger's answer to its new AuthorizationKey (profiles 1 and 2)"
    )
    profile_change: CommandReply | None = Field(
        description="The charger's answer to ChangeConfiguration SecurityProfile"
    )

    @classmethod
    def of(cls, result: ProfileRaise) -> ProfileRaiseOut:
        return cls(
            security_profile=result.security_profile,
            raised=result.raised,
            authorization_key=_reply(result.key_answer),
            profile_change=_reply(result.profile_answer),
        )


def _reply(answer: Answer[ConfigurationStatus] | None) -> CommandReply | None:
    return CommandReply.of(answer) if answer is not None else None


class HashDataOut(BaseModel):
    hash_algorithm: HashAlgorithm
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    @classmethod
    def of(cls, data: CertificateHashData) -> HashDataOut:
        return cls(
            hash_algorithm=data.algorithm,
            issuer_name_hash=data.issuer_name_hash,
            issuer_key_hash=data.issuer_key_hash,
            serial_number=data.serial_number,
        )


class InstallRequest(Strict):
    certificate_type: CertificateType
    certificate: str = Field(min_length=1, max_length=5500, description="PEM X.509 certificate")


class InstallReply(CommandReply):
    certificate_hash_data: HashDataOut = Field(
        description="How the charger names the certificate: give it to delete it later"
    )

    @classmethod
    def of_installed(cls, installed: Installed) -> InstallReply:
        payload = dict(installed.answer.as_sent)
        return cls(
            status=payload.get("status"),
            payload=payload,
            certificate_hash_data=HashDataOut.of(installed.hash_data),
        )


class InstalledReply(CommandReply):
    certificates: list[HashDataOut]

    @classmethod
    def of_installed(cls, installed: InstalledCertificates) -> InstalledReply:
        payload = dict(installed.as_sent)
        return cls(
            status=payload.get("status"),
            payload=payload,
            certificates=[HashDataOut.of(c) for c in installed.certificates],
        )


class ExtendedTriggerRequest(Strict):
    requested_message: ExtendedTrigger = Field(examples=["SignChargePointCertificate"])
    connector_id: int | None = Field(None, ge=0, le=INT32_MAX)


class SigningOut(BaseModel):
    id: int
    state: str = Field(description="rejected, queued (for an external CA), sent or failed")
    received_at: datetime
    csr: str
    problem: str | None
    certificate_chain: str | None
    charger_status: str | None = Field(description="The charger's CertificateSigned answer")
    answered_at: datetime | None

    @classmethod
    def of(cls, record: SigningRecord) -> SigningOut:
        return cls(
            id=record.id,
            state=record.state.value,
            received_at=record.received_at,
            csr=record.csr,
            problem=record.problem,
            certificate_chain=record.certificate_chain,
            charger_status=record.charger_status,
            answered_at=record.answered_at,
        )


class ChainRequest(Strict):
    certificate_chain: str = Field(
        min_length=1, max_length=10000, description="PEM chain, the charger's certificate first"
    )
