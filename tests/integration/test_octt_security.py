"""OCA OCTT OCPP 1.6 test cases for a Central System, section 3.21 (Security, the OCPP 1.6
Security Whitepaper edition 2): new AuthorizationKeys, chargers' certificates signed by the
CA AmpNexus manages, root certificates installed and deleted, and security events.

The test charger plays OCTT over real WebSockets (real TLS where a profile needs it) and
makes real key pairs and CSRs; the operator acts through the REST API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ampnexus.app import AmpNexus
from tests.conftest import PASSWORD
from tests.conftest import test_settings as settings_for
from tests.support.charger import charger
from tests.support.pki import Authority, client_context
from tests.support.secure_charger import SecureCharger, make_csr, root_hash_data, secure_charger
from tests.support.server import api_client, running

CPO = "AmpNexus Test CPO"
KEY_CHARACTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


# --- helpers ----------------------------------------------------------------------------------
def ok(response: httpx.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


async def eventually(probe: Callable[[], Awaitable[bool]]) -> None:
    """Poll `probe` until it holds; TimeoutError after 5 seconds."""
    async with asyncio.timeout(5):
        while not await probe():  # noqa: ASYNC110 (the API offers no event to wait on)
            await asyncio.sleep(0.02)


async def booted(cp: SecureCharger) -> None:
    assert (await cp.boot()).status == "Accepted"


async def security_events(api: httpx.AsyncClient, cp_id: str, **params: Any) -> Any:
    return ok(await api.get(f"/charge-points/{cp_id}/security-events", params=params))


async def signings(api: httpx.AsyncClient, cp_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok(await api.get(f"/charge-points/{cp_id}/certificate-signings"))[
        "items"
    ]
    return items


async def refused_status(url: str, **options: Any) -> int:
    """The HTTP status of an upgrade the server must refuse."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, subprotocols=["ocpp1.6"], **options):  # type: ignore[list-item]
            pass
    return caught.value.response.status_code


# --- a server with TLS and the CA AmpNexus manages --------------------------------------------
@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    """The tests' CA: signs the server's TLS certificate and plays the root certificates."""
    return Authority(tmp_path, "octt-root")


@pytest.fixture
async def secure_server(
    database_url: str, ca: Authority, tmp_path: Path
) -> AsyncIterator[AmpNexus]:
    server = ca.server()
    settings = settings_for(
        database_url,
        tls_cert=server.cert,
        tls_key=server.key,
        charger_ca_dir=tmp_path / "charger-ca",
        cpo_name=CPO,
        ocpp_plain_port=0,
    )
    async with running(settings) as app:
        yield app


@pytest.fixture
async def secure_api(secure_server: AmpNexus, ca: Authority) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(secure_server, verify=client_context(ca)) as client:
        yield client


def wss(app: AmpNexus) -> str:
    return f"wss://127.0.0.1:{app.ocpp_port}/ocpp"


def plain(app: AmpNexus) -> str:
    return f"ws://127.0.0.1:{app.ocpp_plain_port}/ocpp"


async def register(api: httpx.AsyncClient, cp_id: str, **body: Any) -> None:
    ok(await api.post("/charge-points", json={"id": cp_id, **body}), 201)


# --- 3.21.1 Secure connection setup -----------------------------------------------------------
async def test_TC_073_update_charge_point_password_for_http_basic_authentication(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        reply = ok(await api.post(f"/charge-points/{registered}/authorization-key"))
        assert reply["status"] == "Accepted"
        sent = await cp.wait_for("ChangeConfiguration")
        assert sent["key"] == "AuthorizationKey"  # OCTT step 1
        new_key = sent["value"]
        assert len(new_key) == 40 and set(new_key) <= KEY_CHARACTERS
        assert new_key not in str(reply)  # the key travels to the charger only
    # Step 3: it reconnects with the new password; the old one no longer admits it.
    async with charger(ocpp_url, registered, new_key) as cp:
        assert (await cp.boot()).status == "Accepted"
    assert (
        await refused_status(f"{ocpp_url}/{registered}", additional_headers=_basic(PASSWORD)) == 401
    )


def _basic(password: str, cp_id: str = "CP-1") -> dict[str, str]:
    from tests.support.charger import basic_auth

    return basic_auth(cp_id, password)


async def test_a_refused_authorization_key_keeps_the_old_one(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        cp.answers["ChangeConfiguration"] = "Rejected"
        reply = ok(await api.post(f"/charge-points/{registered}/authorization-key"))
        assert reply["status"] == "Rejected"
        refused_key = (await cp.wait_for("ChangeConfiguration"))["value"]
    assert (
        await refused_status(f"{ocpp_url}/{registered}", additional_headers=_basic(refused_key))
        == 401
    )
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"


async def test_a_profile_is_raised_with_a_new_key_and_never_lowered(
    secure_server: AmpNexus, secure_api: httpx.AsyncClient, ca: Authority
) -> None:
    await register(secure_api, "CP-1", password=PASSWORD)
    async with secure_charger(plain(secure_server), "CP-1", PASSWORD) as cp:
        await booted(cp)
        raised = ok(
            await secure_api.post(
                "/charge-points/CP-1/security-profile", json={"security_profile": 2}
            )
        )
        assert raised["raised"] and raised["security_profile"] == 2
        assert raised["authorization_key"]["status"] == "Accepted"
        assert raised["profile_change"]["status"] == "Accepted"
        changes = [p for a, p in cp.received if a == "ChangeConfiguration"]
        assert [c["key"] for c in changes] == ["AuthorizationKey", "SecurityProfile"]
        assert changes[1]["value"] == "2"
        new_key = changes[0]["value"]
    shown = ok(await secure_api.get("/charge-points/CP-1"))
    assert shown["security_profile"] == 2
    # Profile 2: TLS and the new key; plain ws:// or the old key are refused.
    context = client_context(ca)
    async with charger(wss(secure_server), "CP-1", new_key, ssl=context) as cp:
        assert (await cp.boot()).status == "Accepted"
    assert (
        await refused_status(f"{plain(secure_server)}/CP-1", additional_headers=_basic(new_key))
        == 403
    )
    url = f"{wss(secure_server)}/CP-1"
    assert await refused_status(url, additional_headers=_basic(PASSWORD), ssl=context) == 401
    # Never lower, nor the same again.
    for lower in (1, 2):
        refused = await secure_api.post(
            "/charge-points/CP-1/security-profile", json={"security_profile": lower}
        )
        assert refused.status_code == 422 and "never lowered" in refused.text, refused.text
    assert ok(await secure_api.get("/charge-points/CP-1"))["security_profile"] == 2


async def test_a_profile_the_charger_refuses_stays_as_it_was(
    secure_server: AmpNexus, secure_api: httpx.AsyncClient
) -> None:
    await register(secure_api, "CP-1", password=PASSWORD)
    async with secure_charger(plain(secure_server), "CP-1", PASSWORD) as cp:
        await booted(cp)
        cp.answers["ChangeConfiguration"] = "Rejected"
        raised = ok(
            await secure_api.post(
                "/charge-points/CP-1/security-profile", json={"security_profile": 2}
            )
        )
        assert not raised["raised"] and raised["security_profile"] == 1
        assert raised["profile_change"] is None  # the key was refused: the profile never sent
        assert [a for a, _ in cp.received] == ["ChangeConfiguration"]
    assert ok(await secure_api.get("/charge-points/CP-1"))["security_profile"] == 1


async def test_profile_2_is_refused_by_a_server_without_tls(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        refused = await api.post(
            f"/charge-points/{registered}/security-profile", json={"security_profile": 2}
        )
        assert refused.status_code == 422 and "TLS" in refused.text, refused.text
        assert cp.received == []  # nothing was sent


async def test_TC_074_update_charge_point_certificate_by_request_of_central_system(
    secure_server: AmpNexus, secure_api: httpx.AsyncClient, ca: Authority, tmp_path: Path
) -> None:
    await register(secure_api, "CP-3", password=PASSWORD, security_profile=2)
    async with secure_charger(wss(secure_server), "CP-3", PASSWORD, ssl=client_context(ca)) as cp:
        await booted(cp)
        reply = ok(
            await secure_api.post(
                "/charge-points/CP-3/extended-trigger-message",
                json={"requested_message": "SignChargePointCertificate"},
            )
        )
        assert reply["status"] == "Accepted"  # step 2
        trigger = await cp.wait_for("ExtendedTriggerMessage")
        assert trigger == {"requested_message": "SignChargePointCertificate"}  # no connectorId
        signed = await cp.wait_for("CertificateSigned")  # step 5
        assert cp.sign_answer.status == "Accepted"  # step 4
        assert cp.certificate is not None  # step 6: the charger found it valid, Accepted
        leaf = x509.load_pem_x509_certificates(signed["certificate_chain"].encode())[0]
        subject = leaf.subject
        assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-3"
        assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CPO

        async def answered() -> bool:
            return (await signings(secure_api, "CP-3"))[0]["charger_status"] is not None

        await eventually(answered)
        record = (await signings(secure_api, "CP-3"))[0]
        assert record["state"] == "sent" and record["charger_status"] == "Accepted"
        assert record["certificate_chain"] == signed["certificate_chain"]
        # Then to profile 3: the charger authenticates with that certificate.
        raised = ok(
            await secure_api.post(
                "/charge-points/CP-3/security-profile", json={"security_profile": 3}
            )
        )
        assert raised["raised"] and raised["authorization_key"] is None
    # Step 7: it reconnects with the new certificate, and needs no password.
    managed_ca = tmp_path / "charger-ca" / "ca.crt"
    assert managed_ca.exists() and (tmp_path / "charger-ca" / "ca.key").stat().st_mode & 0o077 == 0
    context = cp.client_context(ca.cert)
    async with charger(wss(secure_server), "CP-3", ssl=context) as again:
        assert (await again.boot()).status == "Accepted"
    # Without its certificate, the old password no longer admits it.
    url = f"{wss(secure_server)}/CP-3"
    assert (
        await refused_status(
            url, additional_headers=_basic(PASSWORD, "CP-3"), ssl=client_context(ca)
        )
        == 403
    )


@pytest.mark.parametrize(
    ("common_name", "organization", "problem"),
    [
        ("CP-OTHER", CPO, "not the charger's id"),
        ("CP-3", None, "no O"),
        ("CP-3", "Someone Else", "not the CPO"),
    ],
)
async def test_a_csr_for_another_charger_or_cpo_is_rejected_and_recorded(
    secure_server: AmpNexus,
    secure_api: httpx.AsyncClient,
    ca: Authority,
    common_name: str,
    organization: str | None,
    problem: str,
) -> None:
    await register(secure_api, "CP-3", password=PASSWORD, security_profile=2)
    async with secure_charger(wss(secure_server), "CP-3", PASSWORD, ssl=client_context(ca)) as cp:
        await booted(cp)
        _, csr = make_csr(common_name, organization)
        from ocpp.v16 import call

        answer = await cp.call(call.SignCertificate(csr=csr))
        assert answer.status == "Rejected"
        record = (await signings(secure_api, "CP-3"))[0]
        assert record["state"] == "rejected" and problem in record["problem"]
        assert record["csr"] == csr
        assert "CertificateSigned" not in [a for a, _ in cp.received]


async def test_a_csr_that_is_not_pem_is_rejected(
    secure_server: AmpNexus, secure_api: httpx.AsyncClient, ca: Authority
) -> None:
    await register(secure_api, "CP-3", password=PASSWORD, security_profile=2)
    async with secure_charger(wss(secure_server), "CP-3", PASSWORD, ssl=client_context(ca)) as cp:
        await booted(cp)
        from ocpp.v16 import call

        assert (await cp.call(call.SignCertificate(csr="not a csr"))).status == "Rejected"
        record = (await signings(secure_api, "CP-3"))[0]
        assert "not a PEM certificate signing request" in record["problem"]


async def test_with_an_external_ca_a_csr_waits_for_the_operators_chain(
    api: httpx.AsyncClient, ocpp_url: str, registered: str, ca: Authority
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        assert (await cp.sign_certificate()).status == "Accepted"
        queued = (await signings(api, registered))[0]
        assert queued["state"] == "queued" and queued["certificate_chain"] is None
        assert "CertificateSigned" not in [a for a, _ in cp.received]
        # The operator's CA signs the CSR (here: the tests' CA, as OCTT's CA server would).
        csr = x509.load_pem_x509_csr(queued["csr"].encode())
        chain = _sign_elsewhere(ca, csr)
        path = f"/charge-points/{registered}/certificate-signings/{queued['id']}/certificate"
        sent = ok(await api.post(path, json={"certificate_chain": chain}))
        assert sent["state"] == "sent" and sent["charger_status"] == "Accepted"
        assert (await cp.wait_for("CertificateSigned"))["certificate_chain"] == chain
        again = await api.post(path, json={"certificate_chain": chain})
        assert again.status_code == 422 and "not queued" in again.text


def _sign_elsewhere(ca: Authority, csr: x509.CertificateSigningRequest) -> str:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes, serialization

    now = datetime.now(UTC)
    root = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(root.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(ca._key, hashes.SHA256())
    )
    return leaf.public_bytes(serialization.Encoding.PEM).decode() + ca.cert.read_text()


# --- install, list and delete root certificates ------------------------------------------------
async def install_and_list(
    api: httpx.AsyncClient, ocpp_url: str, registered: str, ca: Authority, certificate_type: str
) -> None:
    """OCTT TC_075: InstallCertificate, then GetInstalledCertificateIds lists it."""
    root = ca.cert.read_text()
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        body = {"certificate_type": certificate_type, "certificate": root}
        installed = ok(await api.post(f"/charge-points/{registered}/certificates", json=body))
        assert installed["status"] == "Accepted"  # step 2
        assert await cp.wait_for("InstallCertificate") == body  # step 1
        listed = ok(
            await api.get(
                f"/charge-points/{registered}/certificates",
                params={"certificate_type": certificate_type},
            )
        )
        assert await cp.wait_for("GetInstalledCertificateIds") == {
            "certificate_type": certificate_type  # step 3
        }
        assert listed["status"] == "Accepted"  # step 4
        expected = root_hash_data(root)  # computed by the charger's side, not by AmpNexus
        assert listed["payload"]["certificateHashData"] == [expected]
        shown = {
            "hash_algorithm": "SHA256",
            "issuer_name_hash": expected["issuerNameHash"],
            "issuer_key_hash": expected["issuerKeyHash"],
            "serial_number": expected["serialNumber"],
        }
        assert listed["certificates"] == [shown]
        assert installed["certificate_hash_data"] == shown  # AmpNexus names it the same way


async def test_TC_075_1_install_certificate_manufacturer_root_certificate(
    api: httpx.AsyncClient, ocpp_url: str, registered: str, ca: Authority
) -> None:
    await install_and_list(api, ocpp_url, registered, ca, "ManufacturerRootCertificate")


async def test_TC_075_2_install_certificate_central_system_root_certificate(
    api: httpx.AsyncClient, ocpp_url: str, registered: str, ca: Authority
) -> None:
    await install_and_list(api, ocpp_url, registered, ca, "CentralSystemRootCertificate")


async def test_TC_076_delete_a_specific_certificate(
    api: httpx.AsyncClient, ocpp_url: str, registered: str, ca: Authority, tmp_path: Path
) -> None:
    root_2 = Authority(tmp_path, "root-2").cert.read_text()
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        body = {"certificate_type": "CentralSystemRootCertificate", "certificate": root_2}
        ok(await api.post(f"/charge-points/{registered}/certificates", json=body))
        path = f"/charge-points/{registered}/certificates"
        kind = {"certificate_type": "CentralSystemRootCertificate"}
        listed = ok(await api.get(path, params=kind))
        assert listed["status"] == "Accepted"
        (which,) = listed["certificates"]
        assert which["hash_algorithm"] == "SHA256"
        deleted = ok(await api.delete(path, params=which))
        assert deleted["status"] == "Accepted"
        sent = await cp.wait_for("DeleteCertificate")
        expected = root_hash_data(root_2)
        assert sent["certificate_hash_data"] == {
            "hash_algorithm": expected["hashAlgorithm"],
            "issuer_name_hash": expected["issuerNameHash"],
            "issuer_key_hash": expected["issuerKeyHash"],
            "serial_number": expected["serialNumber"],
        }
        assert ok(await api.get(path, params=kind))["status"] == "NotFound"
        again = ok(await api.delete(path, params=which))
        assert again["status"] == "NotFound"


async def test_bad_certificate_requests_are_422_and_send_nothing(
    api: httpx.AsyncClient, ocpp_url: str, registered: str, ca: Authority
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        path = f"/charge-points/{registered}/certificates"
        not_pem = {"certificate_type": "CentralSystemRootCertificate", "certificate": "hello"}
        refused = await api.post(path, json=not_pem)
        assert refused.status_code == 422 and "PEM" in refused.text, refused.text
        wrong_type = {"certificate_type": "V2GRootCertificate", "certificate": ca.cert.read_text()}
        assert (await api.post(path, json=wrong_type)).status_code == 422
        bad_hash = {
            "hash_algorithm": "MD5",
            "issuer_name_hash": "ab",
            "issuer_key_hash": "cd",
            "serial_number": "01",
        }
        assert (await api.delete(path, params=bad_hash)).status_code == 422
        not_hex = bad_hash | {"hash_algorithm": "SHA256", "serial_number": "zz"}
        assert (await api.delete(path, params=not_hex)).status_code == 422
        assert cp.received == []
    unknown = await api.post(
        "/charge-points/CP-NOPE/certificates",
        json={
            "certificate_type": "CentralSystemRootCertificate",
            "certificate": ca.cert.read_text(),
        },
    )
    assert unknown.status_code == 404


# --- 3.21.2 Security event/logging --------------------------------------------------------------
async def test_TC_077_invalid_charge_point_certificate_security_event(
    secure_server: AmpNexus, secure_api: httpx.AsyncClient, ca: Authority
) -> None:
    await register(secure_api, "CP-3", password=PASSWORD, security_profile=2)
    async with secure_charger(wss(secure_server), "CP-3", PASSWORD, ssl=client_context(ca)) as cp:
        await booted(cp)
        cp.reject_signed = True
        reply = ok(
            await secure_api.post(
                "/charge-points/CP-3/extended-trigger-message",
                json={"requested_message": "SignChargePointCertificate"},
            )
        )
        assert reply["status"] == "Accepted"
        assert await cp.wait_for("ExtendedTriggerMessage") == {
            "requested_message": "SignChargePointCertificate"
        }
        signed = await cp.wait_for("CertificateSigned")
        assert cp.sign_answer.status == "Accepted"
        assert "BEGIN CERTIFICATE" in signed["certificate_chain"]

        async def rejected() -> bool:
            return bool((await signings(secure_api, "CP-3"))[0]["charger_status"] == "Rejected")

        await eventually(rejected)
        await cp.security_event("InvalidChargePointCertificate", "chain rejected")
        events = await security_events(secure_api, "CP-3")
        assert events["total"] == 1
        (event,) = events["items"]
        assert event["type"] == "InvalidChargePointCertificate"
        assert event["tech_info"] == "chain rejected" and event["critical"] is False
    alerts = ok(await secure_api.get("/alerts", params={"kind": "security_event"}))
    assert alerts["total"] == 0  # not critical in the whitepaper's list


async def test_TC_078_invalid_central_system_certificate_security_event(
    api: httpx.AsyncClient, ocpp_url: str, registered: str, ca: Authority
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        cp.answers["InstallCertificate"] = "Rejected"
        body = {
            "certificate_type": "CentralSystemRootCertificate",
            "certificate": ca.cert.read_text(),
        }
        installed = ok(await api.post(f"/charge-points/{registered}/certificates", json=body))
        assert installed["status"] == "Rejected"
        assert (await cp.wait_for("InstallCertificate"))["certificate_type"] == body[
            "certificate_type"
        ]
        await cp.security_event("InvalidCentralSystemCertificate")
        (event,) = (await security_events(api, registered))["items"]
        assert event["type"] == "InvalidCentralSystemCertificate" and event["tech_info"] is None


async def test_a_critical_security_event_raises_an_alert_and_a_public_event(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        await cp.security_event("TamperDetectionActivated", "lid opened")
        await cp.security_event("InvalidMessages")
    alerts = ok(await api.get("/alerts", params={"kind": "security_event"}))["items"]
    assert len(alerts) == 1
    assert alerts[0]["charge_point_id"] == registered and alerts[0]["severity"] == "critical"
    assert "TamperDetectionActivated" in alerts[0]["message"]
    feed = [
        e for e in await server.services.feed.read(0) if e.type == "charge_point.security_event"
    ]
    assert [('"critical":true' in e.data) for e in feed] == [True, False]
    assert '"type":"TamperDetectionActivated"' in feed[0].data


async def test_security_events_are_listed_a_page_at_a_time_newest_first(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        for kind in ("InvalidMessages", "AttemptedReplayAttacks", "InvalidTLSVersion"):
            assert await cp.security_event(kind) is not None
    first = await security_events(api, registered, limit=2)
    assert first["total"] == 3
    assert [e["type"] for e in first["items"]] == ["InvalidTLSVersion", "AttemptedReplayAttacks"]
    second = await security_events(api, registered, limit=2, offset=2)
    assert [e["type"] for e in second["items"]] == ["InvalidMessages"]
    assert (await api.get("/charge-points/CP-NOPE/security-events")).status_code == 404


async def test_a_security_event_without_its_timestamp_is_a_callerror_and_not_stored(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        frame = '[2,"sec-1","SecurityEventNotification",{"type":"InvalidMessages"}]'
        await cp.websocket.send(frame)
        # The CALLERROR goes to the charger's socket; the ocpp library logs and drops it.
        await cp.security_event("InvalidTLSCipherSuite")
    items = (await security_events(api, registered))["items"]
    assert [e["type"] for e in items] == ["InvalidTLSCipherSuite"]


@pytest.mark.parametrize(
    "message",
    [
        "BootNotification",
        "LogStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "SignChargePointCertificate",
        "StatusNotification",
    ],
)
async def test_extended_trigger_message_asks_for_each_message(
    api: httpx.AsyncClient, ocpp_url: str, registered: str, message: str
) -> None:
    async with secure_charger(ocpp_url, registered, PASSWORD) as cp:
        await booted(cp)
        cp.answers["ExtendedTriggerMessage"] = "Rejected"  # no CSR follows
        body: dict[str, Any] = {"requested_message": message}
        if message in ("MeterValues", "StatusNotification"):
            body["connector_id"] = 1
        reply = ok(
            await api.post(f"/charge-points/{registered}/extended-trigger-message", json=body)
        )
        assert reply["status"] == "Rejected"
        expected = {"requested_message": message} | (
            {"connector_id": 1} if "connector_id" in body else {}
        )
        assert await cp.wait_for("ExtendedTriggerMessage") == expected
    bad = await api.post(
        f"/charge-points/{registered}/extended-trigger-message",
        json={"requested_message": "DiagnosticsStatusNotification"},
    )
    assert bad.status_code == 422


async def test_with_a_cpo_name_a_profile_3_certificate_must_name_the_cpo(
    database_url: str, ca: Authority, caplog: pytest.LogCaptureFixture
) -> None:
    """Whitepaper A00.FR.404: the certificate's O must be the CPO's (TC_074 shows one that
    is admitted); the right CN from a trusted CA without it is refused."""
    server = ca.server()
    settings = settings_for(
        database_url, tls_cert=server.cert, tls_key=server.key, tls_ca=ca.cert, cpo_name=CPO
    )
    async with running(settings) as app:
        await app.services.charge_points.register("CP-3", password=None, security_profile=3)
        without_o = client_context(ca, ca.client("CP-3"))
        assert await refused_status(f"{wss(app)}/CP-3", ssl=without_o) == 403
        assert "it presented CN=CP-3" in caplog.text
        assert not app.services.charge_points.is_connected("CP-3")


async def test_a_ca_that_cannot_sign_marks_the_csr_failed(
    secure_server: AmpNexus, secure_api: httpx.AsyncClient, ca: Authority, tmp_path: Path
) -> None:
    (tmp_path / "charger-ca" / "ca.key").write_text("not a key")  # damaged after start-up
    await register(secure_api, "CP-3", password=PASSWORD, security_profile=2)
    async with secure_charger(wss(secure_server), "CP-3", PASSWORD, ssl=client_context(ca)) as cp:
        await booted(cp)
        assert (await cp.sign_certificate()).status == "Accepted"

        async def failed() -> bool:
            return bool((await signings(secure_api, "CP-3"))[0]["state"] == "failed")

        await eventually(failed)
        record = (await signings(secure_api, "CP-3"))[0]
        assert "the CA could not sign it" in record["problem"]
        assert "CertificateSigned" not in [a for a, _ in cp.received]
