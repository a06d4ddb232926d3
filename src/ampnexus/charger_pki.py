"""Certificates for the OCPP 1.6 security extension, with `cryptography`: reading what
operators and chargers send (a certificate to install, a charger's CSR), the hash data
OCPP names certificates by, and the CA AmpNexus manages to sign chargers' certificates.

The managed CA lives in a directory of its own: `ca.key` (PKCS#8, readable by the owner
only) and `ca.crt`, made the first time they are needed and reused from then on.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ampnexus.domain.errors import Invalid
from ampnexus.domain.security import CertificateHashData, HashAlgorithm, SigningRequest

# Whitepaper A00.FR.5xx: RSA/DSA keys of at least 2048 bits, elliptic curves of 224 or more.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
CA_DAYS = 3650
CHARGER_CERT_DAYS = 365
_HASHES = {
    HashAlgorithm.SHA256: hashes.SHA256,
    HashAlgorithm.SHA384: hashes.SHA384,
    HashAlgorithm.SHA512: hashes.SHA512,
}


def read_certificate(pem: str) -> x509.Certificate:
    """One PEM X.509 certificate, or Invalid saying what is wrong with it."""
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as error:
        raise Invalid(f"not a PEM X.509 certificate: {error}") from None


def hash_data(
    certificate: x509.Certificate,
    issuer_key: object | None = None,
    algorithm: HashAlgorithm = HashAlgorithm.SHA256,
) -> CertificateHashData:
    """OCPP's CertificateHashDataType: hashes of the issuer's DER name and public key, and the
    serial number in hex. A root certificate is its own issuer (`issuer_key` None)."""
    key = issuer_key if issuer_key is not None else certificate.public_key()
    key_bytes = key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    name = hashlib.new(algorithm.value.lower(), certificate.issuer.public_bytes()).hexdigest()
    return CertificateHashData(
        algorithm,
        issuer_name_hash=name,
        issuer_key_hash=hashlib.new(algorithm.value.lower(), key_bytes).hexdigest(),
        serial_number=format(certificate.serial_number, "x"),
    )


def read_signing_request(pem: str) -> SigningRequest:
    """A charger's CSR: PEM, self-signed correctly, with a strong enough key. Its subject's
    CN and O are returned for the caller's rules (whitepaper A02.FR.13, A00.FR.404/405)."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as error:
        raise Invalid(f"not a PEM certificate signing request: {error}") from None
    try:
        if not csr.is_signature_valid:
            raise Invalid("the CSR's signature does not match its key")
    except (InvalidSignature, ValueError, TypeError):
        raise Invalid("the CSR's signature cannot be checked") from None
    _check_key_strength(csr.public_key())
    return SigningRequest(
        pem=pem,
        common_name=_attribute(csr.subject, NameOID.COMMON_NAME),
        organization=_attribute(csr.subject, NameOID.ORGANIZATION_NAME),
    )


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if len(values) == 1 else None


def _check_key_strength(key: object) -> None:
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise Invalid(f"a {key.key_size}-bit key is too weak: {MIN_RSA_BITS} bits or more")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < MIN_EC_BITS:
            raise Invalid(f"a {key.curve.key_size}-bit curve is too weak: {MIN_EC_BITS} or more")
    else:
        raise Invalid("the CSR's key must be RSA, DSA or elliptic curve")


@dataclass(frozen=True, slots=True)
class _Loaded:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


class ManagedCa:
    """The CA AmpNexus keeps in `directory` (the CertificateAuthority port)."""

    def __init__(self, directory: Path, organization: str | None = None) -> None:
        self.directory = directory
        self.cert_path = directory / "ca.crt"
        self.key_path = directory / "ca.key"
        self._organization = organization or "AmpNexus"
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def ensure(self) -> Path:
        """Make the CA if it does not exist yet; the path of its certificate."""
        self._load()
        return self.cert_path

    def sign(self, request: SigningRequest, now: datetime | None = None) -> str:
        """A client certificate for the CSR's key and subject, with the CA's certificate
        after it: the PEM chain CertificateSigned carries."""
        ca = self._load()
        csr = x509.load_pem_x509_csr(request.pem.encode())
        start = (now or datetime.now(UTC)) - timedelta(minutes=5)  # chargers' clocks drift
        certificate = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=CHARGER_CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
            )
            .sign(ca.key, hashes.SHA256())
        )
        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode()
            for c in (certificate, ca.certificate)
        )

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._read() if self.key_path.exists() else self._create()
            return self._loaded

    def _read(self) -> _Loaded:
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise Invalid(f"{self.key_path} is not the elliptic-curve key AmpNexus made")
        return _Loaded(key, x509.load_pem_x509_certificate(self.cert_path.read_bytes()))

    def _create(self) -> _Loaded:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "AmpNexus charger CA"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self._organization),
            ]
        )
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # The key is written owner-only from its first byte, never readable by others.
        descriptor = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(key_pem)
        self.cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return _Loaded(key, certificate)


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


class PemCertificates:
    """The services' Certificates port: what they need to read of PEM texts."""

    def read_signing_request(self, pem: str) -> SigningRequest:
        return read_signing_request(pem)

    def hash_of(self, pem: str) -> CertificateHashData:
        """The hash data of the first certificate of `pem`, taken as a root (self-issued)
        certificate, or one whose issuer's key is unknown here: hashed with its own key."""
        return hash_data(read_certificate(pem))
