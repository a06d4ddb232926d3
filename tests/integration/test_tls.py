"""TLS and OCPP security profiles 2 and 3, over real sockets with a CA of the tests' own:
wss:// and https://, a plain ws:// port for a migrating site, admission by password over TLS
and by client certificate, and no password or API key in any log line at any level."""

from __future__ import annotations

import asyncio
import base64
import logging
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from ampnexus.app import AmpNexus
from ampnexus.domain.errors import Invalid
from tests.conftest import PASSWORD
from tests.conftest import test_settings as settings_for
from tests.integration.test_durability import child_env, create_api_key, free_port
from tests.integration.test_durability import run_cli as ampnexus
from tests.support.charger import basic_auth, charger
from tests.support.pki import Authority, client_context
from tests.support.server import api_client, running

OTHER_PASSWORD = "another-long-secret-0123"


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return Authority(tmp_path, "chargers-ca")


@pytest.fixture
async def tls_server(database_url: str, ca: Authority) -> AsyncIterator[AmpNexus]:
    """TLS on both ports, client certificates checked against `ca`, plain ws:// kept open."""
    server = ca.server()
    settings = settings_for(
        database_url,
        tls_cert=server.cert,
        tls_key=server.key,
        tls_ca=ca.cert,
        ocpp_plain_port=0,
    )
    async with running(settings) as app:
        yield app


@pytest.fixture
async def tls_api(tls_server: AmpNexus, ca: Authority) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(tls_server, verify=client_context(ca)) as client:
        yield client


def wss_url(server: AmpNexus) -> str:
    return f"wss://127.0.0.1:{server.ocpp_port}/ocpp"


def plain_url(server: AmpNexus) -> str:
    return f"ws://127.0.0.1:{server.ocpp_plain_port}/ocpp"


async def register(api: httpx.AsyncClient, charge_point_id: str, **body: Any) -> None:
    response = await api.post("/charge-points", json={"id": charge_point_id, **body})
    assert response.status_code == 201, response.text


async def refused(url: str, headers: dict[str, str] | None = None, **options: Any) -> int:
    """Try the upgrade, which must fail; the HTTP status the server answered with."""
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, subprotocols=["ocpp1.6"], additional_headers=headers, **options):  # type: ignore[list-item]
            pass
    return caught.value.response.status_code


async def is_connected(api: httpx.AsyncClient, charge_point_id: str) -> bool:
    return bool((await api.get(f"/charge-points/{charge_point_id}")).json()["connected"])


# --- profile 2: a password over TLS -----------------------------------------------------------
async def test_profile_2_over_wss_with_its_password_boots(
    tls_server: AmpNexus, tls_api: httpx.AsyncClient, ca: Authority
) -> None:
    await register(tls_api, "CP-2", password=PASSWORD, security_profile=2)
    async with charger(wss_url(tls_server), "CP-2", PASSWORD, ssl=client_context(ca)) as cp:
        assert (await cp.boot()).status == "Accepted"
        assert await is_connected(tls_api, "CP-2")


async def test_profile_2_with_a_wrong_or_no_password_gets_401(
    tls_server: AmpNexus, tls_api: httpx.AsyncClient, ca: Authority
) -> None:
    await register(tls_api, "CP-2", password=PASSWORD, security_profile=2)
    url, context = f"{wss_url(tls_server)}/CP-2", client_context(ca)
    assert await refused(url, basic_auth("CP-2", OTHER_PASSWORD), ssl=context) == 401
    assert await refused(url, ssl=context) == 401


async def test_profile_2_over_plain_ws_is_refused_even_with_its_password(
    tls_server: AmpNexus, tls_api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await register(tls_api, "CP-2", password=PASSWORD, security_profile=2)
    await register(tls_api, "CP-1", password=PASSWORD)  # profile 1: the plain port is for it
    url = f"{plain_url(tls_server)}/CP-2"
    assert await refused(url, basic_auth("CP-2", PASSWORD)) == 403
    assert "'CP-2': its security profile needs wss:// (TLS)" in caplog.text
    async with charger(plain_url(tls_server), "CP-1", PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"


# --- profile 3: a client certificate ----------------------------------------------------------
async def test_profile_3_with_its_own_client_certificate_boots_without_a_password(
    tls_server: AmpNexus, tls_api: httpx.AsyncClient, ca: Authority
) -> None:
    await register(tls_api, "CP-3", security_profile=3)
    context = client_context(ca, ca.client("CP-3"))
    async with charger(wss_url(tls_server), "CP-3", ssl=context) as cp:
        assert (await cp.boot()).status == "Accepted"
        assert await is_connected(tls_api, "CP-3")


async def test_profile_3_with_another_chargers_certificate_or_none_is_refused(
    tls_server: AmpNexus,
    tls_api: httpx.AsyncClient,
    ca: Authority,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await register(tls_api, "CP-3", security_profile=3)
    url = f"{wss_url(tls_server)}/CP-3"
    other = client_context(ca, ca.client("CP-OTHER"))
    assert await refused(url, ssl=other) == 403
    assert "presented CN=CP-OTHER" in caplog.text
    # a password does not stand in for the certificate
    assert await refused(url, basic_auth("CP-3", PASSWORD), ssl=client_context(ca)) == 403
    assert "it presented none" in caplog.text
    assert await refused(f"{plain_url(tls_server)}/CP-3") == 403
    assert not await is_connected(tls_api, "CP-3")


async def test_a_client_certificate_from_another_ca_fails_the_handshake(
    tls_server: AmpNexus, tls_api: httpx.AsyncClient, ca: Authority, tmp_path: Path
) -> None:
    await register(tls_api, "CP-3", security_profile=3)
    stranger = Authority(tmp_path, "stranger-ca").client("CP-3")  # the right CN, wrong CA
    with pytest.raises((OSError, InvalidHandshake)):
        async with connect(f"{wss_url(tls_server)}/CP-3", ssl=client_context(ca, stranger)):
            pass
    assert not await is_connected(tls_api, "CP-3")


async def test_only_the_configured_ca_vouches_for_chargers_not_the_systems_cas(
    database_url: str, ca: Authority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The machine's trusted CAs (here: OpenSSL's default file, pointed at another CA) sign
    web servers' certificates; none of them may vouch for a charger."""
    stranger = Authority(tmp_path, "system-ca")
    monkeypatch.setenv("SSL_CERT_FILE", str(stranger.cert))
    server = ca.server()
    settings = settings_for(database_url, tls_cert=server.cert, tls_key=server.key, tls_ca=ca.cert)
    app = AmpNexus(settings)
    await app.start()
    try:
        await app.services.charge_points.register("CP-3", password=None, security_profile=3)
        impostor = client_context(ca, stranger.client("CP-3"))
        with pytest.raises((OSError, InvalidHandshake)):
            async with connect(f"{wss_url(app)}/CP-3", ssl=impostor):
                pass
        assert not app.services.charge_points.is_connected("CP-3")
    finally:
        await app.stop()


# --- which profiles a server can give ---------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"password": PASSWORD, "security_profile": 2}, ["profile 2", "TLS", "--tls-cert"]),
        ({"security_profile": 3}, ["profile 3", "--tls-ca"]),
    ],
)
async def test_profiles_2_and_3_are_refused_without_tls(
    api: httpx.AsyncClient, registered: str, body: dict[str, Any], words: list[str]
) -> None:
    created = await api.post("/charge-points", json={"id": "CP-X", **body})
    assert created.status_code == 422, created.text
    switched = await api.patch(f"/charge-points/{registered}", json=body)
    assert switched.status_code == 422, switched.text
    for response in (created, switched):
        assert all(word in response.json()["detail"] for word in words), response.text
    assert (await api.get(f"/charge-points/{registered}")).json()["security_profile"] == 1
    assert (await api.get("/charge-points/CP-X")).status_code == 404


async def test_profile_3_needs_a_client_ca_but_profile_2_does_not(
    database_url: str, ca: Authority
) -> None:
    server = ca.server()
    app = AmpNexus(settings_for(database_url, tls_cert=server.cert, tls_key=server.key))
    await app.start()
    try:
        services = app.services.charge_points
        await services.register("CP-2", password=PASSWORD, security_profile=2)
        with pytest.raises(Invalid, match="--tls-ca"):
            await services.register("CP-3", password=None, security_profile=3)
    finally:
        await app.stop()


async def test_switching_profiles_never_weakens_silently(
    tls_server: AmpNexus, tls_api: httpx.AsyncClient, ca: Authority
) -> None:
    await register(tls_api, "CP-2", password=PASSWORD, security_profile=2)
    to_3 = await tls_api.patch("/charge-points/CP-2", json={"security_profile": 3})
    assert to_3.status_code == 200, to_3.text
    # Profile 3 dropped the password: going back to 2 needs a new one, given on purpose.
    back = await tls_api.patch("/charge-points/CP-2", json={"security_profile": 2})
    assert back.status_code == 422 and "needs a password" in back.json()["detail"], back.text
    password_on_3 = await tls_api.patch("/charge-points/CP-2", json={"password": PASSWORD})
    assert password_on_3.status_code == 422, password_on_3.text
    assert (await tls_api.get("/charge-points/CP-2")).json()["security_profile"] == 3
    url = f"{wss_url(tls_server)}/CP-2"
    assert await refused(url, basic_auth("CP-2", PASSWORD), ssl=client_context(ca)) == 403


# --- the HTTP API over TLS --------------------------------------------------------------------
async def test_the_http_api_answers_over_https_only(tls_server: AmpNexus, ca: Authority) -> None:
    async with httpx.AsyncClient(verify=client_context(ca), timeout=10) as client:
        health = await client.get(f"https://localhost:{tls_server.http_port}/api/v1/health")
        assert health.status_code == 200, health.text
        with pytest.raises(httpx.TransportError):
            await client.get(f"http://127.0.0.1:{tls_server.http_port}/api/v1/health")


# --- no secret in any log ---------------------------------------------------------------------
async def test_debug_logs_show_no_password_and_no_api_key(
    tls_server: AmpNexus,
    tls_api: httpx.AsyncClient,
    ca: Authority,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every library's debug lines
    await register(tls_api, "CP-1", password=PASSWORD)
    await register(tls_api, "CP-2", password=PASSWORD, security_profile=2)
    async with charger(plain_url(tls_server), "CP-1", PASSWORD) as cp:
        await cp.boot()
        # OCPP sets a charger's new password as the AuthorizationKey configuration key.
        change = {"key": "AuthorizationKey", "value": OTHER_PASSWORD}
        reply = await tls_api.put("/charge-points/CP-1/configuration", json=change)
        assert reply.status_code == 200, reply.text
    async with charger(wss_url(tls_server), "CP-2", PASSWORD, ssl=client_context(ca)) as cp:
        await cp.boot()

    lines = [logging.Formatter().format(record) for record in caplog.records]
    api_key = tls_api.headers["Authorization"].removeprefix("Bearer ")
    secrets = [
        PASSWORD,
        OTHER_PASSWORD,
        base64.b64encode(f"CP-1:{PASSWORD}".encode()).decode(),
        base64.b64encode(f"CP-2:{PASSWORD}".encode()).decode(),
        api_key,
    ]
    for line in lines:
        for secret in secrets:
            assert secret not in line, line
    # They were logged, and only the secret is gone from the lines.
    assert any("Authorization: Basic [redacted]" in line for line in lines)
    assert any("AuthorizationKey [redacted]" in line for line in lines)


# --- the ampnexus command ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", ["missing-cert", "key-of-another-cert", "swapped", "ca-without-cert", "key-only"]
)
def test_unusable_tls_settings_are_one_line_at_startup(
    tmp_path: Path, ca: Authority, case: str
) -> None:
    server, other = ca.server(), ca.server("other")
    flags, words = {
        "missing-cert": (
            ["--tls-cert", str(tmp_path / "nope.crt"), "--tls-key", str(server.key)],
            ["cannot read", "--tls-cert", "nope.crt", "No such file"],
        ),
        "key-of-another-cert": (
            ["--tls-cert", str(server.cert), "--tls-key", str(other.key)],
            ["--tls-key", str(other.key), "is not the private key of --tls-cert"],
        ),
        "swapped": (
            ["--tls-cert", str(server.key), "--tls-key", str(server.cert)],
            ["--tls-cert", "holds no PEM certificate"],
        ),
        "ca-without-cert": (["--tls-ca", str(ca.cert)], ["--tls-ca needs TLS"]),
        "key-only": (["--tls-key", str(server.key)], ["both --tls-cert", "--tls-key"]),
    }[case]
    database = tmp_path / "db.sqlite3"
    done = ampnexus(
        "serve", "--database-url", f"sqlite:///{database}", "--host", "127.0.0.1",
        "--ocpp-port", "0", "--http-port", "0", *flags,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ampnexus: "), done.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert not database.exists()  # refused before touching the database


async def test_serve_with_tls_flags_at_debug_level(tmp_path: Path, ca: Authority) -> None:
    """The real command (uvloop, its own logging setup): profile 3 by certificate, profile 1
    on the plain port, and stderr at debug level without a password or the API key."""
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    _, secret = create_api_key(database_url, tmp_path)
    server = ca.server()
    ports = {"ocpp": free_port(), "plain": free_port(), "http": free_port()}
    flags = ["--tls-cert", str(server.cert), "--tls-key", str(server.key), "--tls-ca", str(ca.cert)]
    flags += ["--ocpp-plain-port", str(ports["plain"]), "--log-level", "debug"]
    process, log = _serve(tmp_path, database_url, ports, flags)
    try:
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{ports['http']}/api/v1",
            headers={"Authorization": f"Bearer {secret}"},
            verify=client_context(ca),
            timeout=10,
        ) as api:
            await _wait_until_up(api, process, log)
            await register(api, "CP-3", security_profile=3)
            await register(api, "CP-1", password=PASSWORD)
            wss = f"wss://127.0.0.1:{ports['ocpp']}/ocpp"
            async with charger(wss, "CP-3", ssl=client_context(ca, ca.client("CP-3"))) as cp:
                assert (await cp.boot()).status == "Accepted"
            async with charger(f"ws://127.0.0.1:{ports['plain']}/ocpp", "CP-1", PASSWORD) as cp:
                assert (await cp.boot()).status == "Accepted"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    text = _read(log)
    assert f"OCPP on wss://127.0.0.1:{ports['ocpp']}/ocpp/" in text
    assert f"and plain OCPP on ws://127.0.0.1:{ports['plain']}/ocpp/" in text
    token = base64.b64encode(f"CP-1:{PASSWORD}".encode()).decode()
    for leaked in (PASSWORD, token, secret):
        assert leaked not in text
    assert "Authorization: Basic [redacted]" in text


async def _wait_until_up(
    api: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, _read(log)
        try:
            if (await api.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, _read(log)
        await asyncio.sleep(0.1)


def _serve(
    workdir: Path, database_url: str, ports: dict[str, int], flags: list[str]
) -> tuple[subprocess.Popen[bytes], Path]:
    """`ampnexus serve` in a child process; its stderr goes to the returned log file."""
    command = [sys.executable, "-m", "ampnexus.cli", "serve", "--database-url", database_url]
    command += ["--host", "127.0.0.1", "--ocpp-port", str(ports["ocpp"])]
    command += ["--http-port", str(ports["http"]), *flags]
    log = workdir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stderr=output, cwd=workdir, env=child_env())
    return process, log


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


# --- OCTT TLS cases (section 3.21.4) ------------------------------------------------------------
# What OCTT checks of the Central System's TLS: 1.2 or newer, the ECDHE-ECDSA AES-GCM suites (the
# tests' CA issues elliptic-curve keys of 256 bits, above the 224 OCTT asks), a PEM certificate
# with a serial number whose CN is the server's FQDN; then the charger boots over it.
OCTT_ECDSA_SUITES = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384")


@pytest.fixture
async def fqdn_tls_server(database_url: str, ca: Authority) -> AsyncIterator[AmpNexus]:
    """TLS with a certificate whose CN is the FQDN chargers use (localhost), client
    certificates checked against `ca`."""
    server = ca.server("localhost")
    settings = settings_for(database_url, tls_cert=server.cert, tls_key=server.key, tls_ca=ca.cert)
    async with running(settings) as app:
        yield app


def _fqdn_url(app: AmpNexus) -> str:
    return f"wss://localhost:{app.ocpp_port}/ocpp"


async def _octt_handshake_checks(app: AmpNexus, ca: Authority, presented: Any = None) -> None:
    """TLS below 1.2 is refused; each OCTT suite is served at TLS 1.2."""
    url = f"{_fqdn_url(app)}/CP-X"
    old = client_context(ca, presented)
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((OSError, InvalidHandshake)):
        async with connect(url, ssl=old):
            pass
    for suite in OCTT_ECDSA_SUITES:
        context = client_context(ca, presented)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(suite)
        _reader, writer = await asyncio.open_connection(
            "localhost", app.ocpp_port, ssl=context, server_hostname="localhost"
        )
        try:
            tls = writer.get_extra_info("ssl_object")
            assert tls.version() == "TLSv1.2" and tls.cipher()[0] == suite
        finally:
            writer.close()
            await writer.wait_closed()


async def _boot_and_report(cp: Any) -> None:
    assert (await cp.boot()).status == "Accepted"
    for connector_id in (0, 1, 2):
        await cp.status(connector_id, "Available")


def _negotiated(cp: Any) -> Any:
    return cp.websocket.transport.get_extra_info("ssl_object")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_TC_086_tls_server_side_certificate_valid_certificate(
    fqdn_tls_server: AmpNexus, ca: Authority
) -> None:
    app = fqdn_tls_server
    await app.services.charge_points.register("CP-2", password=PASSWORD, security_profile=2)
    configured = app.settings.tls_cert
    assert configured is not None and configured.read_text().startswith("-----BEGIN CERTIFICATE")
    await _octt_handshake_checks(app, ca)
    async with charger(_fqdn_url(app), "CP-2", PASSWORD, ssl=client_context(ca)) as cp:
        tls = _negotiated(cp)
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        sent = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        assert sent.serial_number > 0
        (common_name,) = sent.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert common_name.value == "localhost"  # the FQDN of the endpoint
        await _boot_and_report(cp)
        assert app.services.charge_points.is_connected("CP-2")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_TC_087_tls_client_side_certificate_valid_certificate(
    fqdn_tls_server: AmpNexus, ca: Authority
) -> None:
    app = fqdn_tls_server
    await app.services.charge_points.register("CP-3", password=None, security_profile=3)
    own = ca.client("CP-3")
    await _octt_handshake_checks(app, ca, own)
    async with charger(_fqdn_url(app), "CP-3", ssl=client_context(ca, own)) as cp:
        assert _negotiated(cp).version() in ("TLSv1.2", "TLSv1.3")
        await _boot_and_report(cp)
        assert app.services.charge_points.is_connected("CP-3")
        shown = await app.services.charge_points.get("CP-3")
        assert {c.connector_id for c in shown.charge_point.connectors} == {0, 1, 2}
