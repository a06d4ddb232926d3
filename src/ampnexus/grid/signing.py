"""The files a demand-response program signs its OpenADR messages with, checked when the
program is configured: openleadr reads them only when its VEN starts, and a mistake found
there would show as a VEN that never registers rather than as an answer to the operator.

Each mistake (missing, unreadable, not PEM, an encrypted key, a key of another certificate)
is a ValueError naming the field and the file; the key's contents are never in it."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ampnexus.domain.demand_response import Program


def check_signing_files(program: Program) -> None:
    """ValueError unless the program's certificate, key and CA files are usable."""
    if program.cert_file is None or program.key_file is None:
        return
    cert = _certificates(program.cert_file, "cert_file")[0]
    key = _private_key(program.key_file)
    if cert.public_key().public_bytes(*_SPKI) != key.public_key().public_bytes(*_SPKI):
        raise ValueError(
            f"key_file {program.key_file}: not the private key of cert_file {program.cert_file}"
        )
    if program.ca_file is not None:
        _certificates(program.ca_file, "ca_file")


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _read(path: str, field: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{field} {path}: cannot be read ({error.strerror})") from None


def _certificates(path: str, field: str) -> list[x509.Certificate]:
    data = _read(path, field)
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        found = []
    if not found:
        raise ValueError(f"{field} {path}: holds no PEM certificate")
    return found


def _private_key(path: str) -> PrivateKeyTypes:
    data = _read(path, "key_file")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(
            f"key_file {path}: is encrypted; give an unencrypted key (openssl pkey -in "
            "ENCRYPTED.key -out ven.key) and protect it with file permissions"
        ) from None
    except Exception:  # ValueError, UnsupportedAlgorithm: not a key we can sign with
        raise ValueError(f"key_file {path}: holds no PEM private key") from None
