"""OCA OCTT OCPP 1.6 test cases for a Central System, section 3.17 (Reservation), and the
rules AmpNexus keeps around them: a reserved connector refuses other groups' tags, the
reservation ends when used, cancelled, dropped by the charger or expired, and smart charging
keeps room for its driver.

The test charger plays the OCTT tool (it holds the reservations it accepts and rejects the
cancellation of any other); the operator reserves and cancels through the REST API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.conftest import PASSWORD
from tests.support.charger import TestCharger, charger

VALID = "OCTT-VALID"
BLOCKED = "OCTT-BLOCKED"
UNKNOWN = "OCTT-UNKNOWN"  # never stored
GROUP = "OCTT-GROUP"  # a parent id tag, not a tag anyone presents
MEMBER = "OCTT-MEMBER"  # in GROUP
OTHER_MEMBER = "OCTT-MEMBER-2"  # in GROUP too
CONNECTORS = (0, 1, 2)


# --- helpers --------------------------------------------------------------------------------
def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def in_minutes(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def ok(response: httpx.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


async def eventually(probe: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Poll `probe` until it holds; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while not await probe():  # noqa: ASYNC110 (the API offers no event to wait on)
            await asyncio.sleep(0.02)


async def reserve(
    api: httpx.AsyncClient,
    cp_id: str,
    connector_id: int,
    id_tag: str = VALID,
    expiry: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """POST a reservation; the response as the API shows it (201 expected)."""
    body = {"connector_id": connector_id, "id_tag": id_tag, "expiry": iso(expiry or in_minutes(30))}
    return ok(await api.post(f"/charge-points/{cp_id}/reservations", json=body | extra), 201)


async def shown(api: httpx.AsyncClient, reservation_id: int) -> dict[str, Any]:
    return ok(await api.get(f"/reservations/{reservation_id}"))


async def connector_statuses(api: httpx.AsyncClient, cp_id: str) -> dict[int, str]:
    found = ok(await api.get(f"/charge-points/{cp_id}"))
    return {c["connector_id"]: c["status"] for c in found["connectors"]}


def sent(cp: TestCharger, action: str) -> list[dict[str, Any]]:
    return [payload for name, payload in cp.received if name == action]


async def charging(
    cp: TestCharger, connector_id: int, id_tag: str, reservation_id: int | None
) -> int:
    """OCTT "Charging" with a reservation: Authorized, Preparing, StartTransaction naming the
    reservation, Charging; the transaction id."""
    authorized = await cp.authorize(id_tag)
    assert authorized.id_tag_info["status"] == "Accepted"
    await cp.status(connector_id, "Preparing")
    started = await cp.start_transaction(connector_id, id_tag, reservation_id=reservation_id)
    assert started.id_tag_info["status"] == "Accepted"
    await cp.status(connector_id, "Charging")
    return int(started.transaction_id)


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture
async def id_tags(api: httpx.AsyncClient) -> None:
    for body in (
        {"id_tag": VALID},
        {"id_tag": BLOCKED, "status": "Blocked"},
        {"id_tag": MEMBER, "parent_id_tag": GROUP},
        {"id_tag": OTHER_MEMBER, "parent_id_tag": GROUP},
    ):
        ok(await api.post("/id-tags", json=body), 201)


@pytest.fixture
async def cp(ocpp_url: str, registered: str, id_tags: None) -> AsyncIterator[TestCharger]:
    """An Accepted, connected charger with every connector Available."""
    async with charger(ocpp_url, registered, PASSWORD) as connected:
        assert (await connected.boot()).status == "Accepted"
        for connector_id in CONNECTORS:
            await connected.status(connector_id, "Available")
        connected.configuration["SupportedFeatureProfiles"] = ("Core,Reservation", True)
        yield connected


# --- 3.17.1 Reservation of a connector ------------------------------------------------------
async def test_TC_046_reservation_of_a_connector_transaction(api, cp):
    """TC_046_CSMS: Reservation of a Connector - Transaction."""
    expiry = in_minutes(30)
    made = await reserve(api, cp.id, 1, VALID, expiry)
    request = await cp.wait_for("ReserveNow")
    assert (request["connector_id"], request["id_tag"]) == (1, VALID)
    assert request["reservation_id"] == made["id"]
    assert abs(datetime.fromisoformat(request["expiry_date"]) - expiry) < timedelta(seconds=1)
    assert (made["state"], made["answer"]) == ("active", "Accepted")

    await cp.status(1, "Reserved")
    assert (await connector_statuses(api, cp.id))[1] == "Reserved"
    transaction_id = await charging(cp, 1, VALID, made["id"])

    used = await shown(api, made["id"])
    assert (used["state"], used["transaction_id"]) == ("used", transaction_id)
    assert used["ended_at"] is not None
    assert (await connector_statuses(api, cp.id))[1] == "Charging"


async def test_TC_047_reservation_of_a_connector_expire(api, cp):
    """TC_047_CSMS: Reservation of a Connector - Expire."""
    expiry = datetime.now(UTC) + timedelta(seconds=1.5)
    made = await reserve(api, cp.id, 1, VALID, expiry)
    request = await cp.wait_for("ReserveNow")
    assert (request["connector_id"], request["id_tag"]) == (1, VALID)
    assert abs(datetime.fromisoformat(request["expiry_date"]) - expiry) < timedelta(seconds=1)
    await cp.status(1, "Reserved")

    # The driver does not come: the expiry timer stores it expired (ended at its expiry).
    async def stored_expired() -> bool:
        found = await shown(api, made["id"])
        return found["state"] == "expired" and found["ended_at"] is not None

    await eventually(stored_expired)
    await cp.status(1, "Available")
    assert (await connector_statuses(api, cp.id))[1] == "Available"
    listed = ok(await api.get("/reservations", params={"state": "expired"}))
    assert [r["id"] for r in listed["items"]] == [made["id"]]
    assert ok(await api.get("/reservations", params={"state": "active"}))["total"] == 0
    refused = await api.delete(f"/reservations/{made['id']}")
    assert refused.status_code == 409 and "expired" in refused.json()["detail"]
    assert sent(cp, "CancelReservation") == []


async def not_accepted(
    api: httpx.AsyncClient, cp: TestCharger, connector_id: int, answer: str
) -> None:
    """The charger answers ReserveNow with `answer`: the Central System takes it, records
    the reservation as rejected with that answer, and nothing holds the connector."""
    cp.answers["ReserveNow"] = answer
    made = await reserve(api, cp.id, connector_id, VALID)
    request = await cp.wait_for("ReserveNow")
    assert (request["connector_id"], request["id_tag"]) == (connector_id, VALID)
    assert (made["state"], made["answer"]) == ("rejected", answer)
    assert made["reason"] == f"the charger answered {answer}"
    assert ok(await api.get("/reservations", params={"state": "active"}))["total"] == 0
    # Nothing holds the connector on this side: the next reservation of it is sent.
    cp.answers["ReserveNow"] = "Accepted"
    assert (await reserve(api, cp.id, connector_id, VALID))["state"] == "active"


async def test_TC_048_1_reservation_faulted(api, cp):
    """TC_048_1_CSMS: Reservation of a Connector - Faulted."""
    await not_accepted(api, cp, 1, "Faulted")


async def test_TC_048_2_reservation_occupied(api, cp):
    """TC_048_2_CSMS: Reservation of a Connector - Occupied."""
    await cp.status(2, "Preparing")  # the EV driver plugs in
    assert (await connector_statuses(api, cp.id))[2] == "Preparing"
    await not_accepted(api, cp, 2, "Occupied")


async def test_TC_048_3_reservation_unavailable(api, cp):
    """TC_048_3_CSMS: Reservation of a Connector - Unavailable."""
    body = {"connector_id": 1, "type": "Inoperative"}
    reply = ok(await api.post(f"/charge-points/{cp.id}/availability", json=body))
    assert reply["status"] == "Accepted"
    assert await cp.wait_for("ChangeAvailability") == body
    await cp.status(1, "Unavailable")
    assert (await connector_statuses(api, cp.id))[1] == "Unavailable"
    await not_accepted(api, cp, 1, "Unavailable")


async def test_TC_048_4_reservation_rejected(api, cp):
    """TC_048_4_CSMS: Reservation of a Connector - Rejected."""
    await not_accepted(api, cp, 1, "Rejected")


# --- 3.17.2 Reservation of a charge point ---------------------------------------------------
async def test_TC_049_reservation_of_a_charge_point_transaction(api, cp):
    """TC_049_CSMS: Reservation of a Charge Point - Transaction (connector 0)."""
    made = await reserve(api, cp.id, 0, VALID)
    request = await cp.wait_for("ReserveNow")
    assert (request["connector_id"], request["id_tag"], request["reservation_id"]) == (
        0,
        VALID,
        made["id"],
    )
    assert (made["state"], made["connector_id"]) == ("active", 0)
    await cp.status(1, "Reserved")

    # The reserved tag charges on any connector of the charger.
    transaction_id = await charging(cp, 2, VALID, made["id"])
    used = await shown(api, made["id"])
    assert (used["state"], used["transaction_id"]) == ("used", transaction_id)


# --- 3.17.3 Cancel reservation --------------------------------------------------------------
async def test_TC_051_cancel_reservation(api, cp):
    """TC_051_CSMS: Cancel Reservation."""
    made = await reserve(api, cp.id, 1, VALID)
    assert (await cp.wait_for("ReserveNow"))["connector_id"] != 0
    assert made["answer"] == "Accepted"
    await cp.status(1, "Reserved")

    reply = ok(await api.delete(f"/reservations/{made['id']}"))
    assert await cp.wait_for("CancelReservation") == {"reservation_id": made["id"]}
    assert reply["status"] == "Accepted"
    assert (reply["reservation"]["state"], reply["reservation"]["reason"]) == (
        "cancelled",
        "cancelled by the operator",
    )
    await cp.status(1, "Available")
    assert (await connector_statuses(api, cp.id))[1] == "Available"
    assert (await shown(api, made["id"]))["state"] == "cancelled"
    again = await api.delete(f"/reservations/{made['id']}")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


async def test_TC_052_cancel_reservation_rejected(api, cp):
    """TC_052_CSMS: Cancel Reservation - Rejected. The charger holds the first reservation;
    the second it lost (cancelled on the charger by hand), so it rejects that cancellation
    and keeps the first."""
    first = await reserve(api, cp.id, 1, VALID)
    await cp.status(1, "Reserved")
    lost = await reserve(api, cp.id, 2, MEMBER)
    assert first["answer"] == lost["answer"] == "Accepted"
    del cp.reservations[lost["id"]]  # the manual action on the charger

    reply = ok(await api.delete(f"/reservations/{lost['id']}"))
    (cancel,) = sent(cp, "CancelReservation")
    assert cancel["reservation_id"] == lost["id"] != first["id"]
    assert reply["status"] == "Rejected"
    assert reply["reservation"]["state"] == "cancelled"
    assert "Rejected" in reply["reservation"]["reason"]
    assert list(cp.reservations) == [first["id"]]
    assert (await shown(api, first["id"]))["state"] == "active"


# --- 3.17.4 Use a reserved connector with parentIdTag ---------------------------------------
async def test_TC_053_use_a_reserved_connector_with_parent_id_tag(api, cp):
    """TC_053_CSMS: Use a reserved Connector with parentIdTag."""
    made = await reserve(api, cp.id, 1, MEMBER, parent_id_tag=GROUP)
    request = await cp.wait_for("ReserveNow")
    assert (request["connector_id"], request["id_tag"], request["parent_id_tag"]) == (
        1,
        MEMBER,
        GROUP,
    )
    assert made["answer"] == "Accepted"
    await cp.status(1, "Reserved")

    # Another tag of the group: Authorize says its parent, so the charger lets it charge.
    authorized = await cp.authorize(OTHER_MEMBER)
    assert authorized.id_tag_info == {"status": "Accepted", "parent_id_tag": GROUP}
    transaction_id = await charging(cp, 1, OTHER_MEMBER, made["id"])
    used = await shown(api, made["id"])
    assert (used["state"], used["transaction_id"]) == ("used", transaction_id)

    stopping = await cp.authorize(MEMBER)
    assert stopping.id_tag_info == {"status": "Accepted", "parent_id_tag": GROUP}
    stopped = await cp.stop_transaction(transaction_id, 5000, id_tag=MEMBER)
    assert stopped.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Finishing")
    assert (await connector_statuses(api, cp.id))[1] == "Finishing"
    assert ok(await api.get(f"/transactions/{transaction_id}"))["active"] is False


# --- the rules around them --------------------------------------------------------------------
async def test_a_reserved_connector_refuses_another_group_and_keeps_the_reservation(api, cp):
    made = await reserve(api, cp.id, 1, MEMBER)  # GROUP, the tag's parent, by default
    assert (await cp.wait_for("ReserveNow"))["parent_id_tag"] == GROUP
    assert made["parent_id_tag"] == GROUP
    await cp.status(1, "Reserved")

    refused = await cp.start_transaction(1, VALID)
    assert refused.id_tag_info["status"] == "Invalid"
    assert (await shown(api, made["id"]))["state"] == "active"
    elsewhere = await cp.start_transaction(2, VALID)  # the other connector is free
    assert elsewhere.id_tag_info["status"] == "Accepted"

    # A group member without naming the reservation still uses it (case-insensitively).
    member = await cp.start_transaction(1, OTHER_MEMBER.lower(), meter_start=7)
    assert member.id_tag_info["status"] == "Accepted"
    used = await shown(api, made["id"])
    assert (used["state"], used["transaction_id"]) == ("used", member.transaction_id)


async def test_a_reservation_made_after_starts_were_answered_is_kept_to(api, cp):
    """Starts are answered from the chargers known to hold reservations, kept in memory: a
    reservation made after one was answered must reach the next start."""
    before = await cp.start_transaction(1, VALID)  # no reservation anywhere yet
    assert before.id_tag_info["status"] == "Accepted"
    await cp.stop_transaction(before.transaction_id, 100)
    made = await reserve(api, cp.id, 1, MEMBER)
    refused = await cp.start_transaction(1, VALID)  # not of the reservation's group
    assert refused.id_tag_info["status"] == "Invalid"
    ok(await api.delete(f"/reservations/{made['id']}"))
    after = await cp.start_transaction(1, VALID)  # cancelled: the connector is free again
    assert after.id_tag_info["status"] == "Accepted"


async def test_a_charger_wide_reservation_leaves_the_choice_of_connector_to_the_charger(api, cp):
    """Connector 0: the charger keeps one connector free for the tag, so the Central System
    refuses no start for it; the tag's own start, on any connector, uses it."""
    made = await reserve(api, cp.id, 0, MEMBER)
    other = await cp.start_transaction(1, VALID)
    assert other.id_tag_info["status"] == "Accepted"
    assert (await shown(api, made["id"]))["state"] == "active"
    own = await cp.start_transaction(2, MEMBER, meter_start=3)
    assert own.id_tag_info == {"status": "Accepted", "parent_id_tag": GROUP}
    used = await shown(api, made["id"])
    assert (used["state"], used["transaction_id"]) == ("used", own.transaction_id)


async def test_a_connector_that_faults_drops_its_reservation(api, cp):
    on_one, on_two, anywhere = (
        await reserve(api, cp.id, 1, VALID),
        await reserve(api, cp.id, 2, MEMBER),
        await reserve(api, cp.id, 0, OTHER_MEMBER),
    )
    await cp.status(1, "Faulted", error_code="ConnectorLockFailure")

    async def dropped() -> bool:
        return (await shown(api, on_one["id"]))["state"] == "cancelled"

    await eventually(dropped)
    assert (await shown(api, on_one["id"]))["reason"] == "connector 1 reported Faulted"
    assert (await shown(api, on_two["id"]))["state"] == "active"
    assert (await shown(api, anywhere["id"]))["state"] == "active"

    await cp.status(0, "Unavailable")  # the whole charger: every reservation goes

    async def all_dropped() -> bool:
        active = ok(await api.get("/reservations", params={"state": "active"}))
        return active["total"] == 0

    await eventually(all_dropped)


async def test_bad_reservations_are_refused_with_a_reason_and_nothing_is_sent(api, cp):
    path = f"/charge-points/{cp.id}/reservations"
    later = iso(in_minutes(10))
    cases = [
        ({"connector_id": 1, "id_tag": UNKNOWN, "expiry": later}, 422, "Invalid"),
        ({"connector_id": 1, "id_tag": BLOCKED, "expiry": later}, 422, "Blocked"),
        ({"connector_id": 1, "id_tag": VALID, "expiry": iso(in_minutes(-1))}, 422, "future"),
        ({"connector_id": -1, "id_tag": VALID, "expiry": later}, 422, "connector_id"),
        ({"connector_id": 1, "id_tag": "X" * 21, "expiry": later}, 422, "id_tag"),
        ({"connector_id": 1, "id_tag": VALID}, 422, "expiry"),
    ]
    for body, status_code, word in cases:
        response = await api.post(path, json=body)
        assert response.status_code == status_code, (body, response.text)
        assert word in response.text, (body, response.text)
    unknown = await api.post(
        "/charge-points/CP-NONE/reservations",
        json={"connector_id": 1, "id_tag": VALID, "expiry": later},
    )
    assert unknown.status_code == 404
    assert sent(cp, "ReserveNow") == []
    assert ok(await api.get("/reservations"))["total"] == 0

    made = await reserve(api, cp.id, 1, VALID)
    taken = await api.post(path, json={"connector_id": 1, "id_tag": MEMBER, "expiry": later})
    assert taken.status_code == 409 and f"reservation {made['id']}" in taken.json()["detail"]
    assert len(sent(cp, "ReserveNow")) == 1
    assert (await api.get("/reservations/999999")).status_code == 404
    assert (await api.delete("/reservations/999999")).status_code == 404


async def test_reservations_are_listed_newest_first_by_charger_state_and_tag(api, cp):
    first = await reserve(api, cp.id, 1, VALID)
    cp.answers["ReserveNow"] = "Occupied"
    second = await reserve(api, cp.id, 2, MEMBER)
    cp.answers["ReserveNow"] = "Accepted"
    third = await reserve(api, cp.id, 2, MEMBER)

    every = ok(await api.get("/reservations"))
    assert [r["id"] for r in every["items"]] == [third["id"], second["id"], first["id"]]
    page = ok(await api.get("/reservations", params={"limit": 1, "offset": 1}))
    assert ([r["id"] for r in page["items"]], page["total"]) == ([second["id"]], 3)
    by_tag = ok(await api.get("/reservations", params={"id_tag": MEMBER.lower()}))
    assert [r["id"] for r in by_tag["items"]] == [third["id"], second["id"]]
    rejected = ok(await api.get("/reservations", params={"state": "rejected"}))
    assert [r["id"] for r in rejected["items"]] == [second["id"]]
    other = ok(await api.get("/reservations", params={"charge_point_id": "CP-NONE"}))
    assert other["total"] == 0
    assert (await api.get("/reservations", params={"state": "maybe"})).status_code == 422


async def test_a_reservation_to_a_charger_offline_is_409_and_not_kept(
    api: httpx.AsyncClient, registered: str, id_tags: None
) -> None:
    body = {"connector_id": 1, "id_tag": VALID, "expiry": iso(in_minutes(5))}
    response = await api.post(f"/charge-points/{registered}/reservations", json=body)
    assert response.status_code == 409, response.text
    assert ok(await api.get("/reservations"))["total"] == 0


async def test_a_reservation_the_charger_never_answers_is_504_and_kept_as_rejected(api, cp):
    cp.silent = True
    body = {"connector_id": 1, "id_tag": VALID, "expiry": iso(in_minutes(5))}
    response = await api.post(f"/charge-points/{cp.id}/reservations", json=body)
    assert response.status_code == 504, response.text
    (kept,) = ok(await api.get("/reservations"))["items"]
    assert (kept["state"], kept["answer"]) == ("rejected", None)
    assert kept["reason"].startswith("no answer: ") and "ReserveNow" in kept["reason"]


# --- smart charging keeps room for the driver -------------------------------------------------
async def test_the_plan_keeps_room_for_a_reserved_connector_until_its_expiry(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, registered: str, id_tags: None
) -> None:
    ok(await api.post("/sites", json={"id": "S1", "name": "Depot", "time_zone": "UTC"}), 201)
    placement = {"site_id": "S1", "phases": 3, "max_power_w": 11_000}
    ok(await api.put(f"/charge-points/{registered}", json=placement))

    async def plan_sessions() -> list[dict[str, Any]]:
        found = await api.get("/sites/S1/plan")
        return found.json()["sessions"] if found.status_code == 200 else []

    async with charger(ocpp_url, registered, PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"
        expiry = in_minutes(50)
        made = await reserve(api, cp.id, 2, VALID, expiry)
        name = f"reservation-{made['id']}"

        async def reserved_in_plan() -> bool:
            return any(s["session_id"] == name for s in await plan_sessions())

        await eventually(reserved_in_plan, within=10)
        (held,) = [s for s in await plan_sessions() if s["session_id"] == name]
        assert held["expected"] is True and held["charge_point_id"] is None
        # Room until the expiry: energy planned for it, all of it before the expiry.
        assert held["planned_kwh"] > 0
        assert abs(datetime.fromisoformat(held["departure"]) - expiry) < timedelta(seconds=1)

        ok(await api.delete(f"/reservations/{made['id']}"))

        async def room_given_back() -> bool:
            return not await reserved_in_plan()

        await eventually(room_given_back, within=10)
