"""What chargers send, shown by the API: their boot details, a session's reservation and the
tag that stopped it, readings sent outside any transaction, and DataTransfer messages both
ways. Over real WebSockets, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from tests.conftest import PASSWORD
from tests.integration.test_octt_core import VALID, boot, iso, ok, transaction
from tests.support.charger import TestCharger, charger


@pytest.fixture
async def cp(api: httpx.AsyncClient, ocpp_url: str, registered: str) -> AsyncIterator[TestCharger]:
    ok(await api.post("/id-tags", json={"id_tag": VALID, "status": "Accepted"}), 201)
    ok(await api.post("/id-tags", json={"id_tag": "STOPPER", "status": "Accepted"}), 201)
    async with charger(ocpp_url, registered, PASSWORD) as connected:
        await boot(connected)
        yield connected


# One whole minute for the module: a test that read the clock for each timestamp saw the
# minute turn between sending readings and checking them.
ANCHOR = datetime.now(UTC).replace(second=0, microsecond=0)


def at(minutes_ago: int) -> datetime:
    return ANCHOR - timedelta(minutes=minutes_ago)


def readings_of(page: dict[str, Any]) -> list[tuple[int, datetime, str, str]]:
    return [
        (r["connector_id"], datetime.fromisoformat(r["timestamp"]), r["measurand"], r["value"])
        for r in page["items"]
    ]


# --- boot details -----------------------------------------------------------------------------
async def test_every_boot_detail_is_shown(api, cp):
    answer = await cp.call(
        call.BootNotification(
            charge_point_vendor="Vendor-X",
            charge_point_model="Model-Y",
            charge_point_serial_number="CPSN-1",
            charge_box_serial_number="CBSN-2",
            firmware_version="4.5.6",
            iccid="89310410106543789301",
            imsi="204043721234567",
            meter_type="Eastron SDM630",
            meter_serial_number="MSN-3",
        )
    )
    assert answer.status == "Accepted"
    expected = {
        "vendor": "Vendor-X",
        "model": "Model-Y",
        "serial_number": "CPSN-1",
        "charge_box_serial_number": "CBSN-2",
        "firmware_version": "4.5.6",
        "iccid": "89310410106543789301",
        "imsi": "204043721234567",
        "meter_type": "Eastron SDM630",
        "meter_serial_number": "MSN-3",
    }
    shown = ok(await api.get(f"/charge-points/{cp.id}"))
    assert {key: shown[key] for key in expected} == expected
    [listed] = ok(await api.get("/charge-points"))["items"]
    assert {key: listed[key] for key in expected} == expected

    # A later boot without the optional fields clears them: it is the charger as it is now.
    assert (await cp.boot(vendor="Vendor-X", model="Model-Z")).status == "Accepted"
    shown = ok(await api.get(f"/charge-points/{cp.id}"))
    assert (shown["model"], shown["iccid"], shown["meter_type"]) == ("Model-Z", None, None)


# --- a session's reservation and stop tag -------------------------------------------------------
async def test_a_sessions_reservation_and_stop_tag_are_shown(api, cp):
    started = await cp.call(
        call.StartTransaction(
            connector_id=1, id_tag=VALID, meter_start=100, timestamp=iso(at(10)), reservation_id=42
        )
    )
    running = await transaction(api, started.transaction_id)
    assert (running["reservation_id"], running["stop_id_tag"], running["stop_detail"]) == (
        42,
        None,
        None,
    )
    await cp.stop_transaction(started.transaction_id, 900, reason="Local", id_tag="STOPPER")
    unreserved = await cp.start_transaction(2, VALID, 50)

    shown = await transaction(api, started.transaction_id)
    assert (shown["reservation_id"], shown["stop_id_tag"], shown["stop_reason"]) == (
        42,
        "STOPPER",
        "Local",
    )
    listed = ok(await api.get("/transactions", params={"charge_point_id": cp.id}))["items"]
    assert [(t["id"], t["reservation_id"], t["stop_id_tag"]) for t in listed] == [
        (unreserved.transaction_id, None, None),
        (started.transaction_id, 42, "STOPPER"),
    ]


# --- readings outside any transaction -----------------------------------------------------------
async def test_readings_without_a_transaction_are_listed_newest_first(api, cp):
    await cp.meter_values(0, None, 10_000, 11_000, timestamp=iso(at(30)))  # main meter
    await cp.meter_values(1, None, 500, 0, timestamp=iso(at(20)))
    await cp.meter_values(2, None, 700, 0, timestamp=iso(at(10)))
    session = await cp.start_transaction(1, VALID, 500, iso(at(9)))
    await cp.meter_values(
        1, session.transaction_id, 900, 3_600, timestamp=iso(at(5))
    )  # a session's
    await cp.meter_values(2, 999_999, 1_000, 0, timestamp=iso(at(4)))

    path = f"/charge-points/{cp.id}/meter-values"
    page = ok(await api.get(path))
    assert page["total"] == 6  # three readings of two samples each
    assert [(c, t) for c, t, _, _ in readings_of(page)][::2] == [
        (2, at(10)),
        (1, at(20)),
        (0, at(30)),
    ]
    first = page["items"][0]
    assert {key: first[key] for key in ("measurand", "unit", "context", "location")} == {
        "measurand": "Energy.Active.Import.Register",
        "unit": "Wh",
        "context": "Sample.Periodic",
        "location": "Outlet",
    }

    paged = ok(await api.get(path, params={"limit": 2, "offset": 2}))
    assert (paged["total"], paged["limit"], paged["offset"]) == (6, 2, 2)
    assert readings_of(paged) == readings_of(page)[2:4]

    on_one = ok(await api.get(path, params={"connector_id": 1}))
    assert {(c, t, v) for c, t, _, v in readings_of(on_one)} == {
        (1, at(20), "500"),
        (1, at(20), "0"),
    }
    window = {"since": iso(at(25)), "until": iso(at(10))}  # [since, until)
    assert {(c, t) for c, t, _, _ in readings_of(ok(await api.get(path, params=window)))} == {
        (1, at(20))
    }


async def test_readings_of_an_unknown_charger_or_with_bad_filters_are_refused(api, cp):
    assert (await api.get("/charge-points/NOPE/meter-values")).status_code == 404
    path = f"/charge-points/{cp.id}/meter-values"
    for params in ({"connector_id": -1}, {"since": "yesterday"}, {"limit": 0}):
        assert (await api.get(path, params=params)).status_code == 422, params


# --- data transfers both ways ---------------------------------------------------------------
async def test_data_transfers_both_ways_are_listed_newest_first(api, cp):
    inbound = await cp.call(call.DataTransfer(vendor_id="com.vendor", message_id="Hi", data="1"))
    assert inbound.status == "UnknownVendorId"
    reply = ok(
        await api.post(
            f"/charge-points/{cp.id}/data-transfer",
            json={"vendor_id": "com.vendor", "message_id": "Ping", "data": "2"},
        )
    )
    assert reply["status"] == "Accepted"
    cp.answers["DataTransfer"] = "Rejected"
    body = {"vendor_id": "com.other"}
    assert ok(await api.post(f"/charge-points/{cp.id}/data-transfer", json=body))["status"] == (
        "Rejected"
    )

    page = ok(await api.get(f"/charge-points/{cp.id}/data-transfers"))
    assert page["total"] == 3
    shown = [
        (d["direction"], d["vendor_id"], d["message_id"], d["data"], d["status"])
        for d in page["items"]
    ]
    assert shown == [
        ("out", "com.other", None, None, "Rejected"),
        ("out", "com.vendor", "Ping", "2", "Accepted"),
        ("in", "com.vendor", "Hi", "1", "UnknownVendorId"),
    ]
    second = ok(await api.get(f"/charge-points/{cp.id}/data-transfers", params={"offset": 1}))
    assert [d["id"] for d in second["items"]] == [d["id"] for d in page["items"][1:]]
    assert (await api.get("/charge-points/NOPE/data-transfers")).status_code == 404


async def test_a_data_transfer_the_charger_never_answers_is_listed_as_such(api, cp):
    cp.silent = True
    body = {"vendor_id": "com.vendor", "data": "lost"}
    assert (await api.post(f"/charge-points/{cp.id}/data-transfer", json=body)).status_code == 504
    [record] = ok(await api.get(f"/charge-points/{cp.id}/data-transfers"))["items"]
    assert (record["direction"], record["data"], record["status"]) == ("out", "lost", "NoAnswer")
