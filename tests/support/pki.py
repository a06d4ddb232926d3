"""A certificate authority of the tests' own, made with `cryptography`: the server's certificate
for 127.0.0.1 and localhost, and client certificates for chargers (CN = charge point id)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


class Authority:
    """A CA that writes what it issues as PEM files into `directory`."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        builder = _builder(subject, subject, self._key, self._key)
        self._cert = (
            builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert = self._write(f"{name}.crt", self._cert.public_bytes(serialization.Encoding.PEM))

    def server(self, name: str = "server") -> Issued:
        alt_names = [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
        return self._issue(
            name,
            ExtendedKeyUsageOID.SERVER_AUTH,
            x509.SubjectAlternativeName(alt_names),
        )

    def client(self, charge_point_id: str) -> Issued:
        return self._issue(charge_point_id, ExtendedKeyUsageOID.CLIENT_AUTH)

    def _issue(
        self, common_name: str, usage: x509.ObjectIdentifier, *extra: x509.ExtensionType
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(_name(common_name), self._cert.subject, key, self._key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        for extension in extra:
            builder = builder.add_extension(extension, critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        stem = f"{self.name}-{common_name}"
        return Issued(
            cert=self._write(f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
            key=self._write(f"{stem}.key", _pem(key)),
        )

    def _write(self, file_name: str, data: bytes) -> Path:
        path = self.directory / file_name
        path.write_bytes(data)
        return path


def client_context(authority: Authority, certificate: Issued | None = None) -> ssl.SSLContext:
    """A charger's TLS: trusts `authority` for the server, presents `certificate` if given."""
    context = ssl.create_default_context(cafile=authority.cert)
    if certificate is not None:
        context.load_cert_chain(certificate.cert, certificate.key)
    return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, issuer_key: PrivateKey
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
