"""The portal's sessions and sites over plain HTTP, on each database: the CSV export and its
filters, bad filter values, unknown sessions and sites, and signed-out visitors."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.domain.user import Role
from ampnexus.portal.pages import sessions
from tests.support.charger import charger
from tests.support.portal import portal_client, portal_sign_in

EMAIL, PASSWORD = "viewer@example.com", "a long viewer password"
HEADER = [
    "transaction_id",
    "charge_point_id",
    "connector_id",
    "site_id",
    "id_tag",
    "started_at",
    "stopped_at",
    "energy_kwh",
    "cost",
    "stop_reason",
]


@pytest.fixture
async def portal(server: AmpNexus) -> AsyncIterator[httpx.AsyncClient]:
    await server.services.users.create(EMAIL, PASSWORD, Role.VIEWER)
    async with portal_client(f"http://127.0.0.1:{server.http_port}") as client:
        yield client


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def three_sessions(server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str) -> datetime:
    """On site depot (Berlin, 0.30 per kWh): ALICE's finished 5 kWh and =CAROL's running
    one at CP-A; BOB's finished 2 kWh at CP-B on no site. Returns when ALICE started."""
    for cp in ("CP-A", "CP-B"):
        made = await api.post("/charge-points", json={"id": cp, "security_profile": 0})
        assert made.status_code == 201, made.text
    site = {"id": "depot", "name": "Depot", "time_zone": "Europe/Berlin", "grid_limit_kw": 50}
    assert (await api.post("/sites", json=site)).status_code == 201
    tariff = {"name": "Flat", "kind": "fixed", "import_price": 0.30}
    assert (await api.post("/sites/depot/tariffs", json=tariff)).status_code == 201
    assert (await api.put("/charge-points/CP-A", json={"site_id": "depot"})).status_code == 200
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        await a.boot()
        await b.boot()
        alice = (await a.start_transaction(1, "ALICE", 1000, iso(started))).transaction_id
        await a.meter_values(1, alice, 3000, 7400, iso(started + timedelta(minutes=30)))
        await a.stop_transaction(
            alice, 6000, "EVDisconnected", None, None, iso(started + timedelta(hours=1))
        )
        bob = (
            await b.start_transaction(1, "BOB", 0, iso(started + timedelta(minutes=5)))
        ).transaction_id
        await b.stop_transaction(bob, 2000, None, None, None, iso(started + timedelta(hours=2)))
        carol = (
            await a.start_transaction(1, "=CAROL", 6000, iso(started + timedelta(hours=2)))
        ).transaction_id
        await a.meter_values(1, carol, 6500, 3700, iso(started + timedelta(hours=2, minutes=10)))
    return started


async def export(portal: httpx.AsyncClient, **params: str) -> list[dict[str, str]]:
    answer = await portal.get("/sessions.csv", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith('attachment; filename="sessions-')
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8"))))
    assert rows[0] == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


async def test_the_csv_holds_every_selected_session_with_site_times_energy_and_cost(
    portal: httpx.AsyncClient, three_sessions: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "EXPORT_PAGE", 2)  # three sessions: two pages, by id
    await portal_sign_in(portal, EMAIL, PASSWORD)
    rows = await export(portal)
    assert [r["id_tag"] for r in rows] == ["'=CAROL", "BOB", "ALICE"]  # newest first
    carol, bob, alice = rows
    berlin = three_sessions.astimezone(UTC) + timedelta(hours=1)  # CET in December
    assert alice["started_at"] == berlin.replace(tzinfo=None).isoformat() + "+01:00"
    assert alice["stopped_at"].endswith("+01:00") and alice["site_id"] == "depot"
    assert (alice["energy_kwh"], alice["cost"], alice["stop_reason"]) == (
        "5.000",
        "1.5000",
        "EVDisconnected",
    )
    # No site: UTC and no price; a running session: what it delivered so far.
    assert bob["started_at"].endswith("+00:00") and (bob["site_id"], bob["cost"]) == ("", "")
    assert (bob["energy_kwh"], bob["stop_reason"]) == ("2.000", "Local")
    assert (carol["stopped_at"], carol["energy_kwh"], carol["cost"]) == ("", "0.500", "0.1500")


async def test_filters_narrow_the_csv_and_the_list(
    portal: httpx.AsyncClient, three_sessions: datetime
) -> None:
    await portal_sign_in(portal, EMAIL, PASSWORD)

    async def tags(**params: str) -> list[str]:
        return [row["id_tag"] for row in await export(portal, **params)]

    assert await tags(charger="CP-B") == ["BOB"]
    assert await tags(site="depot") == ["'=CAROL", "ALICE"]
    assert await tags(id_tag="ALICE") == ["ALICE"]
    assert await tags(status="running") == ["'=CAROL"]
    assert await tags(status="finished", charger="CP-A") == ["ALICE"]
    day = three_sessions.date()
    later, earlier = str(day + timedelta(days=2)), str(day - timedelta(days=2))
    assert await tags(**{"from": later}) == []
    assert await tags(**{"to": earlier}) == []
    assert len(await tags(**{"from": earlier, "to": later})) == 3
    listed = await portal.get("/sessions", params={"status": "running"})
    assert listed.status_code == 200
    assert "=CAROL" in listed.text and "ALICE" not in listed.text
    assert "1 session" in listed.text


async def test_the_api_lists_sessions_with_the_same_filters(
    api: httpx.AsyncClient, three_sessions: datetime
) -> None:
    async def tags(**params: str) -> list[str]:
        answer = await api.get("/transactions", params=params)
        assert answer.status_code == 200, answer.text
        return [t["id_tag"] for t in answer.json()["items"]]

    assert await tags(site_id="depot") == ["=CAROL", "ALICE"]
    assert await tags(id_tag="BOB") == ["BOB"]
    assert await tags(since=iso(three_sessions + timedelta(minutes=1))) == ["=CAROL", "BOB"]
    assert await tags(until=iso(three_sessions + timedelta(minutes=1))) == ["ALICE"]
    newest = (await api.get("/transactions")).json()["items"][0]["id"]
    assert await tags(before_id=str(newest)) == ["BOB", "ALICE"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13-01"}, "not a date"),
        ({"to": "yesterday"}, "not a date"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "must not be after"),
        ({"status": "paused"}, "running or finished"),
        ({"page": "-1"}, "whole number"),
        ({"site": "nowhere"}, "does not exist"),
    ],
)
async def test_a_bad_filter_value_is_refused_with_what_to_fix(
    portal: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    await portal_sign_in(portal, EMAIL, PASSWORD)
    for path in ("/sessions.csv", "/sessions"):
        answer = await portal.get(path, params=params)
        assert answer.status_code == 422, (path, answer.text)
        assert message in answer.text


async def test_unknown_sessions_and_sites_are_not_found(portal: httpx.AsyncClient) -> None:
    await portal_sign_in(portal, EMAIL, PASSWORD)
    for path in ("/sessions/424242", "/sessions/not-a-number", "/sessions/99999999999"):
        answer = await portal.get(path)
        assert answer.status_code == 404 and "Not found" in answer.text, path
    answer = await portal.get("/sites/nowhere")
    assert answer.status_code == 404 and "nowhere" in answer.text


async def test_signed_out_visitors_are_sent_to_sign_in(portal: httpx.AsyncClient) -> None:
    for path in ("/sessions", "/sessions.csv?status=running", "/sessions/1", "/sites", "/sites/x"):
        answer = await portal.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=/s"), path
