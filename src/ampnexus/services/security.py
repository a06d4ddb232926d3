"""The OCPP 1.6 security extension, Central System side (Security Whitepaper edition 2):
chargers' security events, their certificates (signing their CSRs, installing and deleting
root certificates) and raising a charger's security profile with a new AuthorizationKey.
Firmware signing and security logs are elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ampnexus.domain.alert import AlertKey, AlertKind, Severity
from ampnexus.domain.commands import Answer, ConfigurationStatus
from ampnexus.domain.errors import DomainError, Invalid, NotFound
from ampnexus.domain.security import (
    CertificateHashData,
    CertificateSignedStatus,
    CertificateUse,
    DeleteCertificateStatus,
    ExtendedTrigger,
    ExtendedTriggerStatus,
    InstallCertificateStatus,
    SecurityEvent,
    SigningRecord,
    SigningRequest,
    SigningState,
    signing_problem,
    upgrade_problem,
)
from ampnexus.domain.time import Clock
from ampnexus.services.alerts import AlertService
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.ports import ChargerCommands, Page

log = logging.getLogger(__name__)

# A generated AuthorizationKey: 40 characters (the most OCPP allows) of letters and digits,
# about 238 bits.
KEY_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 40


class SecurityStore(Protocol):
    async def add_event(self, event: SecurityEvent) -> int: ...
    async def events(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[SecurityEvent]: ...
    async def add_signing(
        self,
        charge_point_id: str,
        csr: str,
        state: SigningState,
        problem: str | None,
        at: datetime,
    ) -> int: ...
    async def update_signing(self, signing_id: int, changes: dict[str, Any]) -> None: ...
    async def signing(self, signing_id: int) -> SigningRecord | None: ...
    async def signings(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[SigningRecord]: ...


class SecurityCommands(Protocol):
    """The security extension's commands, in the charger's protocol."""

    async def install_certificate(
        self, charge_point_id: str, use: CertificateUse, certificate: str
    ) -> Answer[InstallCertificateStatus]: ...
    async def delete_certificate(
        self, charge_point_id: str, which: CertificateHashData
    ) -> Answer[DeleteCertificateStatus]: ...
    async def installed_certificates(
        self, charge_point_id: str, use: CertificateUse
    ) -> InstalledCertificates: ...
    async def certificate_signed(
        self, charge_point_id: str, chain: str
    ) -> Answer[CertificateSignedStatus]: ...
    async def extended_trigger(
        self, charge_point_id: str, message: ExtendedTrigger, connector_id: int | None
    ) -> Answer[ExtendedTriggerStatus]: ...


class Certificates(Protocol):
    """Reading certificates and CSRs (charger_pki)."""

    def read_signing_request(self, pem: str) -> SigningRequest: ...
    def hash_of(self, pem: str) -> CertificateHashData: ...


class CertificateAuthority(Protocol):
    """Signs a charger's CSR: the PEM chain, its certificate first. Blocking (crypto)."""

    def sign(self, request: SigningRequest) -> str: ...


@dataclass(frozen=True, slots=True)
class InstalledCertificates:
    found: bool
    certificates: tuple[CertificateHashData, ...] = ()
    as_sent: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Installed:
    """An InstallCertificate answer, and the hash data that names the certificate (for a
    later DeleteCertificate)."""

    answer: Answer[InstallCertificateStatus]
    hash_data: CertificateHashData


@dataclass(frozen=True, slots=True)
class ProfileRaise:
    """What the charger answered at each step; `raised` when the profile is now stored."""

    key_answer: Answer[ConfigurationStatus] | None
    profile_answer: Answer[ConfigurationStatus] | None
    security_profile: int
    raised: bool


class SecurityService:
    def __init__(
        self,
        store: SecurityStore,
        commands: SecurityCommands,
        configuration: ChargerCommands,
        charge_points: ChargePointService,
        alerts: AlertService,
        certificates: Certificates,
        clock: Clock,
        authority: CertificateAuthority | None = None,
        organization: str | None = None,
    ) -> None:
        """`authority`: the CA that signs chargers' CSRs (None: an external CA; CSRs are
        queued for the operator). `organization`: the CPO name a CSR's O must hold."""
        self._store = store
        self._commands = commands
        self._configuration = configuration
        self._charge_points = charge_points
        self._alerts = alerts
        self._certificates = certificates
        self._clock = clock
        self._authority = authority
        self._organization = organization

    # --- security events --------------------------------------------------------------------
    async def event_reported(
        self, charge_point_id: str, event_type: str, timestamp: datetime, tech_info: str | None
    ) -> None:
        event = SecurityEvent(charge_point_id, event_type, timestamp, tech_info, self._clock.now())
        await self._store.add_event(event)
        if event.critical:
            await self._alerts.raise_alert(
                AlertKey(AlertKind.SECURITY_EVENT, charge_point_id),
                f"{charge_point_id} reported the critical security event {event_type}"
                + (f": {tech_info}" if tech_info else ""),
                severity=Severity.CRITICAL,
                details={"type": event_type, "timestamp": timestamp.isoformat()},
            )

    async def events(self, charge_point_id: str, limit: int, offset: int) -> Page[SecurityEvent]:
        await self._charge_points.get(charge_point_id)
        return await self._store.events(charge_point_id, limit, offset)

    # --- a charger's certificate --------------------------------------------------------------
    async def signing_requested(self, charge_point_id: str, csr: str) -> int | None:
        """A SignCertificate: the record's id if accepted (sign it with `sign_and_send` once
        the charger has its answer), None if rejected. Every CSR is recorded."""
        now = self._clock.now()
        try:
            request = self._certificates.read_signing_request(csr)
            problem = signing_problem(request, charge_point_id, self._organization)
        except Invalid as error:
            problem = str(error)
        if problem is not None:
            log.warning("%s SignCertificate rejected: %s", charge_point_id, problem)
            await self._store.add_signing(charge_point_id, csr, SigningState.REJECTED, problem, now)
            return None
        return await self._store.add_signing(charge_point_id, csr, SigningState.QUEUED, None, now)

    async def sign_and_send(self, signing_id: int) -> None:
        """Sign with the managed CA and send CertificateSigned; with an external CA the
        request stays queued for the operator."""
        if self._authority is None:
            return
        record = await self._signing(signing_id)
        try:
            request = self._certificates.read_signing_request(record.csr)
            chain = await asyncio.to_thread(self._authority.sign, request)
        except Exception as error:  # a broken CA directory: the record says so, not "queued"
            log.exception("%s: could not sign its CSR", record.charge_point_id)
            problem = f"the CA could not sign it: {error}"
            await self._store.update_signing(
                record.id, {"state": SigningState.FAILED, "problem": problem}
            )
            return
        await self._send_chain(record, chain)

    async def send_chain(self, charge_point_id: str, signing_id: int, chain: str) -> SigningRecord:
        """The operator's external CA signed a queued CSR: send its chain to the charger."""
        record = await self._signing(signing_id)
        if record.charge_point_id != charge_point_id:
            raise NotFound(f"{charge_point_id} has no signing request {signing_id}")
        if record.state is not SigningState.QUEUED:
            raise Invalid(f"signing request {signing_id} is {record.state}, not queued")
        self._certificates.hash_of(chain)  # Invalid unless it starts with a certificate
        return await self._send_chain(record, chain)

    async def _send_chain(self, record: SigningRecord, chain: str) -> SigningRecord:
        try:
            answer = await self._commands.certificate_signed(record.charge_point_id, chain)
        except DomainError as error:
            await self._store.update_signing(
                record.id,
                {"state": SigningState.FAILED, "certificate_chain": chain, "problem": str(error)},
            )
            raise
        await self._store.update_signing(
            record.id,
            {
                "state": SigningState.SENT,
                "certificate_chain": chain,
                "charger_status": answer.status.value,
                "answered_at": self._clock.now(),
            },
        )
        return await self._signing(record.id)

    async def _signing(self, signing_id: int) -> SigningRecord:
        record = await self._store.signing(signing_id)
        if record is None:
            raise NotFound(f"signing request {signing_id} does not exist")
        return record

    async def signings(self, charge_point_id: str, limit: int, offset: int) -> Page[SigningRecord]:
        await self._charge_points.get(charge_point_id)
        return await self._store.signings(charge_point_id, limit, offset)

    # --- root certificates on the charger -----------------------------------------------------
    async def install(self, charge_point_id: str, use: CertificateUse, pem: str) -> Installed:
        hash_data = self._certificates.hash_of(pem)  # Invalid before anything is sent
        await self._charge_points.get(charge_point_id)
        answer = await self._commands.install_certificate(charge_point_id, use, pem)
        return Installed(answer, hash_data)

    async def delete(
        self, charge_point_id: str, which: CertificateHashData
    ) -> Answer[DeleteCertificateStatus]:
        await self._charge_points.get(charge_point_id)
        return await self._commands.delete_certificate(charge_point_id, which)

    async def installed(self, charge_point_id: str, use: CertificateUse) -> InstalledCertificates:
        await self._charge_points.get(charge_point_id)
        return await self._commands.installed_certificates(charge_point_id, use)

    async def trigger(
        self, charge_point_id: str, message: ExtendedTrigger, connector_id: int | None
    ) -> Answer[ExtendedTriggerStatus]:
        if connector_id is not None and connector_id < 0:
            raise Invalid("connector id must not be negative")
        await self._charge_points.get(charge_point_id)
        return await self._commands.extended_trigger(charge_point_id, message, connector_id)

    # --- security profile and AuthorizationKey ------------------------------------------------
    async def rotate_key(self, charge_point_id: str) -> Answer[ConfigurationStatus]:
        """A new, generated AuthorizationKey. Once the charger accepts it, only it admits
        the charger (the charger reconnects with it)."""
        current = (await self._charge_points.get(charge_point_id)).charge_point
        if current.security_profile not in (1, 2):
            raise Invalid(
                f"security profile {current.security_profile} uses no AuthorizationKey: "
                "only profiles 1 and 2 authenticate with one"
            )
        return await self._send_key(charge_point_id)

    async def raise_profile(self, charge_point_id: str, profile: int) -> ProfileRaise:
        """Profile 1 or 2: a new AuthorizationKey first, then the profile. Profile 3: the
        profile (the charger needs its certificate, see SignCertificate). Never lower."""
        current = (await self._charge_points.get(charge_point_id)).charge_point
        problem = upgrade_problem(current.security_profile, profile)
        if problem is not None:
            raise Invalid(problem)
        self._charge_points.check_served(profile)
        key_answer = None
        if profile in (1, 2):
            key_answer = await self._send_key(charge_point_id)
            if key_answer.status is not ConfigurationStatus.ACCEPTED:
                return ProfileRaise(key_answer, None, current.security_profile, False)
        answer = await self._configuration.change_configuration(
            charge_point_id, "SecurityProfile", str(profile)
        )
        raised = answer.status is ConfigurationStatus.ACCEPTED
        if raised:
            await self._charge_points.raise_profile(charge_point_id, profile)
        shown = profile if raised else current.security_profile
        return ProfileRaise(key_answer, answer, shown, raised)

    async def _send_key(self, charge_point_id: str) -> Answer[ConfigurationStatus]:
        key = "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))
        await self._charge_points.offer_password(charge_point_id, key)
        accepted = False
        try:
            answer = await self._configuration.change_configuration(
                charge_point_id, "AuthorizationKey", key
            )
            accepted = answer.status is ConfigurationStatus.ACCEPTED
            if accepted:
                await self._charge_points.confirm_password(charge_point_id)
        finally:
            if not accepted:
                self._charge_points.withdraw_password(charge_point_id)
        return answer
