"""OCPP limits over real sockets: one charger or one stranger must not starve the others.

Every test runs from this machine; loopback has all of 127.0.0.0/8, so a test binds its
client to 127.0.0.2 or 127.0.0.3 to be "another address" as the server's socket sees it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Response

from tests.conftest import PASSWORD
from tests.support.charger import basic_auth, charger
from tests.support.raw import assert_alive, exchange, raw_charger

WRONG = "not-the-password-but-long-enough"
GUESSER, STRANGER = "127.0.0.2", "127.0.0.3"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def upgrade(url: str, headers: dict[str, str] | None, source: str) -> Response | None:
    """Try the upgrade from `source`: the refusal's HTTP response, or None if admitted."""
    try:
        async with connect(
            url,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
            local_addr=(source, 0),
        ):
            return None
    except InvalidStatus as refused:
        return refused.response


def warnings(caplog: pytest.LogCaptureFixture, containing: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and containing in r.getMessage()
    ]


# --- the frame rate ----------------------------------------------------------------------------
@pytest.mark.settings(ocpp_message_rate=20, ocpp_message_burst=20)
async def test_a_flooding_charger_is_slowed_while_another_is_served_quickly(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    response = await api.post("/charge-points", json={"id": "CP-2", "password": PASSWORD})
    assert response.status_code == 201, response.text
    loop = asyncio.get_running_loop()
    flood = 400
    async with raw_charger(ocpp_url, registered, PASSWORD) as flooder:
        began = loop.time()
        for number in range(flood):  # garbage costs a token like any frame
            await flooder.send(f"garbage {number}")
        async with charger(ocpp_url, "CP-2", PASSWORD) as honest:
            for _ in range(20):
                sent = loop.time()
                await honest.heartbeat()
                assert loop.time() - sent < 2.0  # generous: it waits for nobody
        answered, elapsed = 0, 0.0
        while elapsed < 3:
            try:
                reply = json.loads(await asyncio.wait_for(flooder.recv(), 1))
            except TimeoutError:
                break
            assert reply[0] == 4 and reply[2] == "FormationViolation", reply
            answered += 1
            elapsed = loop.time() - began
            # never more than the burst plus the rate since the flood began (+ slack)
            assert answered <= 20 + 20 * elapsed + 5, (answered, elapsed)
        flooder.transport.abort()  # the server would read its backlog at 20/s for a while
    assert 20 < answered < flood


@pytest.mark.settings(
    ocpp_message_rate=10, ocpp_message_burst=5, ocpp_throttled_disconnect_seconds=1
)
async def test_a_charger_throttled_without_pause_is_disconnected_with_1008(
    ocpp_url: str, registered: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as flooder:
        for number in range(200):
            await flooder.send(json.dumps([2, f"hb-{number}", "Heartbeat", {}]))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(flooder.recv(), 30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert len(warnings(caplog, "without a pause; disconnected")) == 1
    # the charger may come back, and is served at its rate again
    async with raw_charger(ocpp_url, registered, PASSWORD) as back:
        await assert_alive(back)


@pytest.mark.settings(ocpp_message_rate=1, ocpp_message_burst=5)
async def test_a_charger_within_its_rate_is_never_throttled(ocpp_url: str, registered: str) -> None:
    loop = asyncio.get_running_loop()
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        for number in range(5):
            sent = loop.time()
            await assert_alive(ws, f"ok-{number}")
            # A throttled message would wait a second for its token; a busy machine's
            # round trip takes a fraction of that.
            assert loop.time() - sent < 0.5


# --- sampled values and message size ----------------------------------------------------------
async def start_transaction(ws: Any) -> int:
    reply = await exchange(
        ws,
        [
            2,
            "start",
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": now_iso()},
        ],
    )
    assert reply[0] == 3, reply
    return int(reply[2]["transactionId"])


def readings(count: int, per_reading: int) -> list[dict[str, Any]]:
    sample = {"value": "1000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    return [{"timestamp": now_iso(), "sampledValue": [sample] * per_reading} for _ in range(count)]


@pytest.mark.settings(ocpp_max_sampled_values=10)
async def test_sampled_values_over_the_cap_get_occurence_violation_and_nothing_is_stored(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        transaction_id = await start_transaction(ws)
        meter = {"connectorId": 1, "transactionId": transaction_id}
        # 3 readings x 4 values: 12 over all readings, though each reading is under 10
        too_many = await exchange(
            ws, [2, "mv-1", "MeterValues", meter | {"meterValue": readings(3, 4)}]
        )
        stop = {"transactionId": transaction_id, "meterStop": 500, "timestamp": now_iso()}
        too_long = await exchange(
            ws, [2, "stop-1", "StopTransaction", stop | {"transactionData": readings(11, 1)}]
        )
        just_right = await exchange(
            ws, [2, "mv-2", "MeterValues", meter | {"meterValue": readings(2, 5)}]
        )
    for reply, count in ((too_many, 12), (too_long, 11)):
        assert reply[0] == 4 and reply[2] == "OccurenceConstraintViolation", reply
        assert f"carries {count} sampled values" in reply[3] and "at most 10" in reply[3]
    assert just_right[:2] == [3, "mv-2"], just_right
    shown = (await api.get(f"/transactions/{transaction_id}")).json()
    assert shown["active"], shown  # the refused StopTransaction stopped nothing
    stored = [v for m in shown["meter_values"] for v in m["sampled_values"]]
    assert len(stored) == 10  # only the accepted message's


@pytest.mark.settings(ocpp_max_message_bytes=4096)
async def test_a_message_over_the_size_limit_closes_with_1009_logged_once(
    ocpp_url: str, registered: str, caplog: pytest.LogCaptureFixture
) -> None:
    def data_transfer(size: int) -> str:
        return json.dumps([2, "dt", "DataTransfer", {"vendorId": "Big", "data": "x" * size}])

    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        assert (await exchange(ws, data_transfer(3900)))[0] == 3  # under the limit: served
        await ws.send(data_transfer(5000))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert warnings(caplog, "sent a message over 4096 bytes") == [
        f"{registered} sent a message over 4096 bytes; closed its connection (1009)"
    ]


# --- admission throttling ------------------------------------------------------------------------
@pytest.mark.settings(ocpp_failed_upgrades_per_charger=3, ocpp_failed_upgrades_per_address=100)
async def test_wrong_passwords_lock_out_that_id_from_that_address_only(
    ocpp_url: str, registered: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{ocpp_url}/{registered}"
    for _ in range(3):
        refused = await upgrade(url, basic_auth(registered, WRONG), GUESSER)
        assert refused is not None and refused.status_code == 401
    for _ in range(20):  # refused unchecked: even the right password
        refused = await upgrade(url, basic_auth(registered, PASSWORD), GUESSER)
        assert refused is not None and refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # the real CP-1, elsewhere, still gets in; and the guesser may still try other ids
    assert await upgrade(url, basic_auth(registered, PASSWORD), "127.0.0.1") is None
    refused = await upgrade(f"{ocpp_url}/CP-OTHER", None, GUESSER)
    assert refused is not None and refused.status_code == 404
    # one line for the burst of 20 refusals, not one per attempt
    # (the seconds left are counted when the line is written: 60, or 59 on a busy machine)
    (line,) = warnings(caplog, "upgrade attempts")
    assert re.fullmatch(
        rf"refusing upgrade attempts for {registered} from {GUESSER} for (59|60) s: "
        r"3 failed within 60 s",
        line,
    ), line


@pytest.mark.settings(ocpp_failed_upgrades_per_address=5)
async def test_unknown_ids_lock_out_the_address_for_every_id(
    ocpp_url: str, registered: str
) -> None:
    for number in range(5):
        refused = await upgrade(f"{ocpp_url}/GUESS-{number}", None, STRANGER)
        assert refused is not None and refused.status_code == 404
    refused = await upgrade(f"{ocpp_url}/{registered}", basic_auth(registered, PASSWORD), STRANGER)
    assert refused is not None and refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert (
        await upgrade(f"{ocpp_url}/{registered}", basic_auth(registered, PASSWORD), GUESSER) is None
    )


@pytest.mark.settings(ocpp_failed_upgrades_per_charger=1000, ocpp_failed_upgrades_per_address=1000)
async def test_parallel_guesses_beyond_the_hashing_queue_are_refused_and_honest_reconnects_are_not(
    ocpp_url: str, registered: str
) -> None:
    url = f"{ocpp_url}/{registered}"
    assert await upgrade(url, basic_auth(registered, PASSWORD), "127.0.0.1") is None  # verified

    async def guess(number: int) -> int:
        refused = await upgrade(url, basic_auth(registered, f"{WRONG}-{number}"), GUESSER)
        assert refused is not None
        if refused.status_code == 503:
            assert refused.headers["Retry-After"] == "1"
        return refused.status_code

    async def honest_reconnect() -> Response | None:
        await asyncio.sleep(0.02)  # while the guesses are in flight
        return await upgrade(url, basic_auth(registered, PASSWORD), "127.0.0.1")

    *statuses, honest = await asyncio.gather(*(guess(n) for n in range(100)), honest_reconnect())
    assert set(statuses) == {401, 503}, statuses  # some checked, the rest refused unhashed
    assert honest is None  # remembered: no scrypt, no queue


# --- the benchmark, in miniature, so that it cannot rot ---------------------------------------
def test_the_abuse_benchmark_measures_an_honest_charger_beside_a_throttled_flood() -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "abuse.py"
    command = [sys.executable, str(bench), "--phases", "none,flood", "--duration", "2", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: a latency target missed
    phases = json.loads(done.stdout)["phases"]
    for phase in phases.values():
        assert phase["heartbeat"]["count"] > 10 and phase["health"]["count"] > 10
        assert phase["reconnect"]["count"] >= 2 and not phase["reconnect"]["failures"]
    flood = phases["flood"]["attackers"]["flood"]
    # 3.5 s of flooding (ramp-up and phase) at 20 frames/s after a burst of 200, + slack
    assert flood["frames sent"] > 1000 and 200 < flood["answered"] < 200 + 20 * 10


# --- logs stay readable --------------------------------------------------------------------------
async def test_repeated_bad_frames_and_refusals_are_one_log_line_per_burst(
    ocpp_url: str, registered: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as charger_ws:
        for number in range(30):
            reply = await exchange(charger_ws, f"garbage {number}")
            assert reply[2] == "FormationViolation"
        for number in range(10):
            reply = await exchange(charger_ws, [2, f"a-{number}", "Authorize", {"idTag": 5}])
            assert reply[2] == "TypeConstraintViolation"
    assert len(warnings(caplog, "sent a malformed frame")) == 1
    assert len(warnings(caplog, f"{registered} Authorize:")) == 1
    # wrong passwords for one id from several addresses: one line, not one per attempt
    url = f"{ocpp_url}/{registered}"
    for source in ("127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"):
        refused = await upgrade(url, basic_auth(registered, WRONG), source)
        assert refused is not None and refused.status_code == 401
    assert len(warnings(caplog, "bad or missing credentials")) == 1


@pytest.mark.settings(unknown_chargers="pending", ocpp_failed_upgrades_per_address=5)
async def test_new_ids_admitted_as_pending_count_against_their_address(
    api: httpx.AsyncClient, ocpp_url: str
) -> None:
    for number in range(5):  # each new id is admitted, and stored
        assert await upgrade(f"{ocpp_url}/NEW-{number}", None, STRANGER) is None
    refused = await upgrade(f"{ocpp_url}/NEW-5", None, STRANGER)
    assert refused is not None and refused.status_code == 429
    # the table did not grow past the budget; another address may still bring a new charger
    ids = {cp["id"] for cp in (await api.get("/charge-points")).json()["items"]}
    assert ids == {f"NEW-{number}" for number in range(5)}
    assert await upgrade(f"{ocpp_url}/NEW-6", None, GUESSER) is None
