"""The OCPP WebSocket gateway: admission at the upgrade, sessions, and chargers that go away."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.exceptions import SecurityError
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ampnexus.app import AmpNexus
from tests.conftest import PASSWORD
from tests.conftest import test_settings as settings_for
from tests.support.charger import TestCharger, basic_auth, charger
from tests.support.raw import assert_alive, exchange, raw_charger, receive
from tests.support.server import api_client, running


async def refused(url: str, headers: dict[str, str] | None = None, **options: Any) -> int:
    """Try the upgrade, which must fail; return the HTTP status the server answered with."""
    options.setdefault("subprotocols", ["ocpp1.6"])
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, additional_headers=headers, **options):
            pass
    return caught.value.response.status_code


async def poll(check: Any, within: float = 5.0) -> Any:
    """Await `check()` until it returns something truthy, or fail after `within` s."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def connected(api: httpx.AsyncClient, charge_point_id: str) -> bool:
    response = await api.get(f"/charge-points/{charge_point_id}")
    assert response.status_code == 200, response.text
    return bool(response.json()["connected"])


# --- admission at the upgrade -----------------------------------------------------------------
async def test_unknown_charger_gets_404(ocpp_url: str, registered: str) -> None:
    assert await refused(f"{ocpp_url}/CP-UNKNOWN", basic_auth("CP-UNKNOWN", PASSWORD)) == 404
    assert await refused(f"{ocpp_url}/CP-UNKNOWN") == 404


@pytest.mark.parametrize(
    "headers",
    [
        basic_auth("CP-1", "wrong-password-but-long-enough"),
        None,
        basic_auth("CP-2", PASSWORD),  # the right password, under another charger's name
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": f"Bearer {PASSWORD}"},
    ],
    ids=["wrong-password", "no-credentials", "other-username", "garbled-basic", "not-basic"],
)
async def test_profile_1_charger_without_right_credentials_gets_401(
    ocpp_url: str, registered: str, headers: dict[str, str] | None
) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(
            f"{ocpp_url}/{registered}", subprotocols=["ocpp1.6"], additional_headers=headers
        ):
            pass
    response = caught.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    # and the right credentials still get in afterwards
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"


async def test_profile_0_charger_connects_without_credentials(
    api: httpx.AsyncClient, ocpp_url: str
) -> None:
    response = await api.post("/charge-points", json={"id": "CP-OPEN", "security_profile": 0})
    assert response.status_code == 201, response.text
    async with charger(ocpp_url, "CP-OPEN") as cp:
        assert cp.websocket.subprotocol == "ocpp1.6"
        assert (await cp.boot()).status == "Accepted"
        assert await connected(api, "CP-OPEN")


async def test_charger_offering_no_subprotocol_is_served(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with connect(
        f"{ocpp_url}/{registered}", additional_headers=basic_auth(registered, PASSWORD)
    ) as websocket:
        assert websocket.subprotocol is None
        cp = TestCharger(registered, websocket)
        task = asyncio.create_task(cp.start())
        try:
            assert (await cp.boot()).status == "Accepted"
            assert (await cp.heartbeat()).current_time.endswith("Z")
            assert await connected(api, registered)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@pytest.mark.parametrize("offered", [["ocpp2.0.1"], ["ocpp2.0.1", "ocpp2.0"]])
async def test_charger_offering_only_other_subprotocols_is_refused(
    ocpp_url: str, registered: str, offered: list[str]
) -> None:
    headers = basic_auth(registered, PASSWORD)
    assert await refused(f"{ocpp_url}/{registered}", headers, subprotocols=offered) == 400


async def test_charger_offering_several_subprotocols_gets_ocpp16(
    ocpp_url: str, registered: str
) -> None:
    async with charger(ocpp_url, registered, PASSWORD, subprotocols=["ocpp2.0.1", "ocpp1.6"]) as cp:
        assert cp.websocket.subprotocol == "ocpp1.6"
        assert (await cp.boot()).status == "Accepted"


@pytest.mark.parametrize("path", ["/CP-1", "/ws/CP-1", "/ocpp/", "/ocpp", "/ocpp/CP-1/extra", "/"])
async def test_path_not_naming_a_charger_under_ocpp_gets_404(
    server: AmpNexus, registered: str, path: str
) -> None:
    url = f"ws://127.0.0.1:{server.ocpp_port}{path}"
    assert await refused(url, basic_auth(registered, PASSWORD)) == 404


# --- one session per charger ------------------------------------------------------------------
async def test_second_connection_replaces_the_first(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with charger(ocpp_url, registered, PASSWORD) as first:
        assert (await first.boot()).status == "Accepted"
        async with charger(ocpp_url, registered, PASSWORD) as second:
            await asyncio.wait_for(first.websocket.wait_closed(), 5)
            assert first.websocket.close_code == 1000

            assert (await second.heartbeat()).current_time
            assert await connected(api, registered)
            # Commands now go to the second connection, and only there.
            response = await api.post(f"/charge-points/{registered}/reset", json={"type": "Soft"})
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "Accepted"
            assert await second.wait_for("Reset") == {"type": "Soft"}
            assert not [action for action, _ in first.received]
        # Once the second (current) one closes, the charger is offline.
        await poll(lambda: _not(connected(api, registered)))


async def _not(check: Any) -> bool:
    return not await check


# --- Pending: an unknown charger waits for the operator -----------------------------------------
@pytest.fixture
async def pending_server(database_url: str) -> AsyncIterator[AmpNexus]:
    async with running(settings_for(database_url, unknown_chargers="pending")) as app:
        yield app


@pytest.fixture
async def pending_api(pending_server: AmpNexus) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(pending_server) as client:
        yield client


async def test_unknown_charger_is_pending_until_the_operator_accepts_it(
    pending_server: AmpNexus, pending_api: httpx.AsyncClient
) -> None:
    ocpp_url = f"ws://127.0.0.1:{pending_server.ocpp_port}/ocpp"
    async with charger(ocpp_url, "CP-NEW") as cp:
        boot = await cp.boot()
        assert boot.status == "Pending"
        assert boot.interval > 0

        with pytest.raises(SecurityError) as caught:
            await cp.call(call.Heartbeat(), suppress=False)
        assert caught.value.description

        listed = (await pending_api.get("/charge-points")).json()
        shown = next(item for item in listed["items"] if item["id"] == "CP-NEW")
        assert shown["registration_status"] == "Pending"
        assert shown["connected"] is True
        assert shown["vendor"] == "AmpNexusTest"

        response = await pending_api.patch(
            "/charge-points/CP-NEW", json={"registration_status": "Accepted"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["registration_status"] == "Accepted"

        trigger = await cp.wait_for("TriggerMessage")  # snake_case, as the ocpp package gives it
        assert trigger == {"requested_message": "BootNotification"}
        boot = await cp.boot()
        assert boot.status == "Accepted"
        assert boot.interval == pending_server.settings.heartbeat_interval
        assert (await cp.heartbeat()).current_time.endswith("Z")


async def test_pending_charger_gets_exact_security_error_frame(pending_server: AmpNexus) -> None:
    ocpp_url = f"ws://127.0.0.1:{pending_server.ocpp_port}/ocpp"
    async with raw_charger(ocpp_url, "CP-RAW") as ws:
        boot = await exchange(
            ws, [2, "b-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        )
        assert boot[:2] == [3, "b-1"] and boot[2]["status"] == "Pending", boot
        reply = await exchange(ws, [2, "h-1", "Heartbeat", {}])
        assert reply[:3] == [4, "h-1", "SecurityError"], reply
        assert reply[3] and isinstance(reply[4], dict), reply
        # a BootNotification is still allowed, and still Pending
        again = await exchange(
            ws, [2, "b-2", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        )
        assert again[:2] == [3, "b-2"] and again[2]["status"] == "Pending", again


async def test_rejecting_a_pending_charger_closes_its_connection(
    pending_server: AmpNexus, pending_api: httpx.AsyncClient
) -> None:
    ocpp_url = f"ws://127.0.0.1:{pending_server.ocpp_port}/ocpp"
    async with charger(ocpp_url, "CP-NO") as cp:
        assert (await cp.boot()).status == "Pending"
        response = await pending_api.patch(
            "/charge-points/CP-NO", json={"registration_status": "Rejected"}
        )
        assert response.status_code == 200, response.text
        await asyncio.wait_for(cp.websocket.wait_closed(), 5)
        assert cp.websocket.close_code == 1008


async def test_deleting_a_connected_charger_closes_its_connection(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"
        response = await api.delete(f"/charge-points/{registered}")
        assert response.status_code == 204, response.text
        await asyncio.wait_for(cp.websocket.wait_closed(), 5)
        assert cp.websocket.close_code == 1008
    assert await refused(f"{ocpp_url}/{registered}", basic_auth(registered, PASSWORD)) == 404


async def test_pending_mode_still_refuses_invalid_ids(pending_server: AmpNexus) -> None:
    url = f"ws://127.0.0.1:{pending_server.ocpp_port}/ocpp/bad%20id"
    assert await refused(url) == 404


# --- chargers that are gone or do not answer ----------------------------------------------------
async def test_disconnected_charger_shows_offline_and_commands_get_409(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    # registered but never connected
    response = await api.post(f"/charge-points/{registered}/reset", json={"type": "Soft"})
    assert response.status_code == 409, response.text

    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        assert await connected(api, registered)
    await poll(lambda: _not(connected(api, registered)))

    shown = (await api.get(f"/charge-points/{registered}")).json()
    assert shown["connected"] is False
    last_seen = datetime.fromisoformat(shown["last_seen"].replace("Z", "+00:00"))
    if last_seen.tzinfo is None:
        last_seen = last_seen.replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - last_seen) < timedelta(minutes=1), shown

    response = await api.post(f"/charge-points/{registered}/reset", json={"type": "Soft"})
    assert response.status_code == 409, response.text
    assert response.json()["detail"]
    # an unregistered charger is 404, not 409
    response = await api.post("/charge-points/CP-NOBODY/reset", json={"type": "Soft"})
    assert response.status_code == 404, response.text


async def test_last_seen_is_stored_and_outlives_the_process(
    server: AmpNexus, database_url: str, ocpp_url: str, registered: str
) -> None:
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.heartbeat()
    await server.services.charge_points.flush_last_seen()
    live = (await server.services.charge_points.get(registered)).charge_point.last_seen
    assert live is not None

    other = AmpNexus(settings_for(database_url))  # a restarted CSMS, on the same database
    await other.start()
    try:
        view = await other.services.charge_points.get(registered)
    finally:
        await other.stop()
    assert view.connected is False
    assert view.charge_point.last_seen is not None
    assert abs(view.charge_point.last_seen - live) < timedelta(milliseconds=1)


@pytest.mark.settings(command_timeout=60.0)
async def test_charger_going_away_mid_command_gives_409_without_waiting(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    """A long command timeout, so that only the disconnect can end the wait in time (a
    loaded test machine may take a second or two; the timeout would take a minute)."""
    loop = asyncio.get_running_loop()
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        started = loop.time()
        command = asyncio.create_task(
            api.post(f"/charge-points/{registered}/reset", json={"type": "Soft"}, timeout=90)
        )
        request = await receive(ws)
        assert request[2] == "Reset", request
        await ws.close()
    response = await command
    assert response.status_code == 409, response.text
    assert loop.time() - started < server.settings.command_timeout / 4


async def test_silent_charger_gives_504_within_the_command_timeout(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    timeout = server.settings.command_timeout
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        cp.silent = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await api.post(f"/charge-points/{registered}/reset", json={"type": "Soft"})
        elapsed = loop.time() - started
        assert response.status_code == 504, response.text
        assert response.json()["detail"]
        assert timeout - 0.1 <= elapsed < timeout + 5, elapsed  # slack for a loaded machine
        assert await cp.wait_for("Reset") == {"type": "Soft"}


async def test_late_answer_is_ignored_and_next_command_works(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        url = f"/charge-points/{registered}/reset"
        first = asyncio.create_task(api.post(url, json={"type": "Soft"}))
        request = await receive(ws)
        assert request[0] == 2 and request[2:] == ["Reset", {"type": "Soft"}], request
        assert (await first).status_code == 504

        await ws.send(f'[3, "{request[1]}", {{"status": "Accepted"}}]')  # too late
        await assert_alive(ws)  # no reply to it, and the connection is up

        second = asyncio.create_task(api.post(url, json={"type": "Hard"}))
        request2 = await receive(ws)
        assert request2[0] == 2 and request2[2:] == ["Reset", {"type": "Hard"}], request2
        assert request2[1] != request[1]
        await ws.send(f'[3, "{request2[1]}", {{"status": "Rejected"}}]')
        response = await second
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "Rejected", "payload": {"status": "Rejected"}}


@pytest.mark.settings(http_max_body_bytes=64 * 2**20)  # room for a frame no buffer holds
async def test_charger_that_stopped_reading_gives_504_within_the_command_timeout(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    """A dead TCP peer: the CSMS's send blocks once the socket buffers are full. The
    timeout must cover that send too, not only the wait for the answer."""
    timeout = server.settings.command_timeout
    data = base64.b64encode(os.urandom(12_000_000)).decode()  # random: no deflate shrinks it
    loop = asyncio.get_running_loop()
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        ws.transport.pause_reading()
        try:
            started = loop.time()
            response = await api.post(
                f"/charge-points/{registered}/data-transfer",
                json={"vendor_id": "Big", "data": data},
                timeout=timeout + 10,
            )
            elapsed = loop.time() - started
        finally:
            ws.transport.abort()  # it would never complete a closing handshake
    assert response.status_code == 504, response.text
    assert elapsed < timeout + 5, elapsed  # a send it did not time would hang till +10
