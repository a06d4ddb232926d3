"""TLS for both servers: the certificate, key and client CA named in the settings, loaded and
checked once at start-up, and what a charger's verified client certificate says.

Every mistake in the files (missing, unreadable, not PEM, encrypted, a key that belongs to
another certificate) is a TlsUnavailable naming the file and the flag, never a traceback.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ampnexus.config import Settings
from ampnexus.errors import TlsUnavailable


@dataclass(frozen=True, slots=True)
class TlsContexts:
    ocpp: ssl.SSLContext  # asks chargers for a client certificate when a CA is configured
    http: ssl.SSLContext  # never asks: a browser would prompt its user for a certificate


def load_tls(settings: Settings) -> TlsContexts | None:
    """The servers' TLS contexts, or None when no certificate is configured."""
    cert, key, ca = settings.tls_cert, settings.tls_key, settings.tls_ca
    if cert is None and key is None:
        if ca is not None:
            raise TlsUnavailable("--tls-ca needs TLS: give --tls-cert and --tls-key too")
        if settings.ocpp_plain_port is not None:
            raise TlsUnavailable(
                "--ocpp-plain-port keeps plain ws:// open next to TLS, but TLS is off "
                "(no --tls-cert and --tls-key): the OCPP port is plain already"
            )
        return None
    if cert is None or key is None:
        raise TlsUnavailable("TLS needs both --tls-cert FILE and --tls-key FILE")
    _expect_pem(cert, "CERTIFICATE", "the TLS certificate", "--tls-cert")
    _expect_pem(key, "PRIVATE KEY", "the TLS private key", "--tls-key")
    ocpp = _server_context(cert, key)
    if ca is not None:
        _expect_pem(ca, "CERTIFICATE", "the client CA certificate", "--tls-ca")
        try:
            ocpp.load_verify_locations(cafile=ca)
        except ssl.SSLError as error:
            raise TlsUnavailable(f"--tls-ca {ca}: not a usable CA certificate ({error})") from None
        # Optional, not required: profile 2 chargers have no certificate. Admission refuses
        # a profile 3 charger without one; a certificate that does not chain to the CA
        # fails the handshake itself.
        ocpp.verify_mode = ssl.CERT_OPTIONAL
    if settings.charger_ca_dir is not None:
        _trust_managed_ca(ocpp, settings.charger_ca_dir)
    return TlsContexts(ocpp=ocpp, http=_server_context(cert, key))


def _trust_managed_ca(context: ssl.SSLContext, directory: Path) -> None:
    """The CA AmpNexus signs chargers' CSRs with vouches for their client certificates too
    (made here if this is its first use)."""
    from ampnexus.charger_pki import ManagedCa

    try:
        cert = ManagedCa(directory).ensure()
        context.load_verify_locations(cafile=cert)
    except (OSError, ValueError, ssl.SSLError) as error:
        raise TlsUnavailable(f"--charger-ca-dir {directory}: cannot use its CA ({error})") from None
    context.verify_mode = ssl.CERT_OPTIONAL


def client_common_name(ssl_object: Any) -> str | None:
    """The subject CN of the client certificate the handshake verified against the CA, or
    None: no TLS, no certificate, no CA to verify it with, or not exactly one CN."""
    return _client_subject(ssl_object, "commonName")


def client_organization(ssl_object: Any) -> str | None:
    """The subject O of that verified client certificate (the CPO, whitepaper A00.FR.404)."""
    return _client_subject(ssl_object, "organizationName")


def _client_subject(ssl_object: Any, attribute: str) -> str | None:
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()  # {} unless the certificate was verified
    if not certificate:
        return None
    names = [
        value
        for relative_name in certificate.get("subject", ())
        for name, value in relative_name
        if name == attribute
    ]
    return names[0] if len(names) == 1 else None


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    # Not create_default_context: no system CA may ever vouch for a charger's certificate.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # OCPP's security whitepaper: 1.2 or newer
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase(key))
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error):
            raise TlsUnavailable(
                f"--tls-key {key} is not the private key of --tls-cert {cert}"
            ) from None
        raise TlsUnavailable(
            f"cannot load --tls-cert {cert} with --tls-key {key}: {error}"
        ) from None
    return context


def _no_passphrase(key: Path) -> Any:
    """An encrypted key would make OpenSSL prompt on the terminal: refuse it instead."""

    def refuse() -> NoReturn:
        raise TlsUnavailable(
            f"--tls-key {key} is encrypted; give an unencrypted key "
            "(openssl pkey -in ENCRYPTED.key -out server.key) and protect it with file permissions"
        )

    return refuse


def _expect_pem(path: Path, kind: str, what: str, flag: str) -> None:
    try:
        text = path.read_bytes()
    except OSError as error:
        raise TlsUnavailable(f"cannot read {what} {flag} {path}: {error.strerror}") from None
    if f"{kind}-----".encode() not in text:
        raise TlsUnavailable(f"{flag} {path} holds no PEM {kind.lower()} ({what} was expected)")
