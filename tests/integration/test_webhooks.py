"""Webhooks with a real HTTP receiver on localhost: a session's events in order with valid
signatures, plan.updated on a replan, a receiver that was down gets everything, the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.support.charger import charger
from tests.support.receiver import Receiver, receiving, verify


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
    log = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()
    assert log["total"] == 4
    assert {d["status"] for d in log["items"]} == {"delivered"}
    assert all(d["last_status_code"] == 200 and d["attempts"] == 1 for d in log["items"])
