"""Plug & charge and `started_remotely` against the real server (SQLite and PostgreSQL):
a simulated charger put in plug_and_charge through the API starts a session with its own
tag, no card shown, within 10 s of a car plugging in; that tag is refused at any other
charger; a remote start through the API is marked started_remotely, a session started at
the charger with a card is not; a charger in another mode is sent no remote start.
Migration 0008 on a populated 0007 database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ampnexus.domain.id_tag import own_id_tag
from ampnexus.sim import EV, ChargerSpec, SimChargePoint, SimClock
from ampnexus.store.database import create_db_engine
from ampnexus.store.tables import id_tags, transactions
from tests.conftest import PASSWORD
from tests.integration.test_simulator import CARD, ok, sent, simulated, started, transaction
from tests.support.charger import charger
from tests.support.migrations import alembic

SIM = ChargerSpec("SIM-PNC", connectors=2, max_power_w=22_000, phases=3, password=PASSWORD)
OTHER_CARD = "SIM-CARD-2"


@pytest.fixture
def clock() -> SimClock:
    return SimClock(60.0)


@pytest.fixture
async def sim(
    api: httpx.AsyncClient, ocpp_url: str, clock: SimClock
) -> AsyncIterator[SimChargePoint]:
    for card in (CARD, OTHER_CARD):
        ok(await api.post("/id-tags", json={"id_tag": card}), 201)
    async with simulated(api, ocpp_url, clock, SIM) as cp:
        yield cp


async def put_mode(api: httpx.AsyncClient, charge_point_id: str, mode: str) -> None:
    shown = ok(await api.put(f"/charge-points/{charge_point_id}/mode", json={"mode": mode}))
    assert shown["mode"] == mode


async def test_a_plug_in_starts_an_authorised_session_with_the_chargers_own_tag(
    sim: SimChargePoint, api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    await put_mode(api, sim.id, "plug_and_charge")
    await sim.plug_in(1, EV(capacity_kwh=60, soc=30, max_power_w=11_000))
    tx = await started(sim, 1)  # waits at most 10 s
    own = own_id_tag(sim.id)
    assert (tx.id_tag, tx.invalid) == (own, False)  # the server answered Accepted
    assert sent(sim, "Authorize") == []  # no card shown
    shown = await transaction(api, tx.id)
    assert (shown["id_tag"], shown["connector_id"], shown["active"]) == (own, 1, True)
    assert shown["started_remotely"] is True
    tag = ok(await api.get(f"/id-tags/{own}"))
    assert (tag["status"], tag["charge_point_id"]) == ("Accepted", sim.id)

    # The same tag at another charger: Invalid, to Authorize and to StartTransaction alike.
    async with charger(ocpp_url, registered, PASSWORD) as other:
        await other.boot()
        assert (await other.authorize(own)).id_tag_info["status"] == "Invalid"
        answer = await other.start_transaction(1, own)
        assert answer.id_tag_info["status"] == "Invalid"
    refused = await transaction(api, answer.transaction_id)  # recorded, like any start
    assert refused["started_remotely"] is False


async def test_started_remotely_through_the_api_but_not_with_a_card(
    sim: SimChargePoint, api: httpx.AsyncClient
) -> None:
    await sim.plug_in(1, EV(capacity_kwh=60, soc=30, max_power_w=11_000))
    reply = ok(
        await api.post(
            f"/charge-points/{sim.id}/remote-start", json={"id_tag": CARD, "connector_id": 1}
        )
    )
    assert reply["status"] == "Accepted"
    remote = await started(sim, 1)
    assert (await transaction(api, remote.id))["started_remotely"] is True

    await sim.plug_in(2, EV(capacity_kwh=60, soc=30, max_power_w=11_000))
    assert await sim.present_tag(2, OTHER_CARD) == "Accepted"
    local = await started(sim, 2)
    shown = await transaction(api, local.id)
    assert (shown["id_tag"], shown["started_remotely"]) == (OTHER_CARD, False)
    listed = ok(await api.get("/transactions", params={"charge_point_id": sim.id}))["items"]
    assert {t["id"]: t["started_remotely"] for t in listed} == {remote.id: True, local.id: False}


async def test_preparing_brings_a_remote_start_only_in_plug_and_charge(
    api: httpx.AsyncClient, ocpp_url: str, registered: str
) -> None:
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await cp.boot()
        await cp.status(1, "Preparing")  # smart, the default
        await asyncio.sleep(1.5)
        assert [action for action, _ in cp.received if action == "RemoteStartTransaction"] == []

        await put_mode(api, registered, "plug_and_charge")
        await cp.status(0, "Preparing")  # the charger as a whole: no connector to start
        await cp.status(2, "Preparing")
        request = await cp.wait_for("RemoteStartTransaction", timeout=10)
        assert request == {"connector_id": 2, "id_tag": own_id_tag(registered)}
        await cp.status(2, "Preparing")  # again within 30 s: not sent twice
        await asyncio.sleep(1.0)
        assert [action for action, _ in cp.received].count("RemoteStartTransaction") == 1


async def test_migration_0008_keeps_tags_and_sessions_as_they_were(database_url: str) -> None:
    engine = create_db_engine(database_url)
    moment = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0007")
            conn.execute(
                insert(id_tags).values(id_tag="CARD", status="Accepted", created_at=moment)
            )
            conn.execute(
                insert(transactions).values(
                    charge_point_id="CP-1",
                    connector_id=1,
                    id_tag="CARD",
                    meter_start=0,
                    started_at=moment,
                    created_at=moment,
                )
            )
        with engine.begin() as conn:
            alembic(conn, "upgrade", "head")
        with engine.begin() as conn:
            assert conn.execute(select(id_tags.c.charge_point_id)).scalar_one() is None
            assert conn.execute(select(transactions.c.started_remotely)).scalar_one() is False
        with engine.begin() as conn:
            alembic(conn, "downgrade", "0007")
            assert conn.execute(select(transactions.c.id_tag)).scalars().all() == ["CARD"]
        # The index that keeps id tags unique in any case is still there.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                insert(id_tags).values(id_tag="card", status="Accepted", created_at=moment)
            )
    finally:
        engine.dispose()
