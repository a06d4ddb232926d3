"""Charging modes through the real API (uvicorn on a socket) on SQLite and PostgreSQL: set,
read, remove, the audit trail with the API key's name, a site's default_mode, regulation
mode refused to an insecure charger, invalid settings refused with a message; migration
0007 on a populated 0006 database."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import httpx
from sqlalchemy import insert, inspect, select

from ampnexus.app import AmpNexus
from ampnexus.domain.api_key import ApiKeyScope
from ampnexus.store.database import create_db_engine
from ampnexus.store.tables import sites
from tests.integration.test_api import assert_error
from tests.support.migrations import alembic
from tests.support.server import api_client

DEFAULT_PEAKS = [
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "11:00"},
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "16:00", "end": "22:00"},
]
NO_SETTINGS = dict.fromkeys(
    ("peak_windows", "random_delay_max_s", "charger_applies_delay", "windows", "energy_kwh")
)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_a_charger_is_smart_until_given_a_mode(api: httpx.AsyncClient, registered: str):
    shown = ok(await api.get(f"/charge-points/{registered}/mode"))
    assert shown == {
        "charge_point_id": "CP-1",
        "mode": "smart",
        **NO_SETTINGS,
        "source": "default",
        "site_id": None,
        "own_mode": None,
        "changed_by": None,
        "changed_at": None,
        "note": None,
    }
    assert ok(await api.get(f"/charge-points/{registered}/mode/history"))["total"] == 0


async def test_regulation_mode_with_its_defaults_and_the_trail_of_who_changed_what(
    server: AmpNexus, api: httpx.AsyncClient, registered: str
):
    path = f"/charge-points/{registered}/mode"
    shown = ok(await api.put(path, json={"mode": "regulation_compliance"}))
    assert (shown["mode"], shown["source"], shown["changed_by"]) == (
        "regulation_compliance",
        "charger",
        "tests",  # the fixture's API key
    )
    assert shown["peak_windows"] == DEFAULT_PEAKS
    assert (shown["random_delay_max_s"], shown["charger_applies_delay"]) == (600, False)
    assert ok(await api.get(path)) == shown

    _, secret = await server.services.api_keys.create("site-owner", scope=ApiKeyScope.OPERATOR)
    async with api_client(server, secret=secret) as owner:
        changed = {
            "mode": "regulation_compliance",
            "peak_windows": [{"days": ["sat"], "start": "23:00", "end": "01:30"}],
            "random_delay_max_s": 1800,
            "charger_applies_delay": True,
        }
        shown = ok(await owner.put(path, json=changed))
        assert shown["changed_by"] == "site-owner"
        assert shown["peak_windows"] == changed["peak_windows"]
        schedule = {
            "mode": "schedule",
            "windows": [{"days": ["mon", "wed"], "start": "23:00", "end": "07:00"}],
            "energy_kwh": 22.5,
        }
        shown = ok(await owner.put(path, json=schedule))
        assert (shown["windows"], shown["energy_kwh"]) == (schedule["windows"], 22.5)

    trail = ok(await api.get(f"{path}/history", params={"limit": 2}))
    assert trail["total"] == 3
    newest, before = trail["items"]
    assert (newest["changed_by"], before["changed_by"]) == ("site-owner", "site-owner")
    assert newest["before"] == before["after"]
    assert newest["after"] | {"windows": None, "energy_kwh": None} == {
        "mode": "schedule",
        **NO_SETTINGS,
    }
    assert before["before"]["random_delay_max_s"] == 600
    assert (before["after"]["random_delay_max_s"], before["after"]["charger_applies_delay"]) == (
        1800,
        True,
    )
    assert newest["id"] > before["id"]
    oldest = ok(await api.get(f"{path}/history", params={"offset": 2}))["items"]
    assert [(c["changed_by"], c["before"]) for c in oldest] == [("tests", None)]


async def test_a_site_default_applies_until_the_charger_has_its_own(
    api: httpx.AsyncClient, registered: str
):
    site = {"id": "depot", "name": "Depot", "time_zone": "Europe/London"}
    created = ok(await api.post("/sites", json=site | {"default_mode": "plug_and_charge"}), 201)
    assert created["default_mode"] == "plug_and_charge"
    ok(await api.put(f"/charge-points/{registered}", json={"site_id": "depot"}))
    path = f"/charge-points/{registered}/mode"
    shown = ok(await api.get(path))
    assert (shown["mode"], shown["source"], shown["site_id"]) == (
        "plug_and_charge",
        "site",
        "depot",
    )

    updated = ok(await api.patch("/sites/depot", json={"default_mode": "regulation_compliance"}))
    assert updated["default_mode"] == "regulation_compliance"
    shown = ok(await api.get(path))
    assert (shown["mode"], shown["peak_windows"]) == ("regulation_compliance", DEFAULT_PEAKS)

    ok(await api.put(path, json={"mode": "user_controlled"}))
    assert ok(await api.get(path))["source"] == "charger"
    shown = ok(await api.delete(path))  # back to the site's default
    assert (shown["mode"], shown["source"]) == ("regulation_compliance", "site")

    ok(await api.patch("/sites/depot", json={"default_mode": None}))
    assert ok(await api.get(path))["source"] == "default"
    assert_error(
        await api.patch("/sites/depot", json={"default_mode": "schedule"}), 422, "default_mode"
    )
    assert_error(await api.patch("/sites/depot", json={"default_mode": "eco"}), 422, "default_mode")


async def test_an_insecure_charger_is_refused_regulation_mode(api: httpx.AsyncClient):
    ok(await api.post("/charge-points", json={"id": "CP-OPEN", "security_profile": 0}), 201)
    path = "/charge-points/CP-OPEN/mode"
    ok(await api.put(path, json={"mode": "user_controlled"}))
    refused = await api.put(path, json={"mode": "regulation_compliance"})
    assert_error(refused, 409, "security profile 0", "password")
    assert ok(await api.get(path))["mode"] == "user_controlled"  # unchanged
    assert ok(await api.get(f"{path}/history"))["total"] == 1


async def test_invalid_modes_and_settings_are_refused_with_a_message(
    api: httpx.AsyncClient, registered: str
):
    path = f"/charge-points/{registered}/mode"
    night = [{"days": ["mon"], "start": "23:00", "end": "07:00"}]
    refused: list[tuple[dict[str, Any], list[str]]] = [
        ({"mode": "eco"}, ["mode"]),
        ({}, ["mode"]),
        ({"mode": "regulation_compliance", "random_delay_max_s": 1801}, ["random_delay_max_s"]),
        ({"mode": "regulation_compliance", "random_delay_max_s": -1}, ["random_delay_max_s"]),
        ({"mode": "regulation_compliance", "windows": night}, ["windows", "regulation"]),
        ({"mode": "smart", "peak_windows": night}, ["peak_windows", "smart"]),
        ({"mode": "schedule"}, ["window"]),
        ({"mode": "schedule", "windows": []}, ["windows"]),
        ({"mode": "schedule", "windows": night, "energy_kwh": 0}, ["energy_kwh"]),
        ({"mode": "schedule", "windows": [{**night[0], "days": ["funday"]}]}, ["days"]),
        ({"mode": "schedule", "windows": [{**night[0], "days": []}]}, ["days"]),
        ({"mode": "schedule", "windows": [{**night[0], "start": "24:00"}]}, ["start"]),
        ({"mode": "schedule", "windows": [{**night[0], "end": "7pm"}]}, ["end"]),
        ({"mode": "smart", "colour": "red"}, ["colour"]),
    ]
    for body, words in refused:
        assert_error(await api.put(path, json=body), 422, *words)
    assert ok(await api.get(f"{path}/history"))["total"] == 0
    assert_error(await api.put("/charge-points/GHOST/mode", json={"mode": "smart"}), 404, "GHOST")
    assert_error(await api.get("/charge-points/GHOST/mode"), 404, "GHOST")


async def test_a_read_key_reads_modes_but_cannot_set_them(
    server: AmpNexus, api: httpx.AsyncClient, registered: str
):
    async with api_client(server, scope=ApiKeyScope.READ) as reader:
        path = f"/charge-points/{registered}/mode"
        assert ok(await reader.get(path))["mode"] == "smart"
        assert_error(await reader.put(path, json={"mode": "smart"}), 403, "operator")


async def test_migration_0007_keeps_sites_and_adds_no_default(database_url: str):
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0006")
            conn.execute(  # the columns 0006 has
                insert(sites).values(
                    id="s",
                    name="S",
                    time_zone="UTC",
                    phases=3,
                    voltage=230.0,
                    safety_margin=0.0,
                    default_energy_wh=1.0,
                    default_departure=time(18),
                    created_at=datetime.now(UTC),
                )
            )
        with engine.begin() as conn:
            alembic(conn, "upgrade", "head")
            assert conn.execute(select(sites.c.id, sites.c.default_mode)).one() == ("s", None)
        with engine.begin() as conn:
            alembic(conn, "downgrade", "0006")
        with engine.begin() as conn:
            names = inspect(conn).get_table_names()
            assert "charge_point_modes" not in names and "charge_point_mode_history" not in names
            assert "default_mode" not in {c["name"] for c in inspect(conn).get_columns("sites")}
            alembic(conn, "upgrade", "head")
    finally:
        engine.dispose()
