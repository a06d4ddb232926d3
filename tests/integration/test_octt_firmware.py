"""OCA OCTT OCPP 1.6 test cases for a Central System: 3.15 Firmware Management and 3.16
Diagnostics. The test charger really downloads the firmware from the URL it is sent and
really uploads its diagnostics to the URL it is sent; the tests check the bytes arrived.
Also: the limits on what is uploaded, the URLs no one can guess, and rollouts."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.conftest import PASSWORD
from tests.integration.test_octt_core import CONNECTORS, boot, eventually, ok
from tests.support.file_charger import FileCharger, file_charger

IMAGE = os.urandom(300_000)  # a firmware image: larger than one read of a socket


@pytest.fixture
async def cp(ocpp_url: str, registered: str) -> AsyncIterator[FileCharger]:
    """An Accepted, connected charger with every connector Available."""
    async with file_charger(ocpp_url, registered, PASSWORD) as connected:
        await boot(connected)
        yield connected


async def upload_firmware(api: httpx.AsyncClient, image: bytes = IMAGE) -> dict[str, Any]:
    return ok(await api.post("/firmware", files={"file": ("fw-2.0.bin", image)}), 201)


async def firmware_state(api: httpx.AsyncClient, cp_id: str) -> dict[str, Any]:
    return ok(await api.get(f"/charge-points/{cp_id}/firmware"))


async def history(api: httpx.AsyncClient, cp_id: str) -> list[str]:
    """The charger's firmware statuses, oldest first."""
    page = ok(await api.get(f"/charge-points/{cp_id}/firmware/history"))
    return [report["status"] for report in reversed(page["items"])]


async def open_alerts(api: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    return ok(await api.get("/alerts", params={"kind": kind, "open": "true"}))["items"]


async def install(cp: FileCharger, final: str) -> None:
    """OCTT steps 5-16: Downloaded, connectors Unavailable, Installing, reboot, Available,
    and the final status."""
    await cp.firmware_status("Downloaded")
    for connector_id in CONNECTORS:
        await cp.status(connector_id, "Unavailable")
    await cp.firmware_status("Installing")
    assert (await cp.boot()).status == "Accepted"
    for connector_id in CONNECTORS:
        await cp.status(connector_id, "Available")
    await cp.firmware_status(final)


# --- 3.15 Firmware Management -------------------------------------------------------------------
async def test_TC_044_1_firmware_update_download_and_install(api, cp):
    """TC_044_1_CSMS: Firmware Update - Download and Install."""
    firmware = await upload_firmware(api)
    assert (firmware["size"], firmware["sha256"]) == (len(IMAGE), hashlib.sha256(IMAGE).hexdigest())

    sent = ok(
        await api.post(f"/charge-points/{cp.id}/firmware", json={"firmware_id": firmware["id"]}),
        201,
    )
    assert (sent["state"], sent["answer"], sent["signed"]) == ("pending", "Accepted", False)
    request = await cp.wait_for("UpdateFirmware")
    assert request["location"] == firmware["download_url"] == sent["location"]
    assert request["retrieve_date"]

    await cp.firmware_status("Downloading")
    assert (await firmware_state(api, cp.id))["update"]["state"] == "downloading"
    downloaded = await cp.fetch(request["location"])
    assert downloaded.status_code == 200
    assert downloaded.content == IMAGE
    await install(cp, "Installed")

    state = await firmware_state(api, cp.id)
    assert state["status"] == "Installed"
    assert (state["update"]["id"], state["update"]["state"]) == (sent["id"], "installed")
    assert await history(api, cp.id) == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert await open_alerts(api, "firmware_failed") == []


async def test_TC_044_2_firmware_update_download_failed(server: AmpNexus, api, cp):
    """TC_044_2_CSMS: Firmware Update - Download Failed. The charger is sent a URL whose
    file is not there: its download fails, and the operator hears of it."""
    missing = f"http://127.0.0.1:{server.http_port}/files/firmware/{'x' * 43}/fw.bin"
    sent = ok(
        await api.post(
            f"/charge-points/{cp.id}/firmware",
            json={"location": missing, "retries": 2, "retry_interval": 30},
        ),
        201,
    )
    request = await cp.wait_for("UpdateFirmware")
    assert (request["location"], request["retries"], request["retry_interval"]) == (missing, 2, 30)

    await cp.firmware_status("Downloading")
    assert (await cp.fetch(request["location"])).status_code == 404
    await cp.firmware_status("DownloadFailed")

    state = await firmware_state(api, cp.id)
    assert (state["status"], state["update"]["id"]) == ("DownloadFailed", sent["id"])
    assert state["update"]["state"] == "failed"
    (alert,) = await open_alerts(api, "firmware_failed")
    assert alert["charge_point_id"] == cp.id
    assert "DownloadFailed" in alert["message"]


async def test_TC_044_3_firmware_update_installation_failed(api, cp):
    """TC_044_3_CSMS: Firmware Update - Installation Failed."""
    firmware = await upload_firmware(api)
    ok(
        await api.post(f"/charge-points/{cp.id}/firmware", json={"firmware_id": firmware["id"]}),
        201,
    )
    request = await cp.wait_for("UpdateFirmware")
    await cp.firmware_status("Downloading")
    assert (await cp.fetch(request["location"])).content == IMAGE
    await install(cp, "InstallationFailed")

    state = await firmware_state(api, cp.id)
    assert (state["status"], state["update"]["state"]) == ("InstallationFailed", "failed")
    assert await history(api, cp.id) == [
        "Downloading",
        "Downloaded",
        "Installing",
        "InstallationFailed",
    ]
    assert len(await open_alerts(api, "firmware_failed")) == 1
    # The reboot left the charger Available, as it reported.
    shown = ok(await api.get(f"/charge-points/{cp.id}"))
    assert {c["status"] for c in shown["connectors"]} == {"Available"}


# --- 3.16 Diagnostics ---------------------------------------------------------------------------
async def test_TC_045_1_get_diagnostics(api, cp):
    """TC_045_1_CSMS: Get Diagnostics. The charger uploads to the location it was sent."""
    asked = ok(await api.post(f"/charge-points/{cp.id}/diagnostics", json={"retries": 1}), 201)
    assert (asked["answer"], asked["file_name"]) == ("Accepted", "diagnostics.zip")
    request = await cp.wait_for("GetDiagnostics")
    assert request["retries"] == 1

    await cp.diagnostics_status("Uploading")
    diagnostics = os.urandom(120_000)
    uploaded = await cp.put_file(request["location"], diagnostics)
    assert uploaded.status_code == 200, uploaded.text
    await cp.diagnostics_status("Uploaded")

    shown = ok(await api.get(f"/charge-points/{cp.id}/diagnostics/{asked['id']}"))
    assert (shown["status"], shown["size"]) == ("Uploaded", len(diagnostics))
    assert shown["sha256"] == hashlib.sha256(diagnostics).hexdigest()
    file = await api.get(f"/charge-points/{cp.id}/diagnostics/{asked['id']}/file")
    assert file.status_code == 200
    assert file.content == diagnostics
    assert "diagnostics.zip" in file.headers["content-disposition"]
    listed = ok(await api.get(f"/charge-points/{cp.id}/diagnostics"))
    assert [item["id"] for item in listed["items"]] == [asked["id"]]


async def test_TC_045_2_get_diagnostics_upload_failed(api, cp):
    """TC_045_2_CSMS: Get Diagnostics - Upload Failed."""
    asked = ok(await api.post(f"/charge-points/{cp.id}/diagnostics", json={}), 201)
    await cp.wait_for("GetDiagnostics")
    await cp.diagnostics_status("Uploading")
    await cp.diagnostics_status("UploadFailed")

    shown = ok(await api.get(f"/charge-points/{cp.id}/diagnostics/{asked['id']}"))
    assert (shown["status"], shown["size"], shown["uploaded_at"]) == ("UploadFailed", None, None)
    missing = await api.get(f"/charge-points/{cp.id}/diagnostics/{asked['id']}/file")
    assert missing.status_code == 404


async def test_a_charger_without_diagnostics_says_so(api, cp):
    cp.diagnostics_file = None
    asked = ok(await api.post(f"/charge-points/{cp.id}/diagnostics", json={}), 201)
    assert (asked["answer"], asked["file_name"]) == ("NoDiagnostics", None)


# --- limits and unguessable URLs ----------------------------------------------------------------
@pytest.mark.settings(firmware_max_bytes=4096, upload_max_bytes=2048)
async def test_uploads_over_their_limit_are_refused_and_not_kept(server: AmpNexus, api, cp):
    too_big = await api.post("/firmware", params={"name": "big.bin"}, content=os.urandom(5000))
    assert too_big.status_code == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(5):
            yield os.urandom(1000)

    streamed = await api.post("/firmware", params={"name": "big.bin"}, content=chunked())
    assert streamed.status_code == 413
    assert ok(await api.get("/firmware"))["total"] == 0
    fits = await api.post("/firmware", params={"name": "small.bin"}, content=b"x" * 4096)
    assert fits.status_code == 201, fits.text

    asked = ok(await api.post(f"/charge-points/{cp.id}/diagnostics", json={}), 201)
    location = (await cp.wait_for("GetDiagnostics"))["location"]
    assert (await cp.put_file(location, os.urandom(3000))).status_code == 413
    assert (await cp.post_form(location, "d.zip", os.urandom(3000))).status_code == 413
    shown = ok(await api.get(f"/charge-points/{cp.id}/diagnostics/{asked['id']}"))
    assert (shown["size"], shown["uploaded_at"]) == (None, None)
    stored = server.settings.data_dir / "files" / "uploads"
    assert not stored.exists() or list(stored.iterdir()) == []  # no partial file left


async def test_file_urls_cannot_be_guessed_and_a_wrong_one_is_404(server: AmpNexus, api, cp):
    first, second = await upload_firmware(api), await upload_firmware(api, b"other image")
    base = f"http://127.0.0.1:{server.http_port}/files/firmware"
    token = first["download_url"].removeprefix(f"{base}/").split("/")[0]
    assert len(token) >= 43  # 256 random bits
    assert token not in second["download_url"]
    assert (await cp.fetch(first["download_url"])).content == IMAGE  # no API key needed
    other = "A" if token[-1] != "A" else "B"  # one character off (the same would be right)
    for wrong in (
        f"{base}/{token[:-1]}{other}/fw-2.0.bin",
        f"{base}/{token}/other.bin",
        f"{base}/fw-2.0.bin",
        f"http://127.0.0.1:{server.http_port}/files/firmware/{first['id']}/fw-2.0.bin",
    ):
        assert (await cp.fetch(wrong)).status_code == 404, wrong

    ok(await api.post(f"/charge-points/{cp.id}/diagnostics", json={}), 201)
    location = (await cp.wait_for("GetDiagnostics"))["location"]
    wrong_upload = location[:-4] + ("AAAA" if not location.endswith("AAAA") else "BBBB")
    assert (await cp.put_file(wrong_upload, b"data")).status_code == 404

    deleted = await api.delete(f"/firmware/{first['id']}")
    assert deleted.status_code == 204
    assert (await cp.fetch(first["download_url"])).status_code == 404
    assert (await api.get(f"/firmware/{first['id']}")).status_code == 404


async def test_firmware_takes_a_raw_body_and_lists(api):
    raw = ok(
        await api.post("/firmware", params={"name": "raw.bin"}, content=b"\x00\x01" * 700), 201
    )
    assert (raw["name"], raw["size"]) == ("raw.bin", 1400)
    assert (await api.post("/firmware", content=b"nameless")).status_code == 422
    listed = ok(await api.get("/firmware"))
    assert [item["id"] for item in listed["items"]] == [raw["id"]]


async def test_an_update_needs_one_firmware_and_a_connected_charger(api, ocpp_url, registered):
    both = {"firmware_id": 1, "location": "http://example.com/fw.bin"}
    assert (await api.post(f"/charge-points/{registered}/firmware", json=both)).status_code == 422
    assert (await api.post(f"/charge-points/{registered}/firmware", json={})).status_code == 422
    bad_url = {"location": "file:///etc/passwd"}
    assert (
        await api.post(f"/charge-points/{registered}/firmware", json=bad_url)
    ).status_code == 422
    fine = {"location": "http://example.com/fw.bin"}
    assert (await api.post(f"/charge-points/{registered}/firmware", json=fine)).status_code == 409
    assert (await api.post("/charge-points/NOPE/firmware", json=fine)).status_code == 404
    async with file_charger(ocpp_url, registered, PASSWORD) as cp:
        await boot(cp)
        unknown = {"firmware_id": 999}
        assert (await api.post(f"/charge-points/{cp.id}/firmware", json=unknown)).status_code == 422


# --- rollouts -----------------------------------------------------------------------------------
async def test_rollout_progress_per_charger_and_offline_chargers_get_it_on_boot(api, ocpp_url):
    for cp_id in ("CP-A", "CP-B", "CP-C"):
        ok(await api.post("/charge-points", json={"id": cp_id, "password": PASSWORD}), 201)
    firmware = await upload_firmware(api)

    async with (
        file_charger(ocpp_url, "CP-A", PASSWORD) as a,
        file_charger(ocpp_url, "CP-B", PASSWORD) as b,
    ):
        await boot(a)
        await boot(b)
        body = {"charge_point_ids": ["CP-A", "CP-B", "CP-C"], "firmware_id": firmware["id"]}
        rollout = ok(await api.post("/firmware-rollouts", json=body), 201)
        assert rollout["counts"] == counts(pending=3)
        by_charger = {update["charge_point_id"]: update for update in rollout["chargers"]}
        assert by_charger["CP-A"]["sent_at"] and by_charger["CP-B"]["sent_at"]
        assert by_charger["CP-C"]["sent_at"] is None
        assert "offline" in by_charger["CP-C"]["problem"]

        for charger in (a, b):
            location = (await charger.wait_for("UpdateFirmware"))["location"]
            await charger.firmware_status("Downloading")
            assert (await charger.fetch(location)).content == IMAGE
        await a.firmware_status("Downloaded")
        await a.firmware_status("Installing")
        await b.firmware_status("Downloaded")
        progress = ok(await api.get(f"/firmware-rollouts/{rollout['id']}"))
        assert progress["counts"] == counts(pending=1, downloaded=1, installing=1)
        await a.firmware_status("Installed")

        async with file_charger(ocpp_url, "CP-C", PASSWORD) as c:
            await boot(c)  # offline when the rollout began: it gets the update now
            location = (await c.wait_for("UpdateFirmware"))["location"]
            assert location == firmware["download_url"]
            await c.firmware_status("DownloadFailed")

    async def all_reported() -> bool:
        shown = ok(await api.get(f"/firmware-rollouts/{rollout['id']}"))
        return shown["counts"] == counts(installed=1, downloaded=1, failed=1)

    await eventually(all_reported)
    shown = ok(await api.get(f"/firmware-rollouts/{rollout['id']}"))
    states = {update["charge_point_id"]: update["state"] for update in shown["chargers"]}
    assert states == {"CP-A": "installed", "CP-B": "downloaded", "CP-C": "failed"}
    assert (await api.get("/firmware-rollouts/999")).status_code == 404


async def test_a_rollout_names_registered_chargers_only(api):
    body = {"charge_point_ids": ["NOPE"], "location": "http://example.com/fw.bin"}
    assert (await api.post("/firmware-rollouts", json=body)).status_code == 404
    empty = {"charge_point_ids": [], "location": "http://example.com/fw.bin"}
    assert (await api.post("/firmware-rollouts", json=empty)).status_code == 422


def counts(**given: int) -> dict[str, int]:
    states = ("pending", "downloading", "downloaded", "installing", "installed", "failed")
    return {state: given.get(state, 0) for state in states}


async def test_triggered_status_notifications_are_answered_and_kept(api, cp):
    """TriggerMessage for FirmwareStatusNotification and DiagnosticsStatusNotification: the
    charger's answers (Idle: nothing going on) are taken, not refused as NotSupported."""
    for message in ("FirmwareStatusNotification", "DiagnosticsStatusNotification"):
        reply = ok(
            await api.post(
                f"/charge-points/{cp.id}/trigger-message", json={"requested_message": message}
            )
        )
        assert reply["status"] == "Accepted"
    await cp.firmware_status("Idle")
    await cp.diagnostics_status("Idle")
    state = await firmware_state(api, cp.id)
    assert (state["status"], state["update"]) == ("Idle", None)
    assert await history(api, cp.id) == ["Idle"]


async def test_an_offline_charger_gets_only_its_latest_rollout(api, ocpp_url, registered):
    old = {"charge_point_ids": [registered], "location": "http://example.com/fw-1.bin"}
    new = {"charge_point_ids": [registered], "location": "http://example.com/fw-2.bin"}
    first = ok(await api.post("/firmware-rollouts", json=old), 201)
    second = ok(await api.post("/firmware-rollouts", json=new), 201)
    async with file_charger(ocpp_url, registered, PASSWORD) as cp:
        await boot(cp)
        assert (await cp.wait_for("UpdateFirmware"))["location"] == new["location"]

        async def settled() -> bool:
            shown = ok(await api.get(f"/firmware-rollouts/{first['id']}"))
            return shown["counts"]["failed"] == 1

        await eventually(settled)
        assert [action for action, _ in cp.received].count("UpdateFirmware") == 1
    (superseded,) = ok(await api.get(f"/firmware-rollouts/{first['id']}"))["chargers"]
    assert superseded["problem"] == f"superseded by update {second['chargers'][0]['id']}"
    (sent,) = ok(await api.get(f"/firmware-rollouts/{second['id']}"))["chargers"]
    assert (sent["state"], sent["problem"]) == ("pending", None)
    assert sent["sent_at"] is not None


async def test_a_status_sent_right_after_the_answer_is_not_lost(api, cp):
    """A charger that reports Downloading the moment it has answered: the status lands on
    the update, and the command's own bookkeeping does not put it back to pending."""
    cp.status_after_update = "Downloading"
    firmware = await upload_firmware(api)
    body = {"firmware_id": firmware["id"]}
    sent = ok(await api.post(f"/charge-points/{cp.id}/firmware", json=body), 201)

    async def downloading() -> bool:
        update = (await firmware_state(api, cp.id))["update"]
        return update["last_status"] == "Downloading"

    await eventually(downloading)
    update = (await firmware_state(api, cp.id))["update"]
    assert (update["id"], update["state"], update["answer"]) == (
        sent["id"],
        "downloading",
        "Accepted",
    )
    (report,) = ok(await api.get(f"/charge-points/{cp.id}/firmware/history"))["items"]
    assert report["subject_id"] == sent["id"]
