"""Input that passes the OCPP JSON schema but makes no physical or storage sense, over a
real WebSocket to a real server on SQLite and PostgreSQL.

Each refused case gets its CALLERROR (never InternalError), the connection lives on, and
nothing of it is stored. Implausible sampled values are stored as text, never as numbers;
lower-case RFC 3339 timestamps are read; id tags compare case-insensitively end to end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from ampnexus.app import AmpNexus
from ampnexus.domain.events import PowerMeasured
from ampnexus.errors import StartupError
from ampnexus.store.database import create_db_engine
from ampnexus.store.tables import (
    charge_points,
    connectors,
    data_transfers,
    id_tags,
    meter_values,
    status_notifications,
    transactions,
)
from tests.conftest import PASSWORD
from tests.support.migrations import alembic
from tests.support.raw import assert_alive, exchange, raw_charger

INT32_MAX = 2**31 - 1
BOOT = {"chargePointVendor": "AmpNexusTest", "chargePointModel": "TC-1"}


def stamp(shift: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + shift).isoformat(timespec="seconds").replace("+00:00", "Z")


def start(**changes: Any) -> dict[str, Any]:
    return {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": stamp(), **changes}


def status(**changes: Any) -> dict[str, Any]:
    payload = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
    return {**payload, "timestamp": stamp(), **changes}


def meter(value: str = "1000", *, timestamp: str | None = None, **changes: Any) -> dict[str, Any]:
    sample = {"value": value, "measurand": "Power.Active.Import", "unit": "W"}
    reading = {"timestamp": timestamp or stamp(), "sampledValue": [sample]}
    return {"connectorId": 1, "meterValue": [reading], **changes}


def stop(transaction_id: int, **changes: Any) -> dict[str, Any]:
    payload = {"transactionId": transaction_id, "meterStop": 500, "timestamp": stamp()}
    return {**payload, **changes}


PCV = "PropertyConstraintViolation"
FAR_FUTURE, FAR_PAST = timedelta(days=2), timedelta(days=400)

# (action, payload, field the CALLERROR names); every one is PropertyConstraintViolation.
REFUSED: dict[str, tuple[str, Any, str]] = {
    # --- 32-bit integers and connector ids -----------------------------------------------------
    "meterStart-2^31": ("StartTransaction", start(meterStart=INT32_MAX + 1), "meterStart"),
    "meterStart--2^31-1": ("StartTransaction", start(meterStart=-INT32_MAX - 2), "meterStart"),
    "reservationId-2^40": ("StartTransaction", start(reservationId=2**40), "reservationId"),
    "start-connector-0": ("StartTransaction", start(connectorId=0), "connectorId"),
    "status-connector--1": ("StatusNotification", status(connectorId=-1), "connectorId"),
    "meter-connector-2^31": ("MeterValues", meter(connectorId=INT32_MAX + 1), "connectorId"),
    "meter-transactionId-2^31": ("MeterValues", meter(transactionId=2**31), "transactionId"),
    # --- NUL in any string ----------------------------------------------------------------
    "nul-idTag": ("StartTransaction", start(idTag="TAG\u00001"), "idTag"),
    "nul-vendor": (
        "BootNotification",
        {**BOOT, "chargePointVendor": "Amp\u0000"},
        "chargePointVendor",
    ),
    "nul-info": ("StatusNotification", status(info="\u0000"), "info"),
    "nul-sampled-value": ("MeterValues", meter("12\u00003"), "meterValue[0].sampledValue[0].value"),
    "nul-data-transfer": ("DataTransfer", {"vendorId": "V", "data": "a\u0000b"}, "data"),
    # --- timestamps: unrepresentable, or far from the server's clock ---------------------
    "year-0": ("StartTransaction", start(timestamp="0000-01-01T00:00:00Z"), "timestamp"),
    "year-10000": ("StartTransaction", start(timestamp="10000-01-01T00:00:00Z"), "timestamp"),
    "offset-overflow": (
        "StartTransaction",
        start(timestamp="9999-12-31T23:59:59-14:00"),
        "timestamp",
    ),
    "start-1970": ("StartTransaction", start(timestamp="1970-01-01T00:00:00Z"), "timestamp"),
    "start-future": ("StartTransaction", start(timestamp=stamp(FAR_FUTURE)), "timestamp"),
    "start-past": ("StartTransaction", start(timestamp=stamp(-FAR_PAST)), "timestamp"),
    "meter-1970": (
        "MeterValues",
        meter(timestamp="1970-01-01T00:00:00Z"),
        "meterValue[0].timestamp",
    ),
    "status-offset-overflow": (
        "StatusNotification",
        status(timestamp="9999-12-31T23:59:59-14:00"),
        "timestamp",
    ),
}


async def boot(ws: Any) -> None:
    reply = await exchange(ws, [2, "boot", "BootNotification", BOOT])
    assert reply[:2] == [3, "boot"] and reply[2]["status"] == "Accepted", reply


async def stored(server: AmpNexus) -> dict[str, Any]:
    """What the charger's messages could have left in the database."""

    def work(conn: Connection) -> dict[str, Any]:
        tables = (transactions, meter_values, status_notifications, connectors, data_transfers)
        counts = {
            table.name: conn.scalar(select(func.count()).select_from(table)) for table in tables
        }
        return {**counts, "vendor": conn.scalar(select(charge_points.c.vendor))}

    return await server.db.read(work)


@pytest.mark.parametrize(("action", "payload", "field"), REFUSED.values(), ids=REFUSED)
async def test_senseless_input_is_refused_and_nothing_is_stored(
    server: AmpNexus, ocpp_url: str, registered: str, action: str, payload: Any, field: str
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await boot(ws)
        before = await stored(server)
        reply = await exchange(ws, [2, "bad-1", action, payload])

        assert reply[:3] == [4, "bad-1", PCV], reply
        assert reply[4]["field"] == field, reply
        assert field.split("[")[0] in reply[3], reply  # the one-line reason names it
        await assert_alive(ws)
        assert await stored(server) == before


async def test_an_integer_beyond_64_bits_is_a_property_violation(
    server: AmpNexus, ocpp_url: str, registered: str
) -> None:
    """Decoded as a float, it would otherwise read as a wrong type rather than too large."""
    frame = '[2, "big-1", "StartTransaction", {"connectorId": 1, "idTag": "T", '
    frame += f'"meterStart": 99999999999999999999, "timestamp": "{stamp()}"}}]'
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        reply = await exchange(ws, frame)
        assert reply[:3] == [4, "big-1", PCV], reply
        assert reply[4]["field"] == "meterStart"
        await assert_alive(ws)
    assert (await stored(server))["transactions"] == 0


async def test_an_escaped_backslash_before_u0000_is_no_nul(
    server: AmpNexus, ocpp_url: str, registered: str
) -> None:
    """The frame-level search for the escape must not refuse a literal backslash-u0000."""
    literal = "\\u0000"  # six characters, no NUL among them
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        reply = await exchange(ws, [2, "dt-1", "DataTransfer", {"vendorId": "V", "data": literal}])
        assert reply[0] == 3, reply

    def work(conn: Connection) -> Any:
        return conn.scalar(select(data_transfers.c.data))

    assert await server.db.read(work) == literal


async def test_stop_transaction_with_a_far_timestamp_leaves_the_session_running(
    server: AmpNexus, ocpp_url: str, registered: str, api: httpx.AsyncClient
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await boot(ws)
        started = await exchange(ws, [2, "s-1", "StartTransaction", start()])
        transaction_id = started[2]["transactionId"]
        late = stop(
            transaction_id,
            transactionData=[{"timestamp": stamp(FAR_FUTURE), "sampledValue": [{"value": "5"}]}],
        )
        reply = await exchange(ws, [2, "s-2", "StopTransaction", late])
        assert reply[:3] == [4, "s-2", PCV], reply
        assert reply[4]["field"] == "transactionData[0].timestamp"
        too_big = stop(transaction_id, meterStop=2**32)
        reply = await exchange(ws, [2, "s-3", "StopTransaction", too_big])
        assert reply[:3] == [4, "s-3", PCV] and reply[4]["field"] == "meterStop", reply
        await assert_alive(ws)

    shown = (await api.get(f"/transactions/{transaction_id}")).json()
    assert shown["stopped_at"] is None and shown["meter_values"] == []


async def test_a_status_with_an_implausible_time_is_kept_without_it(
    server: AmpNexus, ocpp_url: str, registered: str, api: httpx.AsyncClient
) -> None:
    """A charger that booted at 1970 still reports its connectors: the optional timestamp
    is dropped (received_at remains), the status is not."""
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await boot(ws)
        old = status(status="Faulted", errorCode="GroundFailure", timestamp="1970-01-01T00:00:00Z")
        reply = await exchange(ws, [2, "st-1", "StatusNotification", old])
        assert reply == [3, "st-1", {}], reply

    (connector,) = (await api.get(f"/charge-points/{registered}")).json()["connectors"]
    assert connector["status"] == "Faulted"
    assert connector["timestamp"] is None


@pytest.mark.settings(timestamp_max_ahead_hours=1, timestamp_max_age_days=2)
async def test_the_window_follows_the_settings(
    server: AmpNexus, ocpp_url: str, registered: str
) -> None:
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await boot(ws)
        for shift in (timedelta(hours=2), timedelta(days=-3)):
            payload = start(timestamp=stamp(shift))
            reply = await exchange(ws, [2, "w-1", "StartTransaction", payload])
            assert reply[:3] == [4, "w-1", PCV], reply
        within = start(timestamp=stamp(timedelta(days=-1)))
        reply = await exchange(ws, [2, "w-2", "StartTransaction", within])
        assert reply[0] == 3, reply


async def test_lower_case_rfc3339_timestamps_and_offsets_are_read(
    server: AmpNexus, ocpp_url: str, registered: str, api: httpx.AsyncClient
) -> None:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    lower = moment.strftime("%Y-%m-%dt%H:%M:%Sz")
    western = (moment - timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S-07:00")
    indian = (moment + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S+05:30")
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await boot(ws)
        ids = []
        for n, (connector, text_) in enumerate(((1, lower), (2, western), (3, indian))):
            payload = start(connectorId=connector, meterStart=n, timestamp=text_)
            reply = await exchange(ws, [2, f"lc-{n}", "StartTransaction", payload])
            assert reply[0] == 3, reply
            ids.append(reply[2]["transactionId"])

    for transaction_id in ids:
        shown = (await api.get(f"/transactions/{transaction_id}")).json()
        assert datetime.fromisoformat(shown["started_at"]) == moment


async def test_implausible_sampled_values_are_text_never_numbers(
    server: AmpNexus, ocpp_url: str, registered: str
) -> None:
    measured: list[PowerMeasured] = []
    server.services.bus.subscribe(PowerMeasured, measured.append)
    odd = ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", "-1e999", "5e12"]
    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await boot(ws)
        for n, value in enumerate(odd):
            reply = await exchange(ws, [2, f"mv-{n}", "MeterValues", meter(value)])
            assert reply == [3, f"mv-{n}", {}], reply
        assert measured == []  # no odd value reached planning
        reply = await exchange(ws, [2, "mv-ok", "MeterValues", meter("7400")])
        assert reply[0] == 3, reply
    assert [event.power_w for event in measured] == [7400.0]

    def work(conn: Connection) -> list[tuple[Any, ...]]:
        rows = conn.execute(
            select(meter_values.c.value, meter_values.c.number).order_by(meter_values.c.id)
        )
        return [tuple(row) for row in rows]

    assert await server.db.read(work) == [*((value, None) for value in odd), ("7400", 7400.0)]


# --- id tags are case-insensitive (OCPP CiString20) -----------------------------------------
async def test_id_tags_compare_case_insensitively_end_to_end(
    server: AmpNexus, ocpp_url: str, registered: str, api: httpx.AsyncClient
) -> None:
    created = await api.post("/id-tags", json={"id_tag": "ABC123"})
    assert created.status_code == 201, created.text
    clash = await api.post("/id-tags", json={"id_tag": "abc123"})
    assert clash.status_code == 409, clash.text
    assert "ABC123" in clash.text
    shown = await api.get("/id-tags/Abc123")
    assert shown.status_code == 200 and shown.json()["id_tag"] == "ABC123"  # its own spelling

    async with raw_charger(ocpp_url, registered, PASSWORD) as ws:
        await boot(ws)
        reply = await exchange(ws, [2, "a-1", "Authorize", {"idTag": "abc123"}])
        assert reply[2]["idTagInfo"]["status"] == "Accepted", reply
        reply = await exchange(ws, [2, "s-1", "StartTransaction", start(idTag="abc123")])
        assert reply[2]["idTagInfo"]["status"] == "Accepted", reply
        # A change made through one spelling is seen at once through every other.
        blocked = await api.patch("/id-tags/abc123", json={"status": "Blocked"})
        assert blocked.status_code == 200 and blocked.json()["id_tag"] == "ABC123"
        reply = await exchange(ws, [2, "a-2", "Authorize", {"idTag": "aBc123"}])
        assert reply[2]["idTagInfo"]["status"] == "Blocked", reply

    profile = await api.post("/driver-profiles", json={"name": "Ann", "id_tags": ["abc123"]})
    assert profile.status_code == 201, profile.text
    assert profile.json()["id_tags"] == ["ABC123"]
    driver = await server.services.drivers.for_id_tag("abc123")
    assert driver is not None and driver.name == "Ann"
    other = await api.post("/driver-profiles", json={"name": "Bob", "id_tags": ["Abc123"]})
    assert other.status_code == 409, other.text

    need = await api.put("/id-tags/abc123/need", json={"energy_kwh": 12})
    assert need.status_code == 200, need.text
    assert (await server.services.needs.for_id_tag("ABC123")).energy_wh == 12_000
    assert (await api.get("/id-tags/ABC123/need")).status_code == 200
    assert (await api.delete("/id-tags/aBC123/need")).status_code == 204

    assert (await api.delete("/id-tags/abc123")).status_code == 204
    assert (await api.get("/id-tags/ABC123")).status_code == 404


# --- migration 0005 on a database that already holds two spellings ------------------------
async def test_migration_0005_names_tags_that_differ_only_in_case(database_url: str) -> None:
    engine = create_db_engine(database_url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0004")
        with engine.begin() as conn:
            for tag in ("CARD-1", "card-1", "OTHER"):
                conn.execute(insert(id_tags).values(id_tag=tag, status="Accepted", created_at=now))
        with pytest.raises(StartupError, match="CARD-1, card-1") as raised, engine.begin() as conn:
            alembic(conn, "upgrade", "0005")
        assert "\n" not in str(raised.value)
        with engine.begin() as conn:  # nothing lost; the operator keeps one spelling
            assert len(conn.execute(select(id_tags.c.id_tag)).all()) == 3  # columns of 0004
            conn.execute(text("DELETE FROM id_tags WHERE id_tag = 'card-1'"))
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0005")
        with engine.begin() as conn:
            row = conn.execute(
                select(id_tags.c.id_tag).where(func.lower(id_tags.c.id_tag) == "card-1")
            )
            assert row.scalar_one() == "CARD-1"
        # The index holds on both databases (alembic cannot compare it on SQLite).
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(id_tags).values(id_tag="Card-1", status="Accepted", created_at=now))
    finally:
        engine.dispose()
