"""A charger touches only its own sessions: real chargers over real WebSockets naming
transactions that are another charger's, that do not exist, or that run on another
connector; on SQLite and PostgreSQL, before and after a restart."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import select

from ampnexus.app import AmpNexus
from ampnexus.domain.time import format_timestamp
from ampnexus.store.tables import meter_values
from tests.conftest import PASSWORD
from tests.conftest import test_settings as settings_for
from tests.support.charger import TestCharger, charger
from tests.support.server import api_client, running


async def register(api: httpx.AsyncClient, *charge_point_ids: str) -> None:
    for charge_point_id in charge_point_ids:
        response = await api.post(
            "/charge-points", json={"id": charge_point_id, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text


@contextlib.asynccontextmanager
async def booted(server: AmpNexus, charge_point_id: str) -> AsyncIterator[TestCharger]:
    async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", charge_point_id, PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"
        yield cp


async def readings_of(server: AmpNexus, charge_point_id: str) -> list[tuple[Any, ...]]:
    """(connector, transaction, rejected transaction, value) of a charger's stored samples."""
    query = (
        select(
            meter_values.c.connector_id,
            meter_values.c.transaction_id,
            meter_values.c.rejected_transaction_id,
            meter_values.c.value,
        )
        .where(meter_values.c.charge_point_id == charge_point_id)
        .order_by(meter_values.c.id)
    )
    return [tuple(row) for row in await server.db.read(lambda conn: conn.execute(query).all())]


async def alerts_of(api: httpx.AsyncClient, charge_point_id: str) -> list[dict[str, Any]]:
    page = await api.get("/alerts", params={"charge_point_id": charge_point_id})
    assert page.status_code == 200, page.text
    return page.json()["items"]  # type: ignore[no-any-return]


async def session_values(api: httpx.AsyncClient, transaction_id: int) -> list[str]:
    shown = (await api.get(f"/transactions/{transaction_id}")).json()
    return [v["value"] for m in shown["meter_values"] for v in m["sampled_values"]]


async def test_meter_values_for_another_chargers_session_are_refused(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    await register(api, "CP-A", "CP-B")
    async with booted(server, "CP-A") as cp_a, booted(server, "CP-B") as cp_b:
        theirs = (await cp_b.start_transaction(1, "TAG-B")).transaction_id
        await cp_b.meter_values(1, theirs, 1100, 7000)

        for energy in (5000, 5001):
            answer = await cp_a.meter_values(1, theirs, energy, 9999)
            assert answer.__dict__ == {}  # answered {}, so the charger does not retry

        # CP-B's session still has only CP-B's reading; CP-A's stay with CP-A, refused.
        assert await session_values(api, theirs) == ["1100", "7000"]
        assert await readings_of(server, "CP-A") == [
            (1, None, theirs, "5000"),
            (1, None, theirs, "9999"),
            (1, None, theirs, "5001"),
            (1, None, theirs, "9999"),
        ]
        (alert,) = await alerts_of(api, "CP-A")
        assert alert["kind"] == "foreign_transaction"
        assert alert["count"] == 2 and alert["open"] is True
        assert alert["details"] == {"transaction_id": theirs}
        assert "CP-B" not in alert["message"] and str(theirs) in alert["message"]
        assert await alerts_of(api, "CP-B") == []

        # CP-B's own readings still attach (the regression).
        await cp_b.meter_values(1, theirs, 1200, 7000)
        assert await session_values(api, theirs) == ["1100", "7000", "1200", "7000"]


async def test_meter_values_for_a_transaction_that_does_not_exist_are_refused(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    await register(api, "CP-A")
    async with booted(server, "CP-A") as cp_a:
        own = (await cp_a.start_transaction(1, "TAG-A")).transaction_id
        below, above = own - 1, own + 1000  # a gap below (no id 0) and one never issued
        for bogus in (above, above, below):
            assert (await cp_a.meter_values(2, bogus, 10, 20)).__dict__ == {}

    assert [(c, t, r) for c, t, r, _ in await readings_of(server, "CP-A")] == [
        (2, None, above),
        (2, None, above),
        (2, None, above),
        (2, None, above),
        (2, None, below),
        (2, None, below),
    ]
    (alert,) = await alerts_of(api, "CP-A")
    assert alert["kind"] == "foreign_transaction" and alert["count"] == 3
    assert alert["details"] == {"transaction_id": below}  # the latest claim
    assert await session_values(api, own) == []


async def test_stop_naming_another_chargers_session_closes_nothing(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    await register(api, "CP-A", "CP-B")
    sample = {"value": "4242", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    data = [{"timestamp": format_timestamp(server.services.clock.now()), "sampledValue": [sample]}]
    async with booted(server, "CP-A") as cp_a, booted(server, "CP-B") as cp_b:
        theirs = (await cp_b.start_transaction(1, "TAG-B", meter_start=100)).transaction_id
        with_tag = await cp_a.stop_transaction(theirs, 5000, id_tag="TAG-A", transaction_data=data)
        assert with_tag.id_tag_info == {"status": "Invalid"}  # the tag's answer, as OCPP allows
        without_tag = await cp_a.stop_transaction(theirs + 500, 5000)
        assert without_tag.id_tag_info is None  # answered {}

        session = (await api.get(f"/transactions/{theirs}")).json()
        assert session["active"] is True and session["meter_stop"] is None
        assert await session_values(api, theirs) == []
        # Stop names no connector: the refused readings are kept on connector 0.
        assert await readings_of(server, "CP-A") == [(0, None, theirs, "4242")]
        (alert,) = await alerts_of(api, "CP-A")
        assert alert["kind"] == "foreign_transaction" and alert["count"] == 2
        assert alert["details"] == {"transaction_id": theirs + 500}

        # CP-B stops its own session, with its readings (the regression).
        await cp_b.stop_transaction(theirs, 900, transaction_data=data)
        session = (await api.get(f"/transactions/{theirs}")).json()
        assert session["active"] is False and session["energy_wh"] == 800
        assert await session_values(api, theirs) == ["4242"]
        assert await alerts_of(api, "CP-B") == []


async def test_readings_without_a_transaction_stay_with_their_charger_and_connector(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    await register(api, "CP-A", "CP-B")
    async with booted(server, "CP-A") as cp_a, booted(server, "CP-B") as cp_b:
        theirs = (await cp_b.start_transaction(2, "TAG-B")).transaction_id
        await cp_a.meter_values(2, None, 300, 400)

    assert await readings_of(server, "CP-A") == [(2, None, None, "300"), (2, None, None, "400")]
    assert await readings_of(server, "CP-B") == []
    assert await session_values(api, theirs) == []
    assert await alerts_of(api, "CP-A") == []


async def test_own_transaction_named_on_another_connector_is_refused(
    server: AmpNexus, api: httpx.AsyncClient
) -> None:
    await register(api, "CP-A")
    async with booted(server, "CP-A") as cp_a:
        own = (await cp_a.start_transaction(1, "TAG-A")).transaction_id
        assert (await cp_a.meter_values(2, own, 10, 20)).__dict__ == {}

    assert await session_values(api, own) == []
    assert await readings_of(server, "CP-A") == [(2, None, own, "10"), (2, None, own, "20")]
    (alert,) = await alerts_of(api, "CP-A")
    assert alert["kind"] == "connector_mismatch"
    assert alert["details"] == {
        "transaction_id": own,
        "connector_id": 2,
        "transaction_connector_id": 1,
    }


@contextlib.asynccontextmanager
async def server_and_api(database_url: str) -> AsyncIterator[tuple[AmpNexus, httpx.AsyncClient]]:
    async with running(settings_for(database_url)) as app, api_client(app) as api:
        yield app, api


async def test_ownership_holds_after_a_restart(database_url: str) -> None:
    """A restarted server knows no transaction in memory: it reads the owners back."""
    async with server_and_api(database_url) as (server, api):
        await register(api, "CP-A", "CP-B")
        async with booted(server, "CP-A") as cp_a, booted(server, "CP-B") as cp_b:
            own = (await cp_a.start_transaction(1, "TAG-A")).transaction_id
            theirs = (await cp_b.start_transaction(1, "TAG-B")).transaction_id

    async with server_and_api(database_url) as (server, api):
        async with booted(server, "CP-A") as cp_a:
            await cp_a.meter_values(1, own, 10, 20)
            await cp_a.meter_values(1, theirs, 30, 40)
            await cp_a.stop_transaction(theirs, 50)
            await cp_a.stop_transaction(own, 60)
        assert await session_values(api, own) == ["10", "20"]
        assert (await api.get(f"/transactions/{own}")).json()["meter_stop"] == 60
        assert await session_values(api, theirs) == []
        assert (await api.get(f"/transactions/{theirs}")).json()["active"] is True
        (alert,) = await alerts_of(api, "CP-A")
        assert alert["count"] == 2
