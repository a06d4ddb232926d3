"""OCA OCTT OCPP 1.6 test cases for a Central System, section 3.14: Local Authorization List
(Get Local List Version, Send Local Authorization List); then the automatic sync that keeps
each charger's list in step with the id tags.

The test charger plays the OCTT tool and holds a local list as a real charger does (it
answers VersionMismatch to a differential update that is not above its version); the
operator acts through the REST API.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect

from ampnexus.store.database import create_db_engine
from tests.conftest import PASSWORD
from tests.integration.test_octt_core import boot, eventually, iso, ok
from tests.support.charger import TestCharger, charger
from tests.support.migrations import alembic

VALID = "LL-VALID"
BLOCKED = "LL-BLOCKED"
EXPIRED = "LL-EXPIRED"
NEW = "LL-NEW"

# A charger with a local list: the keys OCPP 1.6 §9.2 asks of one.
LIST_KEYS = {
    "SupportedFeatureProfiles": ("Core,LocalAuthListManagement,SmartCharging", True),
    "LocalAuthListEnabled": ("true", False),
    "LocalAuthListMaxLength": ("100", True),
    "SendLocalListMaxLength": ("20", True),
}
AUTOMATIC = pytest.mark.settings(local_list_sync=True)


@pytest.fixture
async def id_tags(api: httpx.AsyncClient) -> None:
    for body in (
        {"id_tag": VALID, "status": "Accepted", "expiry_date": "2099-01-01T00:00:00Z"},
        {"id_tag": BLOCKED, "status": "Blocked"},
        {"id_tag": EXPIRED, "status": "Expired", "parent_id_tag": VALID},
    ):
        ok(await api.post("/id-tags", json=body), 201)


@contextlib.asynccontextmanager
async def list_charger(
    ocpp_url: str, charge_point_id: str, **keys: str
) -> AsyncIterator[TestCharger]:
    """A booted charger with a local list; `keys` change its list keys' values."""
    async with charger(ocpp_url, charge_point_id, PASSWORD) as cp:
        # Before the first await: the server asks its keys as soon as it connects.
        cp.configuration.update(LIST_KEYS)
        cp.configuration.update({key: (value, True) for key, value in keys.items()})
        await boot(cp)
        yield cp


@pytest.fixture
async def cp(ocpp_url: str, registered: str, id_tags: None) -> AsyncIterator[TestCharger]:
    async with list_charger(ocpp_url, registered) as connected:
        yield connected


async def shown(api: httpx.AsyncClient, cp_id: str) -> dict[str, Any]:
    return ok(await api.get(f"/charge-points/{cp_id}/local-list"))


async def in_sync(api: httpx.AsyncClient, cp: TestCharger, sends: int) -> dict[str, Any]:
    """Wait for `sends` SendLocalList and the list in sync; what the API then shows."""

    async def settled() -> bool:
        return len(cp.sent("SendLocalList")) >= sends and (
            (await shown(api, cp.id))["state"] == "in_sync"
        )

    await eventually(settled)
    return await shown(api, cp.id)


def tags_of(send: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    return {e["id_tag"]: e.get("id_tag_info") for e in send.get("local_authorization_list", [])}


ALL_TAGS = {
    VALID: {"status": "Accepted", "expiry_date": "2099-01-01T00:00:00.000Z"},
    BLOCKED: {"status": "Blocked"},
    EXPIRED: {"status": "Expired", "parent_id_tag": VALID},
}


# --- 3.14.1 Get Local List Version ----------------------------------------------------------------
async def test_TC_042_1_get_local_list_version_not_supported(api, cp):
    """TC_042_1_CSMS: Get Local List Version (not supported): the charger answers -1."""
    cp.reported_version = -1
    reply = ok(await api.get(f"/charge-points/{cp.id}/local-list/version"))
    assert cp.sent("GetLocalListVersion") == [{}]
    assert reply["payload"] == {"listVersion": -1}
    assert (await shown(api, cp.id))["reported_version"] == -1


async def test_TC_042_2_get_local_list_version_empty(api, cp):
    """TC_042_2_CSMS: Get Local List Version (empty): the charger answers 0."""
    reply = ok(await api.get(f"/charge-points/{cp.id}/local-list/version"))
    assert cp.sent("GetLocalListVersion") == [{}]
    assert reply["payload"] == {"listVersion": 0}
    listed = await shown(api, cp.id)
    assert (listed["reported_version"], listed["version"]) == (0, 0)
    assert listed["state"] == "pending"  # nothing sent yet: the whole list is due


# --- 3.14.2 Send Local Authorization List ---------------------------------------------------------
async def test_TC_043_1_send_local_list_not_supported(api, cp):
    """TC_043_1_CSMS: Send Local Authorization List - NotSupported."""
    cp.answers["SendLocalList"] = "NotSupported"
    listed = ok(await api.post(f"/charge-points/{cp.id}/local-list/sync"))
    (sent,) = cp.sent("SendLocalList")
    assert sent["update_type"] == "Full"
    assert (listed["state"], listed["last_status"]) == ("unsupported", "NotSupported")
    assert "NotSupported" in listed["reason"]
    assert listed["version"] == 0 and cp.local_list == {}


async def test_TC_043_3_send_local_list_failed(api, cp):
    """TC_043_3_CSMS: Send Local Authorization List - Failed. The list is then not known:
    the next send is the whole list again, even when only changes were asked for."""
    cp.answers["SendLocalList"] = "Failed"
    listed = ok(await api.post(f"/charge-points/{cp.id}/local-list/sync"))
    assert [s["update_type"] for s in cp.sent("SendLocalList")] == ["Full"]
    assert (listed["state"], listed["last_status"]) == ("failed", "Failed")
    assert "Failed" in listed["reason"] and listed["held"] is None

    cp.answers["SendLocalList"] = "Accepted"
    params = {"full": "false"}
    listed = ok(await api.post(f"/charge-points/{cp.id}/local-list/sync", params=params))
    assert [s["update_type"] for s in cp.sent("SendLocalList")] == ["Full", "Full"]
    assert (listed["state"], listed["reason"]) == ("in_sync", None)
    assert cp.local_list == ALL_TAGS


async def test_TC_043_4_send_local_list_full(api, cp):
    """TC_043_4_CSMS: Send Local Authorization List - Full."""
    listed = ok(await api.post(f"/charge-points/{cp.id}/local-list/sync"))
    (sent,) = cp.sent("SendLocalList")
    assert sent["update_type"] == "Full"
    assert all(info is not None for info in tags_of(sent).values())
    assert tags_of(sent) == ALL_TAGS
    assert sent["list_version"] == listed["version"] == cp.local_list_version == 1
    assert (listed["state"], listed["last_status"], listed["held"]) == ("in_sync", "Accepted", 3)

    ok(await api.get(f"/charge-points/{cp.id}/local-list/version"))
    assert (await shown(api, cp.id))["reported_version"] == 1


@AUTOMATIC
async def test_TC_043_5_send_local_list_differential(api, cp):
    """TC_043_5_CSMS: Send Local Authorization List - Differential: a tag added is sent to
    the charger as a differential update, on its own."""
    first = await in_sync(api, cp, sends=1)  # at boot: the whole list, once
    assert cp.sent("GetLocalListVersion")  # asked at boot (optional steps 1 and 2)
    assert [s["update_type"] for s in cp.sent("SendLocalList")] == ["Full"]

    ok(await api.post("/id-tags", json={"id_tag": NEW}), 201)
    listed = await in_sync(api, cp, sends=2)
    differential = cp.sent("SendLocalList")[1]
    assert differential["update_type"] == "Differential"
    assert tags_of(differential) == {NEW: {"status": "Accepted"}}
    assert differential["list_version"] == listed["version"] == first["version"] + 1
    assert cp.local_list == {**ALL_TAGS, NEW: {"status": "Accepted"}}


# --- the automatic sync ---------------------------------------------------------------------------
@AUTOMATIC
async def test_a_blocked_and_a_deleted_tag_reach_the_charger(api, cp):
    await in_sync(api, cp, sends=1)
    ok(await api.patch(f"/id-tags/{VALID}", json={"status": "Blocked"}))
    await in_sync(api, cp, sends=2)
    assert tags_of(cp.sent("SendLocalList")[1]) == {
        VALID: {"status": "Blocked", "expiry_date": "2099-01-01T00:00:00.000Z"}
    }
    assert (await api.delete(f"/id-tags/{BLOCKED}")).status_code == 204
    listed = await in_sync(api, cp, sends=3)
    removal = cp.sent("SendLocalList")[2]
    assert (removal["update_type"], tags_of(removal)) == ("Differential", {BLOCKED: None})
    assert set(cp.local_list) == {VALID, EXPIRED}
    assert listed["version"] == cp.local_list_version == 3


@AUTOMATIC
async def test_a_version_mismatch_is_followed_by_the_whole_list(api, cp):
    await in_sync(api, cp, sends=1)
    cp.local_list_version = 50  # its list changed behind our back
    ok(await api.post("/id-tags", json={"id_tag": NEW}), 201)
    listed = await in_sync(api, cp, sends=3)
    sends = cp.sent("SendLocalList")
    assert [s["update_type"] for s in sends] == ["Full", "Differential", "Full"]
    assert tags_of(sends[2]) == {**ALL_TAGS, NEW: {"status": "Accepted"}}
    assert cp.local_list == tags_of(sends[2])
    assert listed["last_status"] == "Accepted" and listed["version"] == sends[2]["list_version"]


@AUTOMATIC
async def test_a_failed_differential_is_retried_in_full_and_a_failed_full_waits(api, cp):
    await in_sync(api, cp, sends=1)
    cp.answers["SendLocalList"] = "Failed"
    ok(await api.post("/id-tags", json={"id_tag": NEW}), 201)

    async def failed() -> bool:
        return (await shown(api, cp.id))["state"] == "failed"

    await eventually(failed)
    assert [s["update_type"] for s in cp.sent("SendLocalList")] == ["Full", "Differential", "Full"]
    listed = await shown(api, cp.id)
    assert "Failed to the Full update" in listed["reason"] and listed["held"] is None

    cp.answers["SendLocalList"] = "Accepted"
    ok(await api.post("/id-tags", json={"id_tag": "LL-LATER"}), 201)
    await in_sync(api, cp, sends=4)
    assert cp.sent("SendLocalList")[3]["update_type"] == "Full"  # its list was not known
    assert set(cp.local_list) == {*ALL_TAGS, NEW, "LL-LATER"}


@AUTOMATIC
async def test_a_long_list_goes_in_sends_of_send_local_list_max_length(
    api, ocpp_url, registered, id_tags
):
    for number in range(4):
        ok(await api.post("/id-tags", json={"id_tag": f"LL-MORE-{number}"}), 201)
    async with list_charger(ocpp_url, registered, SendLocalListMaxLength="2") as cp:
        listed = await in_sync(api, cp, sends=4)
        sends = cp.sent("SendLocalList")
        assert [s["update_type"] for s in sends] == ["Full"] + ["Differential"] * 3
        assert [len(s["local_authorization_list"]) for s in sends] == [2, 2, 2, 1]
        assert [s["list_version"] for s in sends] == [1, 2, 3, 4] and listed["version"] == 4
        assert len(cp.local_list) == 7 == listed["held"] == listed["entries"]


@AUTOMATIC
async def test_a_list_longer_than_the_charger_holds_keeps_the_valid_tags_and_alerts(
    api, ocpp_url, registered, id_tags
):
    past = iso(datetime.now(UTC).replace(microsecond=0) - timedelta(days=1))
    ok(await api.post("/id-tags", json={"id_tag": "LL-OUTDATED", "expiry_date": past}), 201)
    ok(await api.post("/id-tags", json={"id_tag": "LL-ANOTHER"}), 201)
    async with list_charger(ocpp_url, registered, LocalAuthListMaxLength="3") as cp:
        listed = await in_sync(api, cp, sends=1)
        assert set(cp.local_list) == {VALID, "LL-ANOTHER", BLOCKED}  # valid ones first
        assert listed["left_out"] == [EXPIRED, "LL-OUTDATED"]
        assert (listed["max_length"], listed["entries"], listed["held"]) == (3, 3, 3)
        params = {"kind": "local_list_truncated", "charge_point_id": cp.id, "open": "true"}
        (alert,) = ok(await api.get("/alerts", params=params))["items"]
        assert "LL-OUTDATED" in alert["message"] and EXPIRED in alert["message"]

        for gone in (BLOCKED, "LL-ANOTHER"):  # now the rest fits
            assert (await api.delete(f"/id-tags/{gone}")).status_code == 204

        async def all_fit() -> bool:
            return (await shown(api, cp.id))["left_out"] == []

        await eventually(all_fit)
        assert set(cp.local_list) == {VALID, EXPIRED, "LL-OUTDATED"}
        assert not ok(await api.get("/alerts", params=params))["items"]


@AUTOMATIC
async def test_a_charger_that_comes_back_gets_what_changed_meanwhile(
    api, ocpp_url, registered, id_tags
):
    async with list_charger(ocpp_url, registered) as cp:
        await in_sync(api, cp, sends=1)
        kept, version = cp.local_list, cp.local_list_version

    async def offline() -> bool:
        return not (await shown(api, registered))["connected"]

    await eventually(offline)
    ok(await api.post("/id-tags", json={"id_tag": NEW}), 201)
    listed = await shown(api, registered)
    assert (listed["state"], listed["reason"]) == (
        "pending",
        "1 change(s) not sent yet (the charger is offline)",
    )
    async with charger(ocpp_url, registered, PASSWORD) as back:
        back.configuration.update(LIST_KEYS)
        back.local_list, back.local_list_version = dict(kept), version
        await boot(back)
        await in_sync(api, back, sends=1)
        (sent,) = back.sent("SendLocalList")
        assert (sent["update_type"], tags_of(sent)) == (
            "Differential",
            {NEW: {"status": "Accepted"}},
        )


@AUTOMATIC
async def test_a_charger_that_lost_its_list_gets_the_whole_list(api, ocpp_url, registered, id_tags):
    async with list_charger(ocpp_url, registered) as cp:
        await in_sync(api, cp, sends=1)
    async with list_charger(ocpp_url, registered) as back:  # version 0, empty
        await in_sync(api, back, sends=1)
        (sent,) = back.sent("SendLocalList")
        assert (sent["update_type"], tags_of(sent)) == ("Full", ALL_TAGS)
        assert sent["list_version"] == 2


@AUTOMATIC
async def test_a_charger_without_a_local_list_is_not_sent_one(api, ocpp_url, registered, id_tags):
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        await boot(cp)  # SupportedFeatureProfiles without LocalAuthListManagement

        async def unsupported() -> bool:
            return (await shown(api, cp.id))["state"] == "unsupported"

        await eventually(unsupported)
        ok(await api.post("/id-tags", json={"id_tag": NEW}), 201)
        await cp.heartbeat()
        assert cp.sent("SendLocalList") == [] and cp.sent("GetLocalListVersion") == []


async def test_local_list_of_unknown_or_offline_chargers(api, registered):
    assert (await api.get("/charge-points/NOPE/local-list")).status_code == 404
    assert (await api.post("/charge-points/NOPE/local-list/sync")).status_code == 404
    assert (await api.post(f"/charge-points/{registered}/local-list/sync")).status_code == 409
    assert (await api.get(f"/charge-points/{registered}/local-list/version")).status_code == 409
    listed = await shown(api, registered)
    assert (listed["state"], listed["connected"], listed["version"]) == ("failed", False, 0)


@pytest.mark.settings(local_list_sync=True, unknown_chargers="pending")
async def test_a_charger_not_accepted_is_never_sent_the_id_tags(api, ocpp_url, id_tags):
    async with charger(ocpp_url, "CP-STRANGER") as cp:
        cp.configuration.update(LIST_KEYS)
        assert (await cp.boot()).status == "Pending"
        refused = await api.post("/charge-points/CP-STRANGER/local-list/sync")
        assert refused.status_code == 409 and "Pending" in refused.json()["detail"]
        assert cp.received == []  # not even asked its keys


async def test_migration_0016_adds_and_drops_the_local_lists(database_url):
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as conn:
            alembic(conn, "upgrade", "0016")
            assert "local_lists" in inspect(conn).get_table_names()
        with engine.begin() as conn:
            alembic(conn, "downgrade", "0015")
            assert "local_lists" not in inspect(conn).get_table_names()
        with engine.begin() as conn:
            alembic(conn, "upgrade", "head")
    finally:
        engine.dispose()
