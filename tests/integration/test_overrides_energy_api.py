"""Charge now and the energy export through the real API (uvicorn on a socket) and real
OCPP sessions, on SQLite and PostgreSQL: an override set and cancelled with who and when
on the mode trail, charge_now on the transaction, refused for unknown and stopped
sessions; energy.csv per session and per site-local day, a session over midnight split by
its readings, since/until, bad ranges; migration 0009 on a populated 0007 database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import insert, inspect, select

from ampnexus.app import AmpNexus
from ampnexus.domain.api_key import ApiKeyScope
from ampnexus.domain.energy import local_midnight
from ampnexus.store.database import create_db_engine
from ampnexus.store.tables import charge_point_mode_history as history
from tests.conftest import PASSWORD
from tests.integration.test_api import assert_error, iso
from tests.support.charger import charger
from tests.support.migrations import alembic
from tests.support.server import api_client

LONDON = ZoneInfo("Europe/London")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


# --- charge now ---------------------------------------------------------------------------------
async def test_charge_now_is_set_and_cancelled_with_who_and_when_on_the_trail(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, registered: str
):
    ok(await api.put(f"/charge-points/{registered}/mode", json={"mode": "regulation_compliance"}))
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        tx = (await cp.start_transaction(1, "TAG-1")).transaction_id
        other = (await cp.start_transaction(2, "TAG-2")).transaction_id

        before = datetime.now(UTC)
        shown = ok(await api.post(f"/transactions/{tx}/override"))
        assert (shown["id"], shown["charge_now"], shown["active"]) == (tx, True, True)
        assert ok(await api.get(f"/transactions/{tx}"))["charge_now"] is True
        listed = ok(await api.get("/transactions", params={"charge_point_id": registered}))
        assert {t["id"]: t["charge_now"] for t in listed["items"]} == {tx: True, other: False}
        assert ok(await api.post(f"/transactions/{tx}/override"))["charge_now"] is True  # again

        _, secret = await server.services.api_keys.create("driver", scope=ApiKeyScope.OPERATOR)
        async with api_client(server, secret=secret) as driver:
            shown = ok(await driver.delete(f"/transactions/{tx}/override"))
            assert shown["charge_now"] is False
            assert ok(await driver.delete(f"/transactions/{tx}/override"))["charge_now"] is False
        assert ok(await api.get(f"/transactions/{tx}"))["charge_now"] is False

        await cp.stop_transaction(other, meter_stop=2000)
        for method in ("POST", "DELETE"):
            refused = await api.request(method, f"/transactions/{other}/override")
            assert_error(refused, 409, "stopped")
            assert_error(await api.request(method, "/transactions/987654/override"), 404, "987654")

    trail = ok(await api.get(f"/charge-points/{registered}/mode/history"))
    assert trail["total"] == 3  # the mode, one set, one cancel: repeats record nothing
    cancelled, set_, mode = trail["items"]
    assert (cancelled["kind"], cancelled["transaction_id"], cancelled["changed_by"]) == (
        "override_cancelled",
        tx,
        "driver",
    )
    assert (set_["kind"], set_["transaction_id"], set_["changed_by"]) == (
        "override_set",
        tx,
        "tests",
    )
    assert before <= datetime.fromisoformat(set_["changed_at"]) <= datetime.now(UTC)
    assert datetime.fromisoformat(cancelled["changed_at"]) >= datetime.fromisoformat(
        set_["changed_at"]
    )
    assert (set_["before"], set_["after"]) == (None, None)
    assert (mode["kind"], mode["transaction_id"], mode["after"]["mode"]) == (
        "mode",
        None,
        "regulation_compliance",
    )
    # The charger's mode itself is untouched.
    assert ok(await api.get(f"/charge-points/{registered}/mode"))["mode"] == "regulation_compliance"


async def test_a_read_key_cannot_override(server: AmpNexus, api: httpx.AsyncClient):
    async with api_client(server, scope=ApiKeyScope.READ) as reader:
        assert_error(await reader.post("/transactions/1/override"), 403, "operator")
        assert_error(await reader.delete("/transactions/1/override"), 403, "operator")


# --- energy.csv ---------------------------------------------------------------------------------
def rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_energy_per_session_and_per_site_day(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
):
    site = {"id": "home", "name": "Home", "time_zone": "Europe/London"}
    ok(await api.post("/sites", json=site), 201)
    ok(await api.put(f"/charge-points/{registered}", json={"site_id": "home"}))

    today = datetime.now(LONDON).date()
    day_one, day_two = today - timedelta(days=3), today - timedelta(days=2)
    midnight = local_midnight(day_two, LONDON)  # between day one and day two, site-local
    early = local_midnight(today - timedelta(days=10), LONDON) + timedelta(hours=12)
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        # Ten days ago: 1.5 kWh at noon.
        old = (await cp.start_transaction(1, "=CMD", 500, iso(early))).transaction_id
        await cp.stop_transaction(old, 2000, timestamp=iso(early + timedelta(hours=1)))
        # Over midnight: 3 kWh in its first hour, 1 kWh in the three hours after.
        start = midnight - timedelta(hours=2)
        night = (await cp.start_transaction(2, "TAG-N", 10_000, iso(start))).transaction_id
        await cp.meter_values(2, night, 13_000, 7000, timestamp=iso(start + timedelta(hours=1)))
        await cp.stop_transaction(night, 14_000, timestamp=iso(midnight + timedelta(hours=2)))

    path = f"/charge-points/{registered}/energy.csv"
    response = await api.get(path, params={"since": day_one.isoformat(), "until": str(day_two)})
    assert response.text.splitlines()[0] == (
        "kind,transaction_id,connector_id,id_tag,started_at,stopped_at,date,energy_kwh"
    )
    found = rows(response)
    assert found == [
        {
            "kind": "session",
            "transaction_id": str(night),
            "connector_id": "2",
            "id_tag": "TAG-N",
            "started_at": iso(start),
            "stopped_at": iso(midnight + timedelta(hours=2)),
            "date": "",
            "energy_kwh": "4.000",
        },
        {**_day(day_one), "energy_kwh": "3.333"},
        {**_day(day_two), "energy_kwh": "0.667"},
    ]

    everything = rows(await api.get(path))  # the last 12 months
    sessions = [r for r in everything if r["kind"] == "session"]
    assert [(r["transaction_id"], r["id_tag"], r["energy_kwh"]) for r in sessions] == [
        (str(old), "'=CMD", "1.500"),  # no formula for a spreadsheet to run
        (str(night), "TAG-N", "4.000"),
    ]
    days = {r["date"]: r["energy_kwh"] for r in everything if r["kind"] == "day"}
    assert len(days) in (366, 367)  # every day of the range, each day of it once
    assert days[str(today - timedelta(days=10))] == "1.500"
    assert (days[str(day_one)], days[str(day_two)], days[str(today)]) == ("3.333", "0.667", "0.000")
    assert sum(float(kwh) for kwh in days.values()) == pytest.approx(5.5)

    # Since midnight (a datetime, site-local): the night session, and only its energy after.
    after = rows(
        await api.get(path, params={"since": f"{day_two}T00:00:00", "until": str(day_two)})
    )
    assert [(r["kind"], r["energy_kwh"]) for r in after] == [("session", "4.000"), ("day", "0.667")]


def _day(day: date) -> dict[str, str]:
    return dict.fromkeys(
        ("transaction_id", "connector_id", "id_tag", "started_at", "stopped_at"), ""
    ) | {
        "kind": "day",
        "date": day.isoformat(),
    }


async def test_energy_csv_refuses_bad_ranges_and_unknown_chargers(
    api: httpx.AsyncClient, registered: str
):
    path = f"/charge-points/{registered}/energy.csv"
    refused: list[tuple[dict[str, str], list[str]]] = [
        ({"since": "2024-01-01", "until": "2025-02-01"}, ["13 months"]),
        ({"since": "2025-03-01", "until": "2025-02-01"}, ["before"]),
        ({"since": "yesterday"}, ["since", "ISO"]),
        ({"until": "2025-02-30"}, ["until"]),
        ({"since": "2025-01-01T25:00"}, ["since"]),
        ({"since": "x" * 41}, ["since"]),
    ]
    for params, words in refused:
        assert_error(await api.get(path, params=params), 422, *words)
    found = rows(await api.get(path, params={"since": "2025-01-01", "until": "2026-01-31"}))
    assert {r["kind"] for r in found} == {"day"}  # 13 months exactly: allowed, no sessions
    assert_error(await api.get("/charge-points/GHOST/energy.csv"), 404, "GHOST")


async def test_the_openapi_document_describes_the_csv(api: httpx.AsyncClient):
    spec = ok(await api.get("/openapi.json"))
    operation = spec["paths"]["/api/v1/charge-points/{charge_point_id}/energy.csv"]["get"]
    assert "text/csv" in operation["responses"]["200"]["content"]
    assert "`kind`" in operation["description"] and "13 months" in operation["description"]
    assert "/api/v1/transactions/{transaction_id}/override" in spec["paths"]


# --- migration ----------------------------------------------------------------------------------
async def test_migration_0009_keeps_the_trail_as_mode_entries(database_url: str):
    engine = create_db_engine(database_url)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0007")
            conn.execute(  # the columns 0007 has
                insert(history).values(
                    charge_point_id="CP", changed_by="ann", changed_at=at, after_mode="smart"
                )
            )
        with engine.begin() as conn:
            alembic(conn, "upgrade", "head")
            found = conn.execute(select(history.c.kind, history.c.transaction_id)).one()
            assert tuple(found) == ("mode", None)
        with engine.begin() as conn:
            alembic(conn, "downgrade", "0007")
        with engine.begin() as conn:
            assert "transaction_overrides" not in inspect(conn).get_table_names()
            columns = {c["name"] for c in inspect(conn).get_columns("charge_point_mode_history")}
            assert "kind" not in columns and "after_mode" in columns
            alembic(conn, "upgrade", "head")
    finally:
        engine.dispose()
