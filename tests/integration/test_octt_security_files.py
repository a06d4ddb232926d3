"""OCA OCTT OCPP 1.6 test cases for a Central System, 3.21 Security (whitepaper edition 2):
the security log and signed firmware. The firmware is really signed (ECDSA P-256, SHA-256)
with a certificate of the tests' own CA; the test charger really downloads it and checks the
signature against the certificate it was sent, as a charger does before installing."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ampnexus.ocpp.errors import CallError
from ampnexus.ocpp.v16 import schemas
from tests.conftest import PASSWORD
from tests.integration.test_octt_core import CONNECTORS, boot, ok
from tests.support.file_charger import FileCharger, file_charger, signature_holds
from tests.support.pki import Authority

IMAGE = os.urandom(200_000)


@pytest.fixture
async def cp(ocpp_url: str, registered: str) -> AsyncIterator[FileCharger]:
    async with file_charger(ocpp_url, registered, PASSWORD) as connected:
        await boot(connected)
        yield connected


@pytest.fixture
def signer(tmp_path: Path) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The firmware signing certificate (PEM) and its key."""
    issued = Authority(tmp_path, "firmware-ca").client("firmware-signer")
    key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return issued.cert.read_text(), key


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


async def signed_update(
    api: httpx.AsyncClient, cp_id: str, certificate: str, signature: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The firmware uploaded to AmpNexus, and the SignedUpdateFirmware sent for it."""
    firmware = ok(await api.post("/firmware", files={"file": ("fw-3.0.bin", IMAGE)}), 201)
    body = {
        "firmware_id": firmware["id"],
        "signing_certificate": certificate,
        "signature": signature,
        "retries": 3,
    }
    sent = ok(await api.post(f"/charge-points/{cp_id}/signed-firmware", json=body), 201)
    return firmware, sent


async def firmware_state(api: httpx.AsyncClient, cp_id: str) -> dict[str, Any]:
    return ok(await api.get(f"/charge-points/{cp_id}/firmware"))


async def open_alerts(api: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    return ok(await api.get("/alerts", params={"kind": kind, "open": "true"}))["items"]


# --- Get Security Log ---------------------------------------------------------------------------
async def test_TC_079_get_security_log(api, cp):
    """TC_079_CSMS: Get Security Log. The charger uploads to the location it was sent."""
    asked = ok(
        await api.post(f"/charge-points/{cp.id}/logs", json={"log_type": "SecurityLog"}), 201
    )
    assert (asked["kind"], asked["answer"], asked["file_name"]) == (
        "SecurityLog",
        "Accepted",
        "security.log",
    )
    request = await cp.wait_for("GetLog")
    assert (request["log_type"], request["request_id"]) == ("SecurityLog", asked["id"])
    location = request["log"]["remote_location"]

    await cp.log_status("Uploading", request["request_id"])
    log = b"2026-12-04T21:00:00Z SettingSystemTime\n" * 2000
    uploaded = await cp.post_form(location, "security.log", log)
    assert uploaded.status_code == 200, uploaded.text
    await cp.log_status("Uploaded", request["request_id"])

    shown = ok(await api.get(f"/charge-points/{cp.id}/logs/{asked['id']}"))
    assert (shown["status"], shown["size"]) == ("Uploaded", len(log))
    assert shown["sha256"] == hashlib.sha256(log).hexdigest()
    file = await api.get(f"/charge-points/{cp.id}/logs/{asked['id']}/file")
    assert (file.status_code, file.content) == (200, log)
    # A log is not a diagnostics upload: each lists its own.
    assert ok(await api.get(f"/charge-points/{cp.id}/diagnostics"))["total"] == 0
    assert (await api.get(f"/charge-points/{cp.id}/diagnostics/{asked['id']}")).status_code == 404


async def test_a_diagnostics_log_with_a_period(api, cp):
    body = {
        "log_type": "DiagnosticsLog",
        "start_time": "2026-12-01T00:00:00Z",
        "stop_time": "2026-12-02T00:00:00Z",
    }
    asked = ok(await api.post(f"/charge-points/{cp.id}/logs", json=body), 201)
    request = await cp.wait_for("GetLog")
    assert request["log_type"] == "DiagnosticsLog"
    assert request["log"]["oldest_timestamp"].startswith("2026-12-01T00:00:00")
    assert request["log"]["latest_timestamp"].startswith("2026-12-02T00:00:00")
    # Without its requestId, a LogStatusNotification is about the latest log asked for.
    await cp.log_status("UploadFailure", None)
    shown = ok(await api.get(f"/charge-points/{cp.id}/logs/{asked['id']}"))
    assert shown["status"] == "UploadFailure"
    backwards = body | {"start_time": "2026-12-03T00:00:00Z"}
    assert (await api.post(f"/charge-points/{cp.id}/logs", json=backwards)).status_code == 422


# --- Secure firmware update ---------------------------------------------------------------------
async def test_TC_080_secure_firmware_update(api, cp, signer):
    """TC_080_CSMS: Secure Firmware Update."""
    certificate, key = signer
    firmware, sent = await signed_update(api, cp.id, certificate, sign(key, IMAGE))
    assert (sent["signed"], sent["answer"]) == (True, "Accepted")
    request = await cp.wait_for("SignedUpdateFirmware")
    assert request["request_id"] == sent["id"]
    assert request["retries"] == 3
    assert request["firmware"]["location"] == firmware["download_url"]
    assert request["firmware"]["signing_certificate"] == certificate
    request_id = request["request_id"]

    await cp.signed_firmware_status("Downloading", request_id)
    downloaded = (await cp.fetch(request["firmware"]["location"])).content
    assert downloaded == IMAGE
    await cp.signed_firmware_status("Downloaded", request_id)
    assert signature_holds(certificate, request["firmware"]["signature"], downloaded)
    await cp.signed_firmware_status("SignatureVerified", request_id)
    for connector_id in CONNECTORS:
        await cp.status(connector_id, "Unavailable")
    await cp.signed_firmware_status("Installing", request_id)
    await cp.signed_firmware_status("InstallRebooting", request_id)
    assert (await cp.boot()).status == "Accepted"
    for connector_id in CONNECTORS:
        await cp.status(connector_id, "Available")
    await cp.signed_firmware_status("Installed", request_id)

    state = await firmware_state(api, cp.id)
    assert state["status"] == "Installed"
    assert (state["update"]["id"], state["update"]["state"]) == (sent["id"], "installed")
    reports = ok(await api.get(f"/charge-points/{cp.id}/firmware/history"))["items"]
    assert [r["status"] for r in reversed(reports)] == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "InstallRebooting",
        "Installed",
    ]
    assert {r["notification"] for r in reports} == {"SignedFirmwareStatusNotification"}
    assert await open_alerts(api, "firmware_rejected") == []


async def test_TC_081_secure_firmware_update_invalid_signature(api, cp, signer):
    """TC_081_CSMS: Secure Firmware Update - Invalid Signature. The signature given is of
    other bytes: the charger finds it invalid, and the operator gets a critical alert."""
    certificate, key = signer
    _, sent = await signed_update(api, cp.id, certificate, sign(key, b"not this firmware"))
    request = await cp.wait_for("SignedUpdateFirmware")
    request_id = request["request_id"]

    await cp.signed_firmware_status("Downloading", request_id)
    downloaded = (await cp.fetch(request["firmware"]["location"])).content
    await cp.signed_firmware_status("Downloaded", request_id)
    assert not signature_holds(certificate, request["firmware"]["signature"], downloaded)
    await cp.signed_firmware_status("InvalidSignature", request_id)

    state = await firmware_state(api, cp.id)
    assert (state["status"], state["update"]["state"]) == ("InvalidSignature", "failed")
    assert state["update"]["id"] == sent["id"]
    (alert,) = await open_alerts(api, "firmware_rejected")
    assert (alert["charge_point_id"], alert["severity"]) == (cp.id, "critical")
    assert "InvalidSignature" in alert["message"]


async def test_a_refused_signed_update_is_failed(api, cp, signer):
    certificate, key = signer
    cp.answers["SignedUpdateFirmware"] = "InvalidCertificate"
    _, sent = await signed_update(api, cp.id, certificate, sign(key, IMAGE))
    assert (sent["answer"], sent["state"]) == ("InvalidCertificate", "failed")
    assert "InvalidCertificate" in sent["problem"]


async def test_a_signed_update_needs_a_pem_certificate(api, cp):
    body = {"location": "https://example.com/fw.bin", "signing_certificate": "x", "signature": "y"}
    answer = await api.post(f"/charge-points/{cp.id}/signed-firmware", json=body)
    assert answer.status_code == 422
    assert "PEM" in answer.text


def test_the_security_messages_are_validated():
    """The whitepaper's messages pass their schemas' checks as the Core ones do."""
    for action in ("GetLog", "SignedUpdateFirmware", "LogStatusNotification"):
        assert action in schemas.ACTIONS
    schemas.validate_request("SignedFirmwareStatusNotification", {"status": "InvalidSignature"})
    with pytest.raises(CallError):
        schemas.validate_request("SignedFirmwareStatusNotification", {"status": "Bogus"})
    with pytest.raises(CallError):
        schemas.validate_request("LogStatusNotification", {"status": "Uploaded", "requestId": "1"})
    with pytest.raises(CallError):
        schemas.validate_response("GetLog", {"status": "Maybe"})
