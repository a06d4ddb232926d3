"""The OCPP 1.6 security extension's messages (Security Whitepaper edition 2): what a charger
sends (SecurityEventNotification, SignCertificate) and the SecurityCommands port
(services/security.py) spoken as OCPP 1.6J."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from ampnexus.domain.commands import Answer
from ampnexus.domain.errors import UnreadableAnswer
from ampnexus.domain.security import (
    CertificateHashData,
    CertificateSignedStatus,
    CertificateUse,
    DeleteCertificateStatus,
    ExtendedTrigger,
    ExtendedTriggerStatus,
    HashAlgorithm,
    InstallCertificateStatus,
    InstalledCertificatesStatus,
)
from ampnexus.ocpp.routing import Context
from ampnexus.ocpp.v16.commands import RawCall, read_status
from ampnexus.ocpp.v16.handlers import reported_instant, router
from ampnexus.services.security import InstalledCertificates

S = TypeVar("S", bound=StrEnum)


@router.on("SecurityEventNotification")
async def security_event_notification(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    await ctx.services.security.event_reported(
        ctx.charge_point_id,
        payload["type"],
        reported_instant(ctx, payload["timestamp"], "timestamp"),
        payload.get("techInfo"),
    )
    return {}


@router.on("SignCertificate")
async def sign_certificate(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    security = ctx.services.security
    signing_id = await security.signing_requested(ctx.charge_point_id, payload["csr"])
    if signing_id is None:
        return {"status": "Rejected"}
    # CertificateSigned goes once the charger has this answer (it cannot answer a CALL
    # while waiting for ours).
    ctx.after(lambda: security.sign_and_send(signing_id))
    return {"status": "Accepted"}


def hash_data_to_ocpp(which: CertificateHashData) -> dict[str, str]:
    return {
        "hashAlgorithm": which.algorithm.value,
        "issuerNameHash": which.issuer_name_hash,
        "issuerKeyHash": which.issuer_key_hash,
        "serialNumber": which.serial_number,
    }


def hash_data_from_ocpp(data: Mapping[str, Any]) -> CertificateHashData:
    return CertificateHashData(
        HashAlgorithm(data["hashAlgorithm"]),
        issuer_name_hash=data["issuerNameHash"],
        issuer_key_hash=data["issuerKeyHash"],
        serial_number=data["serialNumber"],
    )


class V16SecurityCommands:
    """SecurityCommands over OCPP 1.6J (answers arrive schema-valid from the gateway)."""

    def __init__(self, link: RawCall) -> None:
        self._link = link

    async def install_certificate(
        self, charge_point_id: str, use: CertificateUse, certificate: str
    ) -> Answer[InstallCertificateStatus]:
        payload = {"certificateType": use.value, "certificate": certificate}
        return await self._status(
            charge_point_id, "InstallCertificate", payload, InstallCertificateStatus
        )

    async def delete_certificate(
        self, charge_point_id: str, which: CertificateHashData
    ) -> Answer[DeleteCertificateStatus]:
        payload = {"certificateHashData": hash_data_to_ocpp(which)}
        return await self._status(
            charge_point_id, "DeleteCertificate", payload, DeleteCertificateStatus
        )

    async def installed_certificates(
        self, charge_point_id: str, use: CertificateUse
    ) -> InstalledCertificates:
        action = "GetInstalledCertificateIds"
        reply = await self._call(charge_point_id, action, {"certificateType": use.value})
        status = read_status(reply, InstalledCertificatesStatus, f"{charge_point_id} {action}")
        try:
            found = tuple(hash_data_from_ocpp(d) for d in reply.get("certificateHashData") or ())
        except (KeyError, ValueError) as error:
            raise UnreadableAnswer(
                "FormationViolation",
                str(error),
                f"{charge_point_id} {action}: unreadable certificateHashData ({error})",
            ) from None
        return InstalledCertificates(status is InstalledCertificatesStatus.ACCEPTED, found, reply)

    async def certificate_signed(
        self, charge_point_id: str, chain: str
    ) -> Answer[CertificateSignedStatus]:
        return await self._status(
            charge_point_id,
            "CertificateSigned",
            {"certificateChain": chain},
            CertificateSignedStatus,
        )

    async def extended_trigger(
        self, charge_point_id: str, message: ExtendedTrigger, connector_id: int | None
    ) -> Answer[ExtendedTriggerStatus]:
        payload: dict[str, Any] = {"requestedMessage": message.value}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return await self._status(
            charge_point_id, "ExtendedTriggerMessage", payload, ExtendedTriggerStatus
        )

    async def _call(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> Mapping[str, Any]:
        reply = await self._link.call(charge_point_id, action, payload)
        if not isinstance(reply, Mapping):
            raise UnreadableAnswer(
                "FormationViolation", "not an object", f"{charge_point_id} {action}: {reply!r}"
            )
        return reply

    async def _status(
        self, charge_point_id: str, action: str, payload: dict[str, Any], kind: type[S]
    ) -> Answer[S]:
        reply = await self._call(charge_point_id, action, payload)
        return Answer(read_status(reply, kind, f"{charge_point_id} {action}"), reply)
