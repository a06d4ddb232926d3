"""The security extension's certificate code and rules: CSRs read and judged, the managed CA
made once and reused, hash data as OCPP names certificates, profiles only raised."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ampnexus.charger_pki import ManagedCa, PemCertificates, read_signing_request
from ampnexus.domain.errors import Invalid
from ampnexus.domain.security import (
    is_critical,
    signing_problem,
    upgrade_problem,
)
from tests.support.pki import Authority
from tests.support.secure_charger import make_csr, root_hash_data


def _rsa_csr(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CP-1")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_a_csr_is_read_with_its_subject() -> None:
    _, pem = make_csr("CP-1", "CPO")
    request = read_signing_request(pem)
    assert (request.common_name, request.organization) == ("CP-1", "CPO")
    assert signing_problem(request, "CP-1", "CPO") is None
    assert "not the charger's id" in (signing_problem(request, "CP-2", "CPO") or "")
    assert "not the CPO" in (signing_problem(request, "CP-1", "Other") or "")
    assert signing_problem(request, "CP-1", None) is None  # no CPO name configured


def test_weak_keys_and_garbage_are_refused() -> None:
    with pytest.raises(Invalid, match="too weak"):
        read_signing_request(_rsa_csr(1024))
    assert read_signing_request(_rsa_csr(2048)).common_name == "CP-1"
    with pytest.raises(Invalid, match="not a PEM"):
        read_signing_request("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n")


def test_a_tampered_csr_is_refused() -> None:
    _, pem = make_csr("CP-1", "CPO")
    other_key, _ = make_csr("CP-1", "CPO")
    csr = x509.load_pem_x509_csr(pem.encode())
    # The same subject signed with another key: its signature no longer matches its key.
    forged = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(csr.subject)
        .sign(other_key, hashes.SHA256())
    )
    der = bytearray(forged.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # flip a bit of the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(Invalid, match="signature"):
        read_signing_request(tampered.decode())


def test_the_managed_ca_is_made_once_owner_only_and_signs_a_verifiable_chain(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "ca"
    first = ManagedCa(directory, "CPO")
    cert_path = first.ensure()
    assert (directory / "ca.key").stat().st_mode & 0o777 == 0o600
    made = cert_path.read_bytes()
    again = ManagedCa(directory, "CPO")  # a restart: the same CA, not a new one
    key, pem = make_csr("CP-1", "CPO")
    chain = again.sign(read_signing_request(pem))
    assert cert_path.read_bytes() == made
    leaf, root = x509.load_pem_x509_certificates(chain.encode())
    leaf.verify_directly_issued_by(root)
    assert root.public_bytes(serialization.Encoding.PEM) == made
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert leaf.subject.rfc4514_string() == "O=CPO,CN=CP-1"


def test_hash_data_matches_an_independent_computation(tmp_path: Path) -> None:
    pem = Authority(tmp_path, "root").cert.read_text()
    data = PemCertificates().hash_of(pem)
    expected = root_hash_data(pem)
    assert data.algorithm.value == expected["hashAlgorithm"]
    assert data.issuer_name_hash == expected["issuerNameHash"]
    assert data.issuer_key_hash == expected["issuerKeyHash"]
    assert data.serial_number == expected["serialNumber"]
    assert len(data.issuer_name_hash) == len(hashlib.sha256().hexdigest())
    with pytest.raises(Invalid):
        PemCertificates().hash_of("not a certificate")


def test_profiles_only_go_up_and_critical_events_are_the_whitepapers() -> None:
    assert upgrade_problem(1, 2) is None and upgrade_problem(2, 3) is None
    assert upgrade_problem(0, 3) is None
    for current, requested in ((2, 1), (2, 2), (3, 1)):
        assert "never lowered" in (upgrade_problem(current, requested) or "")
    assert "must be 1, 2 or 3" in (upgrade_problem(1, 4) or "")
    assert is_critical("TamperDetectionActivated") and is_critical("FirmwareUpdated")
    assert not is_critical("InvalidChargePointCertificate")
    assert not is_critical("FailedToAuthenticateAtCentralSystem")
