"""Sites, circuits, placement, tariffs, series, driver profiles and needs through the real API
(uvicorn on a socket) on SQLite and PostgreSQL; migration 0002 on a populated 0001 database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, select, text

from ampnexus.app import AmpNexus
from ampnexus.charging.model import SlotGrid
from ampnexus.domain.series import SeriesKind
from ampnexus.store.database import create_db_engine
from ampnexus.store.tables import (
    api_keys,
    charge_points,
    connectors,
    id_tags,
    metadata,
    meter_values,
    sites,
    transactions,
)
from tests.conftest import PASSWORD
from tests.integration.test_api import assert_error
from tests.support.charger import charger
from tests.support.migrations import alembic

AGILE_FILE = (
    Path(__file__).resolve().parents[1] / "data/reference/tariffs/octopus_agile_extract.csv"
)
DEPOT = {
    "id": "depot",
    "name": "North depot",
    "time_zone": "Europe/London",
    "grid_limit_kw": 100,
    "grid_limit_a": 160,
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


@pytest.fixture
async def depot(api: httpx.AsyncClient) -> str:
    ok(await api.post("/sites", json=DEPOT), 201)
    return "depot"


async def add_circuits(api: httpx.AsyncClient, site: str, *circuits: dict[str, Any]) -> None:
    for circuit in circuits:
        ok(await api.post(f"/sites/{site}/circuits", json=circuit), 201)


# --- sites --------------------------------------------------------------------------------------
async def test_site_crud(api: httpx.AsyncClient):
    created = ok(await api.post("/sites", json=DEPOT), 201)
    assert created | {"created_at": None} == {
        **DEPOT,
        "phases": 3,
        "voltage": 230.0,
        "safety_margin": 0.0,
        "default_energy_kwh": 10.0,
        "default_departure": "18:00:00",
        "default_mode": None,
        "created_at": None,
    }
    assert created["created_at"]
    assert ok(await api.get("/sites/depot")) == created

    for site_id in ("b-site", "c-site"):
        body = {"id": site_id, "name": site_id, "time_zone": "America/Los_Angeles"}
        ok(await api.post("/sites", json=body), 201)
    page = ok(await api.get("/sites", params={"limit": 2, "offset": 1}))
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [site["id"] for site in page["items"]] == ["c-site", "depot"]

    changes = {
        "name": "Depot N",
        "grid_limit_kw": None,
        "safety_margin": 0.1,
        "default_energy_kwh": 25,
        "default_departure": "07:30",
    }
    updated = ok(await api.patch("/sites/depot", json=changes))
    assert updated["name"] == "Depot N" and updated["grid_limit_kw"] is None
    assert (updated["safety_margin"], updated["default_energy_kwh"]) == (0.1, 25.0)
    assert updated["grid_limit_a"] == 160 and updated["default_departure"] == "07:30:00"
    assert ok(await api.get("/sites/depot")) == updated

    ok(await api.delete("/sites/depot"), 204)
    assert_error(await api.get("/sites/depot"), 404, "depot")
    assert ok(await api.get("/sites"))["total"] == 2


async def test_site_errors(api: httpx.AsyncClient, depot: str):
    assert_error(await api.post("/sites", json=DEPOT | {"name": "again"}), 409, "depot")
    assert ok(await api.get("/sites/depot"))["name"] == "North depot"
    invalid = [
        ({"time_zone": "Europe/Atlantis"}, ["time zone", "Europe/Atlantis"]),
        ({"id": "has space"}, ["id"]),
        ({"safety_margin": 1}, ["safety_margin"]),
        ({"grid_limit_kw": -5}, ["grid_limit_kw"]),
        ({"phases": 4}, ["phases"]),
        ({"colour": "red"}, ["colour"]),
    ]
    for change, words in invalid:
        body = DEPOT | {"id": "new-site"} | change
        assert_error(await api.post("/sites", json=body), 422, *words)
    assert_error(await api.patch("/sites/depot", json={"name": None}), 422, "name")
    assert_error(await api.patch("/sites/depot", json={"time_zone": "Nowhere"}), 422, "zone")
    assert ok(await api.get("/sites"))["total"] == 1
    for method, path, body in [
        ("GET", "/sites/nope", None),
        ("PATCH", "/sites/nope", {"name": "x"}),
        ("DELETE", "/sites/nope", None),
        ("GET", "/sites/nope/circuits", None),
        ("POST", "/sites/nope/circuits", {"id": "main"}),
        ("GET", "/sites/nope/tariffs", None),
        ("POST", "/sites/nope/tariffs", {"name": "t", "kind": "fixed", "import_price": 1}),
        ("POST", "/sites/nope/meter", {"points": [{"timestamp": "2024-01-01T00:00Z", "value": 1}]}),
        ("GET", "/sites/nope/solar", None),
    ]:
        assert_error(await api.request(method, path, json=body), 404, "nope")


async def test_site_routes_need_a_key(server: AmpNexus, depot: str):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}/api/v1") as anon:
        for method, path in [
            ("GET", "/sites"),
            ("GET", "/sites/depot/circuits"),
            ("GET", "/sites/depot/tariffs"),
            ("GET", "/sites/depot/meter"),
            ("GET", "/driver-profiles"),
            ("GET", "/id-tags/X/need"),
            ("PUT", "/charge-points/CP-1"),
        ]:
            assert_error(await anon.request(method, path), 401)


# --- circuits -----------------------------------------------------------------------------------
async def test_circuit_tree(api: httpx.AsyncClient, depot: str):
    await add_circuits(
        api,
        depot,
        {"id": "main", "limit_kw": 100},
        {"id": "row-a", "parent_id": "main", "limit_a": 63, "name": "Row A"},
        {"id": "bay-1", "parent_id": "row-a"},
    )
    assert_error(await api.post("/sites/depot/circuits", json={"id": "other"}), 409, "one root")
    assert_error(
        await api.post("/sites/depot/circuits", json={"id": "x", "parent_id": "ghost"}),
        422,
        "ghost",
    )
    assert_error(await api.post("/sites/depot/circuits", json={"id": "main"}), 409, "main")
    assert_error(
        await api.patch("/sites/depot/circuits/row-a", json={"parent_id": "bay-1"}), 409, "cycle"
    )
    assert_error(await api.patch("/sites/depot/circuits/main", json={"limit_kw": 0}), 422)

    page = ok(await api.get("/sites/depot/circuits"))
    assert page["total"] == 3
    assert {c["id"]: c["parent_id"] for c in page["items"]} == {
        "main": None,
        "row-a": "main",
        "bay-1": "row-a",
    }
    row_a = ok(await api.get("/sites/depot/circuits/row-a"))
    assert row_a == {
        "site_id": "depot",
        "id": "row-a",
        "parent_id": "main",
        "name": "Row A",
        "limit_kw": None,
        "limit_a": 63.0,
    }
    moved = ok(await api.patch("/sites/depot/circuits/bay-1", json={"parent_id": "main"}))
    assert moved["parent_id"] == "main"
    changed = ok(await api.patch("/sites/depot/circuits/row-a", json={"limit_kw": 40}))
    assert (changed["limit_kw"], changed["limit_a"]) == (40.0, 63.0)

    assert_error(await api.delete("/sites/depot/circuits/main"), 409, "sub-circuits")
    ok(await api.delete("/sites/depot/circuits/row-a"), 204)
    assert_error(await api.get("/sites/depot/circuits/row-a"), 404, "row-a")
    assert_error(await api.delete("/sites/depot/circuits/row-a"), 404, "row-a")
    assert_error(await api.patch("/sites/depot/circuits/row-a", json={"name": "x"}), 404)
    assert ok(await api.get("/sites/depot/circuits"))["total"] == 2


async def test_a_deleted_site_takes_its_circuits_and_unplaces_its_chargers(
    api: httpx.AsyncClient, depot: str, registered: str
):
    await add_circuits(api, depot, {"id": "main"}, {"id": "sub", "parent_id": "main"})
    ok(await api.put(f"/charge-points/{registered}", json={"site_id": depot, "circuit_id": "sub"}))
    ok(await api.delete(f"/sites/{depot}"), 204)
    placement = ok(await api.get(f"/charge-points/{registered}/placement"))
    assert (placement["site_id"], placement["circuit_id"]) == (None, None)
    # The same ids can be used again: nothing of the old site is left behind.
    ok(await api.post("/sites", json=DEPOT), 201)
    assert ok(await api.get(f"/sites/{depot}/circuits"))["total"] == 0
    ok(await api.post(f"/sites/{depot}/circuits", json={"id": "sub"}), 201)


# --- charger placement --------------------------------------------------------------------------
async def test_charge_point_placement(api: httpx.AsyncClient, depot: str, registered: str):
    await add_circuits(api, depot, {"id": "main"}, {"id": "row-a", "parent_id": "main"})
    ok(await api.post("/sites", json={"id": "other", "name": "O", "time_zone": "UTC"}), 201)
    ok(await api.post("/sites/other/circuits", json={"id": "board"}), 201)

    body = {
        "site_id": depot,
        "circuit_id": "row-a",
        "phases": 1,
        "max_power_w": 7400,
        "phase_rotation": "TRS",
    }
    placed = ok(await api.put(f"/charge-points/{registered}", json=body))
    assert placed == {"charge_point_id": registered, **body, "grid_phases": [3]}
    assert ok(await api.get(f"/charge-points/{registered}/placement")) == placed
    on_site = ok(await api.get(f"/sites/{depot}/charge-points"))
    assert on_site["total"] == 1 and on_site["items"] == [placed]
    # PATCH still changes the registration, and leaves the placement alone.
    ok(await api.patch(f"/charge-points/{registered}", json={"description": "bay 4"}))
    assert ok(await api.get(f"/charge-points/{registered}/placement")) == placed
    # The charger itself says where it is, alone and in the list.
    shown = ok(await api.get(f"/charge-points/{registered}"))
    assert (shown["site_id"], shown["circuit_id"]) == (depot, "row-a")
    (listed,) = ok(await api.get("/charge-points"))["items"]
    assert (listed["site_id"], listed["circuit_id"]) == (depot, "row-a")

    for wrong, status, words in [
        ({"site_id": depot, "circuit_id": "board"}, 422, ["board", "not a circuit", depot]),
        ({"site_id": "ghost"}, 422, ["ghost"]),
        ({"circuit_id": "row-a"}, 422, ["site_id"]),
        ({"site_id": depot, "phases": 4}, 422, ["phases"]),
        ({"site_id": depot, "phase_rotation": "XYZ"}, 422, ["phase_rotation"]),
        ({"site_id": depot, "max_power_w": 0}, 422, ["max_power_w"]),
    ]:
        response = await api.put(f"/charge-points/{registered}", json=wrong)
        assert_error(response, status, *words)
    assert ok(await api.get(f"/charge-points/{registered}/placement")) == placed
    assert_error(await api.put("/charge-points/NOPE", json={"site_id": depot}), 404, "NOPE")
    assert_error(await api.get("/charge-points/NOPE/placement"), 404, "NOPE")

    assert_error(await api.delete(f"/sites/{depot}/circuits/row-a"), 409, registered)
    moved = ok(await api.put(f"/charge-points/{registered}", json={"site_id": "other"}))
    assert (moved["site_id"], moved["circuit_id"], moved["phases"]) == ("other", None, None)
    assert ok(await api.get(f"/sites/{depot}/charge-points"))["total"] == 0
    ok(await api.delete(f"/sites/{depot}/circuits/row-a"), 204)
    cleared = ok(await api.put(f"/charge-points/{registered}", json={}))
    assert cleared["site_id"] is None
    shown = ok(await api.get(f"/charge-points/{registered}"))
    assert (shown["site_id"], shown["circuit_id"]) == (None, None)
    assert ok(await api.get("/sites/other/charge-points"))["total"] == 0


# --- tariffs ------------------------------------------------------------------------------------
async def test_fixed_and_time_of_use_tariffs(api: httpx.AsyncClient, depot: str):
    fixed = ok(
        await api.post(
            "/sites/depot/tariffs",
            json={"name": "Flat", "kind": "fixed", "import_price": 24.5, "export_price": 15},
        ),
        201,
    )
    assert (fixed["kind"], fixed["import_price"], fixed["bands"]) == ("fixed", 24.5, [])
    tou_body = {
        "name": "Economy 7",
        "kind": "time_of_use",
        "import_price": 30,
        "valid_from": "2024-04-01T00:00:00+01:00",
        "bands": [
            {"start": "00:30", "end": "07:30", "import_price": 7.5, "days": "weekdays"},
            {"start": "08:00", "end": "20:00", "import_price": 6.0, "days": ["sat", "sun"]},
        ],
    }
    tou = ok(await api.post("/sites/depot/tariffs", json=tou_body), 201)
    assert tou["valid_from"] == "2024-03-31T23:00:00Z"
    assert tou["bands"][0]["days"] == ["mon", "tue", "wed", "thu", "fri"]
    assert tou["bands"][1] | {"days": None} == {
        "start": "08:00:00",
        "end": "20:00:00",
        "import_price": 6.0,
        "export_price": None,
        "days": None,
    }
    assert ok(await api.get(f"/sites/depot/tariffs/{tou['id']}")) == tou
    page = ok(await api.get("/sites/depot/tariffs"))
    assert [t["id"] for t in page["items"]] == [fixed["id"], tou["id"]] and page["total"] == 2

    for body, words in [
        ({"name": "x", "kind": "fixed"}, ["import_price"]),
        ({"name": "x", "kind": "time_of_use"}, ["band"]),
        ({"name": "x", "kind": "hourly"}, ["kind"]),
        (tou_body | {"import_price": None}, ["no band covers", "Monday 00:00"]),
        (
            tou_body
            | {
                "bands": [*tou_body["bands"], {"start": "07:00", "end": "09:00", "import_price": 1}]
            },
            ["overlap"],
        ),
        (tou_body | {"bands": [{"start": "25:00", "end": "07:00", "import_price": 1}]}, ["start"]),
    ]:
        assert_error(await api.post("/sites/depot/tariffs", json=body), 422, *words)
    assert ok(await api.get("/sites/depot/tariffs"))["total"] == 2

    assert_error(await api.get("/sites/depot/tariffs/9999"), 404, "9999")
    ok(await api.delete(f"/sites/depot/tariffs/{fixed['id']}"), 204)
    assert_error(await api.delete(f"/sites/depot/tariffs/{fixed['id']}"), 404)
    assert ok(await api.get("/sites/depot/tariffs"))["total"] == 1


async def test_dynamic_prices_as_json_and_as_agile_csv(
    api: httpx.AsyncClient, server: AmpNexus, depot: str
):
    agile = ok(
        await api.post("/sites/depot/tariffs", json={"name": "Agile", "kind": "dynamic"}), 201
    )
    prices_path = f"/sites/depot/tariffs/{agile['id']}/prices"

    csv = "".join(AGILE_FILE.open(encoding="utf-8").readlines()[: 1 + 2 * 48])
    stored = ok(await api.post(prices_path, content=csv, headers={"Content-Type": "text/csv"}), 201)
    assert stored == {"stored": 96, "replaced": 0}
    page = ok(await api.get(prices_path, params={"limit": 2}))
    assert page["total"] == 96
    assert page["items"][0] == {
        "start": "2022-11-01T00:00:00Z",
        "end": "2022-11-01T00:30:00Z",
        "import_price": 12.61,
        "export_price": 6.56,
    }

    # New prices for 01:00-02:00 UTC replace the two half hours they overlap.
    new = [
        {"start": "2022-11-01T01:00:00Z", "end": "2022-11-01T02:00:00Z", "import_price": -1.5},
    ]
    assert ok(await api.post(prices_path, json=new), 201) == {"stored": 1, "replaced": 2}
    window = ok(
        await api.get(
            prices_path, params={"since": "2022-11-01T00:30:00Z", "until": "2022-11-01T02:00:00Z"}
        )
    )
    assert [(p["start"], p["import_price"]) for p in window["items"]] == [
        ("2022-11-01T00:30:00Z", 18.48),
        ("2022-11-01T01:00:00Z", -1.5),
    ]

    # What a plan gets: one price per slot under the tariff in force, from the database.
    grid = SlotGrid(datetime(2022, 11, 1, tzinfo=UTC), 3600, 3)
    imports, exports = await server.services.tariffs.slot_prices("depot", grid)
    assert imports == pytest.approx(((12.61 + 18.48) / 2, -1.5, (12.31 + 9.72) / 2))
    assert exports[0] == pytest.approx((6.56 + 9.02) / 2) and exports[1] == 0.0

    bad_bodies = [
        (
            [{"start": "2022-11-02T00:00:00Z", "end": "2022-11-01T00:00:00Z", "import_price": 1}],
            ["end after"],
        ),
        ([{"start": "2022-11-02T00:00:00Z", "import_price": 1}], ["end"]),
        ({"prices": []}, ["list"]),
        ([], ["at least one"]),
    ]
    for body, words in bad_bodies:
        assert_error(await api.post(prices_path, json=body), 422, *words)
    overlapping = [
        {"start": "2022-11-02T00:00:00Z", "end": "2022-11-02T01:00:00Z", "import_price": 1},
        {"start": "2022-11-02T00:30:00Z", "end": "2022-11-02T01:30:00Z", "import_price": 2},
    ]
    assert_error(await api.post(prices_path, json=overlapping), 422, "overlap")
    bad_csv = "Period from,Period to,Agile Import price (p/kWh)\n01/11/2022 00:00,tomorrow,1\n"
    response = await api.post(prices_path, content=bad_csv, headers={"Content-Type": "text/csv"})
    assert_error(response, 422, "line 2")
    response = await api.post(
        prices_path, content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "JSON")
    assert ok(await api.get(prices_path))["total"] == 95  # nothing stored by the refusals

    fixed = ok(
        await api.post(
            "/sites/depot/tariffs", json={"name": "F", "kind": "fixed", "import_price": 1}
        ),
        201,
    )
    assert_error(
        await api.post(f"/sites/depot/tariffs/{fixed['id']}/prices", json=new), 409, "dynamic"
    )
    assert_error(await api.post("/sites/depot/tariffs/9999/prices", json=new), 404, "9999")


# --- series -------------------------------------------------------------------------------------
async def test_meter_solar_and_carbon_series(api: httpx.AsyncClient, server: AmpNexus, depot: str):
    start = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    meter = {
        "points": [
            {"timestamp": iso(start + timedelta(minutes=m)), "value": 1000.0 * m}
            for m in range(0, 30, 10)
        ]
    }
    assert ok(await api.post("/sites/depot/meter", json=meter), 201) == {"stored": 3}
    # A corrected reading for 12:10 replaces the first; a naive timestamp is UTC.
    fix = {"points": [{"timestamp": "2024-06-01T12:10:00", "value": -500}]}
    ok(await api.post("/sites/depot/meter", json=fix), 201)
    page = ok(await api.get("/sites/depot/meter"))
    assert page["total"] == 3
    assert [p["value"] for p in page["items"]] == [0.0, -500.0, 20000.0]
    later = ok(await api.get("/sites/depot/meter", params={"since": "2024-06-01T12:05:00Z"}))
    assert [p["timestamp"] for p in later["items"]] == [
        "2024-06-01T12:10:00Z",
        "2024-06-01T12:20:00Z",
    ]

    forecast = {"kind": "forecast", "points": [{"timestamp": iso(start), "value": 5000}]}
    measured = {"kind": "measured", "points": [{"timestamp": iso(start), "value": 4200}]}
    ok(await api.post("/sites/depot/solar", json=forecast), 201)
    ok(await api.post("/sites/depot/solar", json=measured), 201)
    read = ok(await api.get("/sites/depot/solar", params={"kind": "forecast"}))
    assert [p["value"] for p in read["items"]] == [5000.0]
    assert [p["value"] for p in ok(await api.get("/sites/depot/solar"))["items"]] == [4200.0]
    ok(
        await api.post(
            "/sites/depot/carbon", json={"points": [{"timestamp": iso(start), "value": 180}]}
        ),
        201,
    )

    grid = SlotGrid(start, 900, 2)
    resampled = await server.services.site_series.resampled("depot", SeriesKind.SITE_METER, grid)
    assert resampled == pytest.approx(((0 * 10 + -500 * 5) / 15, (-500 * 5 + 20000 * 10) / 15))
    carbon = await server.services.site_series.resampled("depot", SeriesKind.CARBON, grid)
    assert carbon == (180.0, 180.0)

    for path, body, words in [
        (
            "/sites/depot/solar",
            {"kind": "measured", "points": [{"timestamp": iso(start), "value": -1}]},
            ["negative"],
        ),
        ("/sites/depot/carbon", {"points": [{"timestamp": iso(start), "value": -1}]}, ["negative"]),
        ("/sites/depot/meter", {"points": []}, ["points"]),
        ("/sites/depot/meter", {"points": [{"timestamp": "yesterday", "value": 1}]}, ["timestamp"]),
        ("/sites/depot/solar", {"points": [{"timestamp": iso(start), "value": 1}]}, ["kind"]),
    ]:
        assert_error(await api.post(path, json=body), 422, *words)
    assert ok(await api.get("/sites/depot/carbon"))["total"] == 1


# --- driver profiles ----------------------------------------------------------------------------
async def test_driver_profiles_and_their_id_tags(api: httpx.AsyncClient):
    for tag in ("ANN-1", "ANN-2", "BO-1"):
        ok(await api.post("/id-tags", json={"id_tag": tag}), 201)
    body = {
        "name": "Ann",
        "priority": "premium",
        "max_power_w": 11000,
        "default_energy_kwh": 20,
        "default_departure": "17:30",
        "id_tags": ["ANN-1"],
    }
    ann = ok(await api.post("/driver-profiles", json=body), 201)
    assert ann | {"id": 0, "created_at": None} == body | {
        "id": 0,
        "default_energy_kwh": 20.0,
        "default_departure": "17:30:00",
        "max_power_w": 11000.0,
        "created_at": None,
    }
    bo = ok(await api.post("/driver-profiles", json={"name": "Bo"}), 201)
    assert (bo["priority"], bo["id_tags"]) == ("standard", [])

    assert_error(
        await api.post("/driver-profiles", json={"name": "Cy", "id_tags": ["ANN-1"]}), 409, "ANN-1"
    )
    assert_error(
        await api.post("/driver-profiles", json={"name": "Cy", "id_tags": ["NOPE"]}), 422, "NOPE"
    )
    assert_error(await api.post("/driver-profiles", json={"name": "Cy", "priority": "vip"}), 422)
    assert ok(await api.get("/driver-profiles"))["total"] == 2

    changed = ok(
        await api.patch(
            f"/driver-profiles/{ann['id']}", json={"id_tags": ["ANN-2"], "max_power_w": None}
        )
    )
    assert (changed["id_tags"], changed["max_power_w"]) == (["ANN-2"], None)
    bound = ok(await api.put(f"/driver-profiles/{bo['id']}/id-tags/ANN-1"))
    assert bound["id_tags"] == ["ANN-1"]
    assert_error(await api.put(f"/driver-profiles/{bo['id']}/id-tags/ANN-2"), 409, str(ann["id"]))
    ok(await api.put(f"/driver-profiles/{bo['id']}/id-tags/BO-1"))
    ok(await api.delete(f"/driver-profiles/{bo['id']}/id-tags/ANN-1"), 204)
    assert_error(await api.delete(f"/driver-profiles/{bo['id']}/id-tags/ANN-1"), 404)
    # Deleting an id tag unbinds it.
    ok(await api.delete("/id-tags/BO-1"), 204)
    assert ok(await api.get(f"/driver-profiles/{bo['id']}"))["id_tags"] == []

    assert_error(await api.patch(f"/driver-profiles/{ann['id']}", json={"name": None}), 422, "name")
    ok(await api.delete(f"/driver-profiles/{ann['id']}"), 204)
    assert_error(await api.get(f"/driver-profiles/{ann['id']}"), 404)
    assert_error(await api.put(f"/driver-profiles/{ann['id']}/id-tags/ANN-2"), 404)
    # Its tag is free again.
    ok(await api.put(f"/driver-profiles/{bo['id']}/id-tags/ANN-2"))


# --- session needs ------------------------------------------------------------------------------
async def test_needs_for_id_tags_and_transactions(
    api: httpx.AsyncClient, server: AmpNexus, ocpp_url: str, registered: str
):
    ok(await api.post("/sites", json=DEPOT | {"default_energy_kwh": 9}), 201)
    ok(await api.post("/id-tags", json={"id_tag": "ANN-1"}), 201)
    ok(await api.post("/driver-profiles", json={"name": "Ann", "id_tags": ["ANN-1"]}), 201)

    now = datetime.now(UTC).replace(microsecond=0)
    departure = iso(now + timedelta(hours=6))
    need = ok(await api.put("/id-tags/ANN-1/need", json={"energy_kwh": 12, "departure": departure}))
    assert (need["id_tag"], need["energy_kwh"], need["departure"]) == ("ANN-1", 12.0, departure)
    assert ok(await api.get("/id-tags/ANN-1/need")) == need
    assert_error(
        await api.put("/id-tags/ANN-1/need", json={"energy_kwh": 1, "target_soc": 80}),
        422,
        "not both",
    )
    assert_error(await api.put("/id-tags/ANN-1/need", json={}), 422, "departure")
    assert_error(await api.put("/id-tags/NOPE/need", json={"energy_kwh": 1}), 404, "NOPE")
    assert ok(await api.get("/id-tags/ANN-1/need")) == need

    # Three past sessions teach AmpNexus Ann's usual energy; a fourth is running.
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        for days, kwh in ((4, 10), (3, 30), (2, 14)):
            begin = now - timedelta(days=days)
            started = await cp.start_transaction(1, "ANN-1", meter_start=0, timestamp=iso(begin))
            end = iso(begin + timedelta(hours=8))
            await cp.stop_transaction(started.transaction_id, kwh * 1000, timestamp=end)
        running = (await cp.start_transaction(1, "ANN-1", meter_start=0)).transaction_id

        set_need = await api.put(
            f"/transactions/{running}/need", json={"target_soc": 80, "battery_kwh": 60}
        )
        tx_need = ok(set_need)
        assert (tx_need["transaction_id"], tx_need["target_soc"], tx_need["battery_kwh"]) == (
            running,
            80.0,
            60.0,
        )
        assert ok(await api.get(f"/transactions/{running}/need")) == tx_need

        transaction = await server.services.transactions.get(running)
        depot = await server.services.sites.get("depot")
        resolved = await server.services.needs.resolve(transaction, depot, soc_now=50)
        assert (resolved.energy_wh, resolved.energy_source) == (18_000, "transaction")
        assert (resolved.departure, resolved.departure_source) == (
            now + timedelta(hours=6),
            "id_tag",
        )

        ok(await api.delete(f"/transactions/{running}/need"), 204)
        ok(await api.delete("/id-tags/ANN-1/need"), 204)
        assert_error(await api.get("/id-tags/ANN-1/need"), 404)
        resolved = await server.services.needs.resolve(transaction, depot)
        assert (resolved.energy_wh, resolved.energy_source) == (14_000, "learned")  # median
        assert resolved.departure > transaction.started_at

        await cp.stop_transaction(running, 5000)
        assert_error(
            await api.put(f"/transactions/{running}/need", json={"energy_kwh": 5}), 409, "finished"
        )
    assert_error(await api.put("/transactions/987654/need", json={"energy_kwh": 5}), 404, "987654")
    assert_error(await api.get(f"/transactions/{running}/need"), 404, "no need")


# --- migration 0002 -----------------------------------------------------------------------------
def fill_0001(conn: Connection) -> None:
    """One of everything 0001 holds, with foreign keys between them."""
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    values = {"security_profile": 0, "registration_status": "Accepted", "created_at": now}
    conn.execute(insert(charge_points).values(id="CP-OLD", vendor="V", **values))
    conn.execute(
        insert(connectors).values(
            charge_point_id="CP-OLD",
            connector_id=1,
            status="Charging",
            error_code="NoError",
            updated_at=now,
        )
    )
    conn.execute(insert(id_tags).values(id_tag="OLD-TAG", status="Accepted", created_at=now))
    conn.execute(
        insert(transactions).values(
            id=7,
            charge_point_id="CP-OLD",
            connector_id=1,
            id_tag="OLD-TAG",
            meter_start=100,
            started_at=now,
            created_at=now,
        )
    )
    conn.execute(
        insert(meter_values).values(
            charge_point_id="CP-OLD",
            connector_id=1,
            transaction_id=7,
            timestamp=now,
            value="1234",
            number=1234.0,
            measurand="Energy.Active.Import.Register",
            received_at=now,
        )
    )
    conn.execute(insert(api_keys).values(name="k", prefix="anx_x", digest="d" * 64, created_at=now))


def snapshot(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    columns = {
        "charge_points": "id, vendor, registration_status",
        "connectors": "charge_point_id, connector_id, status",
        "id_tags": "id_tag, status",
        "transactions": "id, id_tag, meter_start",
        "meter_values": "transaction_id, value",
        "api_keys": "name, digest",
    }
    return {
        table: [tuple(row) for row in conn.execute(text(f"SELECT {cols} FROM {table}"))]
        for table, cols in columns.items()
    }


async def test_migration_0002_keeps_a_populated_0001_database(database_url: str):
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0001")
        with engine.begin() as conn:
            fill_0001(conn)
            before = snapshot(conn)
        assert all(before.values()), before

        with engine.begin() as conn:
            alembic(conn, "upgrade", "head")
        with engine.begin() as conn:
            assert snapshot(conn) == before  # nothing lost (connectors cascade from chargers)
            placement = conn.execute(
                select(charge_points.c.site_id, charge_points.c.max_power_w)
            ).one()
            assert tuple(placement) == (None, None)
            # The schema is what tables.py describes.
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
            if conn.dialect.name == "sqlite":
                differences = [d for d in differences if not _inline_fk(d)]
            assert differences == []
            # The new foreign key holds: deleting a site unplaces its chargers.
            conn.execute(
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
            conn.execute(charge_points.update().values(site_id="s"))
        with engine.begin() as conn:
            conn.execute(sites.delete())
        with engine.begin() as conn:
            assert conn.execute(select(charge_points.c.site_id)).scalar_one() is None
            assert snapshot(conn) == before

        with engine.begin() as conn:
            alembic(conn, "downgrade", "0001")
        with engine.begin() as conn:
            assert snapshot(conn) == before
            assert "site_id" not in {c["name"] for c in inspect(conn).get_columns("charge_points")}
            assert "sites" not in inspect(conn).get_table_names()
        with engine.begin() as conn:
            alembic(conn, "upgrade", "head")
            assert snapshot(conn) == before
    finally:
        engine.dispose()


def _inline_fk(difference: Any) -> bool:
    """SQLite adds a column's foreign key inline (ALTER TABLE cannot add constraints), and
    SQLAlchemy reflects that one without its name or ON DELETE: the same key, told apart."""
    kind = difference[0] if isinstance(difference, tuple) else None
    if kind not in ("add_fk", "remove_fk"):
        return False
    key = difference[1]
    return (
        key.table.name == "charge_points"
        and [c.name for c in key.columns] == ["site_id"]
        and key.referred_table.name == "sites"
    )
