"""No event is lost to a crash: the real `ampnexus serve` is killed with SIGKILL while its
webhook receiver is down, and after a restart every event the chargers were answered for
is delivered (duplicates, if any, carry the same event id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.test_durability import (  # the child-process server and its fixtures
    Server,
    api_client,
    create_api_key,
    iso,
    server_process,  # noqa: F401 (a fixture)
    workdir,  # noqa: F401 (a fixture)
)
from tests.integration.test_event_stream import read_events
from tests.support.charger import charger
from tests.support.receiver import receiving, verify


async def test_events_undelivered_at_a_kill_9_are_delivered_after_the_restart(
    server_process: Server,  # noqa: F811
    database_url: str,
    workdir: Path,  # noqa: F811
) -> None:
    _, key = create_api_key(database_url, workdir)
    await server_process.start()
    async with receiving() as receiver:
        await receiver.stop()  # down until after the crash
        async with api_client(server_process, key) as api:
            created = await api.post("/charge-points", json={"id": "CP-K", "security_profile": 0})
            assert created.status_code == 201, created.text
            assert (await api.post("/id-tags", json={"id_tag": "TAG-K"})).status_code == 201
            hook = await api.post("/webhooks", json={"url": receiver.url, "events": ["*"]})
            assert hook.status_code == 201, hook.text
            secret = hook.json()["secret"]

        started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
        transactions = []
        async with charger(server_process.ocpp_url, "CP-K") as cp:
            assert (await cp.boot()).status == "Accepted"
            for n in range(3):
                at = started_at + timedelta(minutes=5 * n)
                started = await cp.start_transaction(1, "TAG-K", 1000 * n, iso(at))
                tx = int(started.transaction_id)
                await cp.status(1, "Charging")
                await cp.stop_transaction(tx, 1000 * n + 500, "Local", timestamp=iso(at))
                transactions.append(tx)
            await cp.status(1, "Faulted", error_code="GroundFailure")
            server_process.kill()  # the moment the last answer arrives

        await receiver.start()
        await server_process.start()
        async with api_client(server_process, key) as api:
            # Every event the feed holds, from its start: what must arrive.
            recorded = await read_events(api, 1000, headers={"Last-Event-ID": "0"}, wait_s=3)
        expected = {data["id"] for _, _, data in recorded}
        types = [data["type"] for _, _, data in recorded]
        assert types.count("session.started") == 3 and types.count("session.stopped") == 3
        assert "charge_point.faulted" in types

        await receiver.wait_until(lambda: {r.event["id"] for r in receiver.received} >= expected)
        ids = [r.event["id"] for r in receiver.received]
        assert set(ids) == expected  # none lost (and the ping-less stream has no extra)
        for received in receiver.received:
            assert verify(secret, received.headers["ampnexus-signature"], received.body)
        stopped = [e["data"]["transaction_id"] for e in receiver.events("session.stopped")]
        assert sorted(set(stopped)) == transactions
        # In order: each session's start before its stop.
        order = [(e["type"], e["data"].get("transaction_id")) for e in receiver.events("session.")]
        for tx in transactions:
            assert order.index(("session.started", tx)) < order.index(("session.stopped", tx))
