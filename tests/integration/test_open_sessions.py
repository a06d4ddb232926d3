"""Sessions a charger left open: a charger that rebooted mid-session never sends that
session's StopTransaction. AmpNexus closes such a session when the charger shows it is over:
(a) a new StartTransaction on the same connector, (b) after a BootNotification, the
connector's first status is Available. Closed at its latest register reading, with the
reason and why stored, and session.stopped told once; a late real StopTransaction for it is
still answered and changes nothing.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.domain.user import Role
from ampnexus.store.feed import SqlFeedStore
from tests.conftest import PASSWORD
from tests.integration.test_octt_core import (
    VALID,
    boot,
    charging,
    connector_statuses,
    iso,
    ok,
    transaction,
)
from tests.support.charger import TestCharger, charger
from tests.support.portal import portal_client, portal_sign_in


@pytest.fixture
async def cp(api: httpx.AsyncClient, ocpp_url: str, registered: str) -> AsyncIterator[TestCharger]:
    ok(await api.post("/id-tags", json={"id_tag": VALID, "status": "Accepted"}), 201)
    async with charger(ocpp_url, registered, PASSWORD) as connected:
        await boot(connected)
        yield connected


def seconds_ago(seconds: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds)


async def open_session(
    cp: TestCharger, connector_id: int = 1, meter_start: int = 1_000, minutes_ago: int = 5
) -> int:
    """A session that started some minutes ago (so its readings come after its start)."""
    started = await cp.start_transaction(
        connector_id, VALID, meter_start, iso(seconds_ago(60 * minutes_ago))
    )
    assert started.id_tag_info["status"] == "Accepted"
    await cp.status(connector_id, "Charging")
    return int(started.transaction_id)


async def stopped_events(server: AmpNexus) -> list[dict[str, Any]]:
    """Every session.stopped in the feed (committed with the change that caused it)."""
    events = await SqlFeedStore(server.db).read(0, 10_000)
    return [json.loads(e.data) for e in events if e.type == "session.stopped"]


async def test_a_new_start_on_the_connector_closes_the_session_left_open(server, api, cp):
    """(a) Closed at its last register reading, with that energy; the new one runs."""
    first = await open_session(cp, meter_start=1_000)
    read_at = seconds_ago(30)
    await cp.meter_values(1, first, 1_800, 7_000, timestamp=iso(read_at))
    await cp.meter_values(1, first, 1_000_000, 0, timestamp=iso(seconds_ago(60)))  # older

    second = await cp.start_transaction(1, VALID, meter_start=1_900)
    assert second.id_tag_info["status"] == "Accepted"

    closed = await transaction(api, first)
    assert closed["active"] is False
    assert closed["stop_reason"] == "superseded"
    assert f"transaction {second.transaction_id} started" in closed["stop_detail"]
    assert datetime.fromisoformat(closed["stopped_at"]) == read_at
    assert (closed["meter_stop"], closed["energy_wh"]) == (1_800, 800)
    assert (await transaction(api, second.transaction_id))["active"] is True
    [told] = await stopped_events(server)
    assert datetime.fromisoformat(told.pop("stopped_at")) == read_at
    assert told == {
        "transaction_id": first,
        "charge_point_id": cp.id,
        "connector_id": 1,
        "meter_stop_wh": 1_800,
        "energy_wh": 800.0,
        "reason": "superseded",
    }


async def test_a_late_stop_transaction_is_answered_and_counts_nothing_twice(server, api, cp):
    first = await open_session(cp, meter_start=1_000)
    await cp.meter_values(1, first, 1_500, 7_000)
    await cp.start_transaction(1, VALID, meter_start=1_600)
    before = await transaction(api, first)

    late = await cp.stop_transaction(first, 1_550, reason="Local", id_tag=VALID)
    assert late.id_tag_info["status"] == "Accepted"
    after = await transaction(api, first)
    assert after == before  # the close stands: same stop, same energy
    assert [e["transaction_id"] for e in await stopped_events(server)] == [first]


async def test_without_readings_it_closes_at_the_new_start_with_no_energy(api, cp):
    first = await open_session(cp, meter_start=1_000)
    started = seconds_ago(5)
    await cp.start_transaction(1, VALID, meter_start=1_000, timestamp=iso(started))
    closed = await transaction(api, first)
    assert datetime.fromisoformat(closed["stopped_at"]) == started
    assert (closed["stop_reason"], closed["meter_stop"], closed["energy_wh"]) == (
        "superseded",
        1_000,
        0,
    )


async def test_only_the_same_connector_and_only_older_starts_close_a_session(api, cp):
    """Another connector's session runs on; a replayed start closes nothing, nor does a
    start the charger dates before the open one (an old start arriving late)."""
    on_one = await charging(cp, api, connector_id=1)
    on_two = await charging(cp, api, connector_id=2)
    replayed = await transaction(api, on_one)
    again = await cp.start_transaction(1, VALID, replayed["meter_start"], replayed["started_at"])
    assert again.transaction_id == on_one
    older = await cp.start_transaction(2, VALID, 500, iso(seconds_ago(3600)))
    assert older.transaction_id not in (on_one, on_two)
    for transaction_id in (on_one, on_two):
        assert (await transaction(api, transaction_id))["active"] is True


async def test_available_after_a_reboot_closes_the_session_left_open(
    server, api, ocpp_url, registered, cp
):
    """(b) The charger rebooted (a new connection and BootNotification) and reports the
    connector Available: the session is closed. Connector 2 reports Charging: it runs on."""
    first = await open_session(cp, connector_id=1, meter_start=2_000)
    read_at = seconds_ago(20)
    await cp.meter_values(1, first, 2_750, 3_600, timestamp=iso(read_at))
    survivor = await charging(cp, api, connector_id=2)
    await cp.websocket.close()

    async with charger(ocpp_url, registered, PASSWORD) as rebooted:
        assert (await rebooted.boot()).status == "Accepted"
        await rebooted.status(2, "Charging")
        await rebooted.status(1, "Available")
        closed = await transaction(api, first)
        assert closed["active"] is False
        assert closed["stop_reason"] == "charger_rebooted"
        assert "rebooted" in closed["stop_detail"]
        assert datetime.fromisoformat(closed["stopped_at"]) == read_at
        assert (closed["meter_stop"], closed["energy_wh"]) == (2_750, 750)
        assert (await transaction(api, survivor))["active"] is True
        assert (await connector_statuses(api, registered))[1] == "Available"

        # Told again, or booted again: nothing more is closed or told.
        await rebooted.status(1, "Available")
        assert (await rebooted.boot()).status == "Accepted"
        await rebooted.status(1, "Available")
        assert await transaction(api, first) == closed
        assert [e["transaction_id"] for e in await stopped_events(server)] == [first]
        assert (await transaction(api, survivor))["active"] is True

        # The real StopTransaction, queued through the reboot, is still answered.
        late = await rebooted.stop_transaction(first, 2_900, reason="Reboot")
        assert late.id_tag_info is None or late.id_tag_info["status"] == "Accepted"
        assert await transaction(api, first) == closed


async def test_available_closes_nothing_without_a_boot_or_after_another_status(api, cp):
    """Available with no boot before it is only a status (the StopTransaction may be on its
    way); after a boot, only a connector's first status tells what the boot left."""
    first = await charging(cp, api, connector_id=1)
    await cp.status(1, "Available")
    assert (await transaction(api, first))["active"] is True

    assert (await cp.boot()).status == "Accepted"
    await cp.status(1, "Charging")
    await cp.status(1, "Available")
    assert (await transaction(api, first))["active"] is True


async def test_a_session_started_after_the_boot_is_not_closed_by_its_available(api, cp):
    assert (await cp.boot()).status == "Accepted"
    started = await cp.start_transaction(1, VALID, 1_000)
    await cp.status(1, "Available")
    assert (await transaction(api, started.transaction_id))["active"] is True


async def test_the_portal_shows_why_a_session_was_closed(server, api, cp):
    first = await open_session(cp)
    await cp.start_transaction(1, VALID, meter_start=1_000)
    await server.services.users.create("viewer@example.com", "a long viewer password", Role.VIEWER)
    async with portal_client(f"http://127.0.0.1:{server.http_port}") as portal:
        await portal_sign_in(portal, "viewer@example.com", "a long viewer password")
        page = await portal.get(f"/sessions/{first}")
    assert page.status_code == 200
    assert "superseded" in page.text
    assert html.escape((await transaction(api, first))["stop_detail"]) in page.text
