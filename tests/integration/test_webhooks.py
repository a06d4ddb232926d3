"""Webhooks with a real HTTP receiver on localhost: a session's events in order with valid
signatures, plan.updated on a replan, a receiver that was down gets everything, the API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.support.charger import charger
from tests.support.receiver import Receiver, polled, receiving, verify


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def subscribe(api: httpx.AsyncClient, url: str, events: list[str], **extra: Any) -> dict:
    response = await api.post("/webhooks", json={"url": url, "events": events, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def charge_once(ocpp_url: str, cp_id: str = "CP-W") -> int:
    """Boot, start, two readings, stop: 3,000 Wh from meter 10,000."""
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    async with charger(ocpp_url, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"
        started = await cp.start_transaction(1, "TAG-W", 10_000, iso(started_at))
        tx = int(started.transaction_id)
        await cp.meter_values(1, tx, 11_000, 7_000, iso(started_at + timedelta(minutes=10)))
        await cp.meter_values(1, tx, 12_000, 7_200, iso(started_at + timedelta(minutes=20)))
        await cp.stop_transaction(
            tx, 13_000, "EVDisconnected", timestamp=iso(started_at + timedelta(minutes=30))
        )
    return tx


@pytest.fixture
async def known(api: httpx.AsyncClient) -> None:
    created = await api.post("/charge-points", json={"id": "CP-W", "security_profile": 0})
    assert created.status_code == 201, created.text
    assert (await api.post("/id-tags", json={"id_tag": "TAG-W"})).status_code == 201


@pytest.fixture
async def receiver() -> Any:
    async with receiving() as r:
        yield r


@pytest.mark.settings(session_update_interval=0)
async def test_a_session_arrives_in_order_with_valid_signatures(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, known: None, receiver: Receiver
) -> None:
    hook = await subscribe(api, receiver.url, ["session.*"])
    tx = await charge_once(ocpp_url)
    events = await receiver.wait_for(4, "session.")
    assert [e["type"] for e in events] == [
        "session.started",
        "session.updated",
        "session.updated",
        "session.stopped",
    ]
    assert all(e["data"]["transaction_id"] == tx for e in events)
    assert [e["data"].get("energy_wh") for e in events[1:]] == [1000, 2000, 3000]
    assert events[0]["data"]["meter_start_wh"] == 10_000
    assert events[1]["data"]["power_w"] == 7000
    assert events[3]["data"]["reason"] == "EVDisconnected"
    assert len({e["id"] for e in events}) == 4
    for received in receiver.received:
        signature = received.headers["ampnexus-signature"]
        assert verify(hook["secret"], signature, received.body)
        assert not verify("whsec_wrong", signature, received.body)
        assert received.headers["ampnexus-event-id"] == received.event["id"]
    log: dict[str, Any] = {}

    async def all_recorded() -> bool:  # outcomes are stored per batch, after the posts
        log.update((await api.get(f"/webhooks/{hook['id']}/deliveries")).json())
        return {d["status"] for d in log["items"]} == {"delivered"}

    await polled(all_recorded)
    assert log["total"] == 4
    assert all(d["last_status_code"] == 200 and d["attempts"] == 1 for d in log["items"])


async def test_plan_updated_arrives_when_a_site_replans(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, known: None, receiver: Receiver
) -> None:
    site = {"id": "S-W", "name": "Yard", "time_zone": "Europe/London", "grid_limit_kw": 20}
    assert (await api.post("/sites", json=site)).status_code == 201
    placed = await api.put("/charge-points/CP-W", json={"site_id": "S-W", "max_power_w": 11_000})
    assert placed.status_code == 200, placed.text
    other = await subscribe(api, receiver.url, ["plan.updated"], site_ids=["elsewhere"])
    hook = await subscribe(api, receiver.url, ["plan.*"], site_ids=["S-W"])
    async with charger(ocpp_url, "CP-W") as cp:
        assert (await cp.boot()).status == "Accepted"
        tx = int((await cp.start_transaction(1, "TAG-W", 0)).transaction_id)
        await cp.status(1, "Charging")
        replanned = await api.post("/sites/S-W/plan")
        assert replanned.status_code == 200

        def with_session() -> list[dict[str, Any]]:
            return [
                e["data"]
                for e in receiver.events("plan.updated")
                if any(s["transaction_id"] == tx for s in e["data"]["sessions"])
            ]

        await receiver.wait_until(lambda: bool(with_session()))
    data = with_session()[0]
    assert data["site_id"] == "S-W"
    (session,) = [s for s in data["sessions"] if s["transaction_id"] == tx]
    assert session["charge_point_id"] == "CP-W"
    assert session["power_w"][0]["power_w"] > 0  # a car plugged in on an idle site charges
    assert session["power_w"][0]["power_w"] <= 11_000
    assert session["energy_planned_wh"] > 0
    shown = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()
    assert shown["total"] >= 1
    elsewhere = (await api.get(f"/webhooks/{other['id']}/deliveries")).json()
    assert elsewhere["total"] == 0  # filtered by site


@pytest.mark.settings(session_update_interval=0)
async def test_a_receiver_that_was_down_gets_everything_in_order_once_it_recovers(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, known: None, receiver: Receiver
) -> None:
    hook = await subscribe(api, receiver.url, ["session.*", "charge_point.connected"])
    await receiver.stop()  # down: connections refused
    tx = await charge_once(ocpp_url)

    async def failed_once() -> bool:
        log = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()
        return any(d["attempts"] >= 1 and d["status"] == "pending" for d in log["items"])

    await polled(failed_once)
    log = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()
    head = [d for d in log["items"] if d["attempts"] >= 1]
    assert head and head[0]["last_status_code"] is None and head[0]["last_error"]
    assert all(d["attempts"] == 0 for d in log["items"] if d not in head)  # they wait their turn
    await receiver.start()  # back, on the same port
    events = await receiver.wait_for(5, timeout=30)
    assert [e["type"] for e in events] == [
        "charge_point.connected",
        "session.started",
        "session.updated",
        "session.updated",
        "session.stopped",
    ]
    assert events[-1]["data"]["transaction_id"] == tx
    first = receiver.received[0]
    assert int(first.headers["ampnexus-delivery-attempt"]) >= 2

    async def healthy() -> bool:  # outcomes are stored per batch, after the posts
        shown = (await api.get(f"/webhooks/{hook['id']}")).json()
        return shown["health"] == "ok" and shown["consecutive_failures"] == 0

    await polled(healthy)


async def test_a_slow_receiver_does_not_slow_ocpp(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, known: None, receiver: Receiver
) -> None:
    receiver.delay_s = 10.0  # each delivery takes 10 s to answer
    await subscribe(api, receiver.url, ["*"])
    async with charger(ocpp_url, "CP-W") as cp:
        assert (await cp.boot()).status == "Accepted"
        await asyncio.sleep(0.5)  # the first delivery (connected) is now hanging
        tx = int((await cp.start_transaction(1, "TAG-W", 0)).transaction_id)
        answered = []
        for minute in range(20):
            started = asyncio.get_running_loop().time()
            await cp.meter_values(1, tx, 100.0 * minute, 7000)
            await cp.status(1, "Charging")
            answered.append(asyncio.get_running_loop().time() - started)
    # Were OCPP answers held behind a delivery, each would take up to 10 s.
    assert max(answered) < 2.0, answered
    assert receiver.received == []  # the deliveries were indeed still hanging


async def test_webhook_api(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, known: None, receiver: Receiver
) -> None:
    hook = await subscribe(api, receiver.url, ["session.started"], description="billing")
    assert hook["secret"].startswith("whsec_")
    shown = (await api.get(f"/webhooks/{hook['id']}")).json()
    assert "secret" not in shown and shown["description"] == "billing"
    assert [w["id"] for w in (await api.get("/webhooks")).json()] == [hook["id"]]

    for bad, word in (
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": receiver.url, "events": ["session.begun"]}, "session.begun"),
        ({"url": receiver.url, "events": []}, "events"),
        ({"url": receiver.url, "events": ["*"], "secret": "mine"}, "secret"),
    ):
        refused = await api.post("/webhooks", json=bad)
        assert refused.status_code == 422, refused.text
        assert word in refused.text

    pinged = (await api.post(f"/webhooks/{hook['id']}/ping")).json()
    assert pinged["ok"] and pinged["status_code"] == 200
    (ping,) = receiver.received
    assert ping.event["type"] == "webhook.ping"
    assert verify(hook["secret"], ping.headers["ampnexus-signature"], ping.body)

    changed = await api.patch(f"/webhooks/{hook['id']}", json={"events": ["session.*"]})
    assert changed.status_code == 200 and changed.json()["events"] == ["session.*"]
    assert (await api.patch(f"/webhooks/{hook['id']}", json={"events": ["x.*"]})).status_code == 422

    await charge_once(ocpp_url)
    await receiver.wait_for(2, "session.")
    delivered: list[dict[str, Any]] = []

    async def recorded() -> bool:  # outcomes are stored per batch, after the posts
        log = (await api.get(f"/webhooks/{hook['id']}/deliveries?status=delivered")).json()
        delivered[:] = [d for d in log["items"] if d["event_type"] == "session.started"]
        return bool(delivered)

    await polled(recorded)
    started = delivered[0]
    again = await api.post(f"/webhooks/{hook['id']}/deliveries/{started['id']}/redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["event_id"] == started["event_id"] and again.json()["id"] != started["id"]
    await receiver.wait_for(2, "session.started")
    first, second = receiver.events("session.started")
    assert first == second  # the same event, the same id: a receiver deduplicates by it

    assert (
        await api.post(f"/webhooks/{hook['id']}/deliveries/999999/redeliver")
    ).status_code == 404
    assert (await api.delete(f"/webhooks/{hook['id']}")).status_code == 204
    assert (await api.get(f"/webhooks/{hook['id']}")).status_code == 404
    assert (await api.get(f"/webhooks/{hook['id']}/deliveries")).status_code == 404


@pytest.mark.settings(webhook_refuse_private=True)
async def test_private_addresses_can_be_refused(
    server: AmpNexus, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    refused = await api.post("/webhooks", json={"url": receiver.url, "events": ["*"]})
    assert refused.status_code == 422
    assert "private" in refused.json()["detail"]


async def test_the_openapi_document_describes_every_event(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    from ampnexus.services.feed import EVENT_TYPES

    documented = document["webhooks"]
    assert set(EVENT_TYPES) <= set(documented)
    body = documented["session.stopped"]["post"]["requestBody"]["content"]["application/json"]
    schema_name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = document["components"]["schemas"][schema_name]
    assert set(schema["properties"]) == {"id", "type", "created_at", "data"}
    data_ref = schema["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    assert "energy_wh" in document["components"]["schemas"][data_ref]["properties"]


@pytest.mark.postgres
async def test_two_processes_on_one_database_deliver_each_event_once(
    postgres_server: str, receiver: Receiver
) -> None:
    """Two servers share a PostgreSQL database and its outbox; both dispatch. Every event
    reaches the receiver once, in order, whichever server a charger is connected to."""
    from tests.conftest import fresh_postgres_database, test_settings
    from tests.support.server import api_client, running

    for url in fresh_postgres_database(postgres_server):
        settings = test_settings(url, session_update_interval=0)
        async with running(settings) as first, running(settings) as second:
            async with api_client(first) as api:
                for cp_id in ("CP-1", "CP-2"):
                    body = {"id": cp_id, "security_profile": 0}
                    assert (await api.post("/charge-points", json=body)).status_code == 201
                assert (await api.post("/id-tags", json={"id_tag": "TAG-W"})).status_code == 201
                await subscribe(api, receiver.url, ["session.*"])
            for server, cp_id in ((first, "CP-1"), (second, "CP-2")):
                async with charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", cp_id) as cp:
                    await cp.boot()
                    for n in range(5):  # distinct meter starts: no start is a replay
                        started = await cp.start_transaction(1, "TAG-W", 1000 * n)
                        tx = int(started.transaction_id)
                        await cp.meter_values(1, tx, 1000 * n + 500, 7000)
                        await cp.stop_transaction(tx, 1000 * n + 900)
            events = await receiver.wait_for(30, "session.")
            await asyncio.sleep(2)  # time for a second copy, were one sent
            ids = [r.event["id"] for r in receiver.received]
            assert len(ids) == len(set(ids)) == 30
            order = [(e["type"], e["data"]["transaction_id"]) for e in events]
            for tx in {t for _, t in order}:
                kinds = [k for k, t in order if t == tx]
                assert kinds == ["session.started", "session.updated", "session.stopped"]
