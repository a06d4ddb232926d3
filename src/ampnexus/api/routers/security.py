"""The OCPP 1.6 security extension of a charge point: its security events, certificates,
security profile and AuthorizationKey."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ampnexus.api.deps import PagingDep, ServicesDep
from ampnexus.api.models import CommandReply, Page, page_of
from ampnexus.api.routers.charge_points import COMMAND_ERRORS, ChargePointId
from ampnexus.api.security_models import (
    CertificateType,
    ChainRequest,
    ExtendedTriggerRequest,
    InstalledReply,
    InstallReply,
    InstallRequest,
    ProfileRaiseOut,
    ProfileRaiseRequest,
    SecurityEventOut,
    SigningOut,
)
from ampnexus.domain.security import CertificateHashData, CertificateUse, HashAlgorithm

ERRORS: dict[int | str, dict[str, Any]] = {
    code: dict(about) for code, about in COMMAND_ERRORS.items()
}
router = APIRouter(prefix="/charge-points", tags=["charge point security"])
Hex = Annotated[str, Query(min_length=1, max_length=128, pattern="^[0-9A-Fa-f]+$")]


@router.get("/{charge_point_id}/security-events", response_model=Page[SecurityEventOut])
async def security_events(
    charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
) -> Page[SecurityEventOut]:
    """The SecurityEventNotifications the charger sent, newest first. Critical ones also
    raised a `security_event` alert."""
    page = await services.security.events(charge_point_id, paging.limit, paging.offset)
    return page_of(page, paging, SecurityEventOut.of)


@router.post("/{charge_point_id}/security-profile", responses=ERRORS)
async def raise_security_profile(
    charge_point_id: ChargePointId, body: ProfileRaiseRequest, services: ServicesDep
) -> ProfileRaiseOut:
    """Raise the charger's security profile (never lower: 422). For profiles 1 and 2 the
    charger first gets a new, generated AuthorizationKey (ChangeConfiguration), then
    ChangeConfiguration SecurityProfile; once it accepts, it reconnects with the new profile
    and key, and the old key no longer admits it."""
    return ProfileRaiseOut.of(
        await services.security.raise_profile(charge_point_id, body.security_profile)
    )


@router.post("/{charge_point_id}/authorization-key", responses=ERRORS)
async def rotate_authorization_key(
    charge_point_id: ChargePointId, services: ServicesDep
) -> CommandReply:
    """Give the charger a new, generated AuthorizationKey (profiles 1 and 2). Once it
    accepts, only the new key admits it; the key itself is never shown."""
    return CommandReply.of(await services.security.rotate_key(charge_point_id))


@router.post("/{charge_point_id}/certificates", responses=ERRORS)
async def install_certificate(
    charge_point_id: ChargePointId, body: InstallRequest, services: ServicesDep
) -> InstallReply:
    """InstallCertificate: a root certificate for the charger's Central System or
    manufacturer trust store."""
    installed = await services.security.install(
        charge_point_id, CertificateUse(body.certificate_type), body.certificate
    )
    return InstallReply.of_installed(installed)


@router.get("/{charge_point_id}/certificates", responses=ERRORS)
async def installed_certificates(
    charge_point_id: ChargePointId,
    services: ServicesDep,
    certificate_type: Annotated[CertificateType, Query()],
) -> InstalledReply:
    """GetInstalledCertificateIds: the certificates of that type the charger holds."""
    found = await services.security.installed(charge_point_id, CertificateUse(certificate_type))
    return InstalledReply.of_installed(found)


@router.delete("/{charge_point_id}/certificates", responses=ERRORS)
async def delete_certificate(
    charge_point_id: ChargePointId,
    services: ServicesDep,
    hash_algorithm: Annotated[HashAlgorithm, Query()],
    issuer_name_hash: Hex,
    issuer_key_hash: Hex,
    serial_number: Annotated[str, Query(min_length=1, max_length=40, pattern="^[0-9A-Fa-f]+$")],
) -> CommandReply:
    """DeleteCertificate, named by its hash data (as GetInstalledCertificateIds lists it)."""
    which = CertificateHashData(hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number)
    return CommandReply.of(await services.security.delete(charge_point_id, which))


@router.post("/{charge_point_id}/extended-trigger-message", responses=ERRORS)
async def extended_trigger_message(
    charge_point_id: ChargePointId, body: ExtendedTriggerRequest, services: ServicesDep
) -> CommandReply:
    """ExtendedTriggerMessage; SignChargePointCertificate asks the charger for a new key
    pair and its CSR (SignCertificate), signed by the CA AmpNexus manages if configured."""
    return CommandReply.of(
        await services.security.trigger(charge_point_id, body.requested_message, body.connector_id)
    )


@router.get("/{charge_point_id}/certificate-signings", response_model=Page[SigningOut])
async def certificate_signings(
    charge_point_id: ChargePointId, services: ServicesDep, paging: PagingDep
) -> Page[SigningOut]:
    """The charger's CSRs (SignCertificate), newest first: rejected and why, queued for an
    external CA, or signed and sent, with the charger's answer."""
    page = await services.security.signings(charge_point_id, paging.limit, paging.offset)
    return page_of(page, paging, SigningOut.of)


@router.post("/{charge_point_id}/certificate-signings/{signing_id}/certificate", responses=ERRORS)
async def send_signed_certificate(
    charge_point_id: ChargePointId,
    signing_id: Annotated[int, Path(ge=1)],
    body: ChainRequest,
    services: ServicesDep,
) -> SigningOut:
    """CertificateSigned with the chain an external CA signed for a queued CSR."""
    record = await services.security.send_chain(charge_point_id, signing_id, body.certificate_chain)
    return SigningOut.of(record)
