"""A test charger that also speaks the OCPP 1.6 security extension, as OCTT does: it makes a
real key pair and CSR (with `cryptography`) when asked for SignChargePointCertificate,
checks the chain it gets back, and keeps the root certificates it is told to install,
naming them by hash data computed here (independently of AmpNexus's own code)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from websockets.asyncio.client import connect

from tests.support.charger import TestCharger, basic_auth, now_iso


def make_csr(common_name: str, organization: str | None) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def root_hash_data(pem: str) -> dict[str, str]:
    """OCPP CertificateHashDataType of a self-signed root certificate, SHA256."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    key = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(certificate.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(key).hexdigest(),
        "serialNumber": format(certificate.serial_number, "x"),
    }


def _snake(data: dict[str, str]) -> dict[str, str]:
    return {
        "hash_algorithm": data["hashAlgorithm"],
        "issuer_name_hash": data["issuerNameHash"],
        "issuer_key_hash": data["issuerKeyHash"],
        "serial_number": data["serialNumber"],
    }


class SecureCharger(TestCharger):
    __test__ = False

    def __init__(self, charge_point_id: str, websocket: Any) -> None:
        super().__init__(charge_point_id, websocket)
        self.answers.update(
            {"ExtendedTriggerMessage": "Accepted", "InstallCertificate": "Accepted"}
        )
        self.cpo_name: str | None = "AmpNexus Test CPO"
        self.csr_common_name: str | None = None  # None: its own id
        self.reject_signed = False  # answer CertificateSigned Rejected whatever comes
        self.sign_answer: Any = None  # the CSMS's SignCertificate.conf
        self.pending_key: ec.EllipticCurvePrivateKey | None = None
        self.certificate: tuple[str, bytes] | None = None  # (chain PEM, key PEM) accepted
        self.installed: dict[str, list[str]] = {}

    @on("ExtendedTriggerMessage")
    async def on_extended_trigger(self, **payload: Any) -> Any:
        await self._record("ExtendedTriggerMessage", payload)
        return call_result.ExtendedTriggerMessage(status=self.answers["ExtendedTriggerMessage"])

    @after("ExtendedTriggerMessage")
    async def after_extended_trigger(self, **payload: Any) -> None:
        asked = payload["requested_message"] == "SignChargePointCertificate"
        if asked and self.answers["ExtendedTriggerMessage"] == "Accepted":
            await self.sign_certificate()

    async def sign_certificate(self) -> Any:
        """A new key pair and its CSR, sent as SignCertificate."""
        self.pending_key, csr = make_csr(self.csr_common_name or self.id, self.cpo_name)
        self.sign_answer = await self.call(call.SignCertificate(csr=csr))
        return self.sign_answer

    @on("CertificateSigned")
    async def on_certificate_signed(self, **payload: Any) -> Any:
        await self._record("CertificateSigned", payload)
        valid = self._valid_chain(payload["certificate_chain"])
        if valid and not self.reject_signed:
            assert self.pending_key is not None
            key = self.pending_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            self.certificate = (payload["certificate_chain"], key)
            return call_result.CertificateSigned(status="Accepted")
        return call_result.CertificateSigned(status="Rejected")

    def _valid_chain(self, chain: str) -> bool:
        """Its own key, signed by the next certificate of the chain (whitepaper A02.FR.06)."""
        certificates = x509.load_pem_x509_certificates(chain.encode())
        if self.pending_key is None or len(certificates) < 2:
            return False
        leaf, issuer = certificates[0], certificates[1]
        mine = self.pending_key.public_key().public_numbers()
        if leaf.public_key().public_numbers() != mine:  # type: ignore[union-attr]
            return False
        try:
            leaf.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    @on("InstallCertificate")
    async def on_install_certificate(self, **payload: Any) -> Any:
        await self._record("InstallCertificate", payload)
        status = self.answers["InstallCertificate"]
        if status == "Accepted":
            self.installed.setdefault(payload["certificate_type"], []).append(
                payload["certificate"]
            )
        return call_result.InstallCertificate(status=status)

    @on("GetInstalledCertificateIds")
    async def on_get_installed(self, **payload: Any) -> Any:
        await self._record("GetInstalledCertificateIds", payload)
        held = self.installed.get(payload["certificate_type"], [])
        if not held:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted",
            certificate_hash_data=[_snake(root_hash_data(pem)) for pem in held],
        )

    @on("DeleteCertificate")
    async def on_delete_certificate(self, **payload: Any) -> Any:
        await self._record("DeleteCertificate", payload)
        wanted = payload["certificate_hash_data"]
        for held in self.installed.values():
            for pem in held:
                if _snake(root_hash_data(pem)) == wanted:
                    held.remove(pem)
                    return call_result.DeleteCertificate(status="Accepted")
        return call_result.DeleteCertificate(status="NotFound")

    async def security_event(self, event_type: str, tech_info: str | None = None) -> Any:
        return await self.call(
            call.SecurityEventNotification(
                type=event_type, timestamp=now_iso(), tech_info=tech_info
            )
        )

    def client_context(self, ca_file: Path) -> ssl.SSLContext:
        """TLS with the certificate the CSMS signed for it, trusting `ca_file` for the server."""
        assert self.certificate is not None
        chain, key = self.certificate
        context = ssl.create_default_context(cafile=ca_file)
        with tempfile.TemporaryDirectory() as directory:
            cert_path, key_path = Path(directory) / "cp.crt", Path(directory) / "cp.key"
            cert_path.write_text(chain)
            key_path.write_bytes(key)
            context.load_cert_chain(cert_path, key_path)
        return context


@contextlib.asynccontextmanager
async def secure_charger(
    ocpp_url: str,
    charge_point_id: str,
    password: str | None = None,
    ssl: ssl.SSLContext | None = None,
) -> AsyncIterator[SecureCharger]:
    """Like tests.support.charger.charger, with the security extension."""
    headers = basic_auth(charge_point_id, password) if password else None
    async with connect(
        f"{ocpp_url}/{charge_point_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=ssl,
    ) as websocket:
        cp = SecureCharger(charge_point_id, websocket)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
