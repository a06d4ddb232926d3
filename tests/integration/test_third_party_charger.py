"""A charge point run by a third-party OCPP 1.6J stack (ocpp-rpc, in Node, strict mode)
sends every message a charger may send, of every feature profile and of the security
extension, and AmpNexus answers each with a CALLRESULT that the peer's own schemas accept.
Then an operator sends it every command through the REST API, and the peer finds each one
valid by its schemas and answers it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ampnexus.app import AmpNexus
from tests.conftest import PASSWORD
from tests.conftest import test_settings as settings_for
from tests.support.pki import Authority
from tests.support.rpc_peer import RpcPeer, rpc_peer
from tests.support.server import running

TAG = "PEER-TAG"
CPO = "AmpNexus Test"
COMMANDS = {
    *("CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache"),
    *("ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration"),
    *("GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction"),
    *("RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile"),
    *("TriggerMessage", "UnlockConnector", "UpdateFirmware"),
    # the security extension (OCPP 1.6 Security Whitepaper)
    *("CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage"),
    *("GetInstalledCertificateIds", "GetLog", "InstallCertificate", "SignedUpdateFirmware"),
}  # the organisation a charger's certificate must name


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def csr_pem(charge_point_id: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, charge_point_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CPO),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[AmpNexus]:
    """With a CA of its own for the chargers' certificates, and local lists kept in sync."""
    settings = settings_for(
        database_url,
        data_dir=tmp_path / "data",
        charger_ca_dir=tmp_path / "charger-ca",
        cpo_name=CPO,
        local_list_sync=True,
    )
    async with running(settings) as app:
        yield app


@pytest.fixture
async def peer(api: httpx.AsyncClient, ocpp_url: str, registered: str) -> Any:
    assert (await api.post("/id-tags", json={"id_tag": TAG})).status_code == 201
    async with rpc_peer(ocpp_url, registered, PASSWORD) as connected:
        yield connected


def charger_messages(cp: str) -> list[tuple[str, dict[str, Any]]]:
    """Every charger-to-CSMS message but the transaction's (which depend on one another)."""
    now = iso(datetime.now(UTC))
    return [
        ("Heartbeat", {}),
        ("Authorize", {"idTag": TAG}),
        (
            "StatusNotification",
            {"connectorId": 0, "status": "Available", "errorCode": "NoError", "timestamp": now},
        ),
        (
            "MeterValues",
            {
                "connectorId": 0,
                "meterValue": [
                    {
                        "timestamp": now,
                        "sampledValue": [
                            {"value": "1234.5", "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            },
        ),
        ("DataTransfer", {"vendorId": "com.example", "messageId": "hello", "data": "x"}),
        ("DiagnosticsStatusNotification", {"status": "Idle"}),
        ("FirmwareStatusNotification", {"status": "Idle"}),
        ("SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": now}),
        ("SignCertificate", {"csr": csr_pem(cp)}),
        ("LogStatusNotification", {"status": "Idle"}),
        ("SignedFirmwareStatusNotification", {"status": "Idle"}),
    ]


async def boot(peer: RpcPeer) -> None:
    answer = await peer.call(
        "BootNotification",
        {
            "chargePointVendor": "PeerVendor",
            "chargePointModel": "PeerModel",
            "chargePointSerialNumber": "SN-1",
            "firmwareVersion": "1.0.0",
            "meterType": "PeerMeter",
        },
    )
    assert answer["status"] == "Accepted", answer
    for connector in (0, 1):
        await peer.call(
            "StatusNotification",
            {"connectorId": connector, "status": "Available", "errorCode": "NoError"},
        )


async def test_every_charger_message_gets_a_valid_callresult(
    peer: RpcPeer, registered: str, api: httpx.AsyncClient
) -> None:
    await boot(peer)
    answered = {}
    for action, payload in charger_messages(registered):
        answered[action] = await peer.call(action, payload)  # PeerError on a CALLERROR
    assert answered["Authorize"]["idTagInfo"]["status"] == "Accepted"
    assert answered["SignCertificate"]["status"] == "Accepted"
    signed = await peer.wait_for("CertificateSigned")  # from the CA AmpNexus keeps
    assert "BEGIN CERTIFICATE" in signed["certificateChain"]
    started = await peer.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": TAG, "meterStart": 0, "timestamp": iso(datetime.now(UTC))},
    )
    transaction_id = started["transactionId"]
    assert started["idTagInfo"]["status"] == "Accepted"
    await peer.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": iso(datetime.now(UTC)),
                    "sampledValue": [
                        {"value": "500", "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ],
        },
    )
    stopped = await peer.call(
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "meterStop": 1000,
            "timestamp": iso(datetime.now(UTC) + timedelta(seconds=1)),
            "idTag": TAG,
            "reason": "Local",
        },
    )
    assert stopped["idTagInfo"]["status"] == "Accepted"
    assert peer.refused == []
    shown = (await api.get(f"/transactions/{transaction_id}")).json()
    assert shown["meter_stop"] == 1000


def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201, 204), (response.request.url, response.text)
    return response.json() if response.status_code != 204 else None


async def test_every_operator_command_is_valid_by_the_peers_schemas(
    peer: RpcPeer, registered: str, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Each command through the REST API reaches the peer, which checks it against its own
    schemas (strict mode refuses an invalid one with a CALLERROR) and answers it."""
    await boot(peer)
    cp = f"/charge-points/{registered}"
    soon = iso(datetime.now(UTC) + timedelta(hours=1))
    profile = {
        "chargingProfileId": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": iso(datetime.now(UTC)),
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        },
    }
    issued = Authority(tmp_path, "peer-root")
    signer = Authority(tmp_path, "firmware-ca").client("firmware-signer")
    key = serialization.load_pem_private_key(signer.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = base64.b64encode(key.sign(b"image", ec.ECDSA(hashes.SHA256()))).decode()
    firmware = ok(await api.post("/firmware", files={"file": ("fw.bin", b"image")}))
    commands: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("RemoteStartTransaction", "post", f"{cp}/remote-start", {"id_tag": TAG}),
        ("Reset", "post", f"{cp}/reset", {"type": "Soft"}),
        ("UnlockConnector", "post", f"{cp}/unlock", {"connector_id": 1}),
        (
            "ChangeAvailability",
            "post",
            f"{cp}/availability",
            {"connector_id": 1, "type": "Operative"},
        ),
        ("ClearCache", "post", f"{cp}/clear-cache", None),
        ("DataTransfer", "post", f"{cp}/data-transfer", {"vendor_id": "com.example", "data": "x"}),
        ("GetConfiguration", "get", f"{cp}/configuration", None),
        (
            "ChangeConfiguration",
            "put",
            f"{cp}/configuration",
            {"key": "HeartbeatInterval", "value": "60"},
        ),
        (
            "SetChargingProfile",
            "post",
            f"{cp}/charging-profiles",
            {"connector_id": 0, "charging_profile": profile},
        ),
        ("ClearChargingProfile", "delete", f"{cp}/charging-profiles?id=7", None),
        (
            "GetCompositeSchedule",
            "get",
            f"{cp}/composite-schedule?connector_id=1&duration=3600",
            None,
        ),
        ("TriggerMessage", "post", f"{cp}/trigger-message", {"requested_message": "Heartbeat"}),
        ("SendLocalList", "post", f"{cp}/local-list/sync", None),
        ("GetLocalListVersion", "get", f"{cp}/local-list/version", None),
        (
            "ReserveNow",
            "post",
            f"{cp}/reservations",
            {"connector_id": 1, "id_tag": TAG, "expiry": soon},
        ),
        ("UpdateFirmware", "post", f"{cp}/firmware", {"firmware_id": firmware["id"]}),
        (
            "SignedUpdateFirmware",
            "post",
            f"{cp}/signed-firmware",
            {
                "firmware_id": firmware["id"],
                "signing_certificate": signer.cert.read_text(),
                "signature": signature,
            },
        ),
        ("GetDiagnostics", "post", f"{cp}/diagnostics", {}),
        ("GetLog", "post", f"{cp}/logs", {"log_type": "SecurityLog"}),
        (
            "InstallCertificate",
            "post",
            f"{cp}/certificates",
            {
                "certificate_type": "CentralSystemRootCertificate",
                "certificate": issued.cert.read_text(),
            },
        ),
        (
            "GetInstalledCertificateIds",
            "get",
            f"{cp}/certificates?certificate_type=CentralSystemRootCertificate",
            None,
        ),
        (
            "ExtendedTriggerMessage",
            "post",
            f"{cp}/extended-trigger-message",
            {"requested_message": "Heartbeat"},
        ),
    ]
    answers = {}
    for action, method, path, body in commands:
        answers[action] = await command(api, peer, action, method, path, body)
    reservation = answers["ReserveNow"]["id"]
    await command(api, peer, "CancelReservation", "delete", f"/reservations/{reservation}", None)
    hashed = answers["InstallCertificate"]["certificate_hash_data"]
    await command(api, peer, "DeleteCertificate", "delete", f"{cp}/certificates", None, hashed)
    started = await peer.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": TAG, "meterStart": 0, "timestamp": iso(datetime.now(UTC))},
    )
    stop = {"transaction_id": started["transactionId"]}
    await command(api, peer, "RemoteStopTransaction", "post", f"{cp}/remote-stop", stop)
    assert peer.refused == []
    # Every command of OCPP 1.6 and its security extension but CertificateSigned (the
    # other test's: it answers a charger's SignCertificate).
    assert {name for name, _ in peer.received} >= COMMANDS - {"CertificateSigned"}


async def command(
    api: httpx.AsyncClient,
    peer: RpcPeer,
    action: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    params: dict[str, Any] | None = None,
) -> Any:
    """The API's answer to the operator's request; the peer received `action` for it and
    refused nothing (strict mode refuses a call its schemas do not accept)."""
    before = len(peer.sent(action))
    response = await api.request(method.upper(), path, json=body, params=params)
    answer = ok(response)
    await peer.wait_for(action, after=before)  # its answer was printed after it
    assert peer.refused == [], peer.refused
    return answer
