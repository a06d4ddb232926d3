"""Operators' charging profiles through the real API and a test charger on a real WebSocket,
on SQLite and PostgreSQL: what the charger accepted is recorded with the API key's name and
listed; what it refused is not; a clear removes it, the transaction stopping drops its
TxProfile; a remote start's profile binds to the transaction that starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.domain.events import OperatorLimitChanged
from tests.conftest import PASSWORD
from tests.integration.test_api import assert_error
from tests.integration.test_octt_core import VALID, boot, charging, eventually, ok
from tests.integration.test_octt_smart_charging import (
    PROFILES,
    set_profile,
    tx_default_profile,
    tx_profile,
)
from tests.support.charger import TestCharger, charger

LISTED = "operator-profiles"


@pytest.fixture
async def cp(ocpp_url: str, registered: str, api: httpx.AsyncClient) -> AsyncIterator[TestCharger]:
    ok(await api.post("/id-tags", json={"id_tag": VALID}), 201)
    async with charger(ocpp_url, registered, PASSWORD) as connected:
        await boot(connected)
        yield connected


async def listed(api: httpx.AsyncClient, cp_id: str = "CP-1") -> list[dict[str, Any]]:
    return ok(await api.get(f"/charge-points/{cp_id}/{LISTED}"))  # type: ignore[no-any-return]


def slots(shown: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (p["connector_id"], p["purpose"], p["stack_level"], p["profile_id"], p["transaction_id"])
        for p in shown
    ]


async def test_accepted_profiles_are_listed_until_cleared_or_their_transaction_stops(
    server: AmpNexus, api: httpx.AsyncClient, cp: TestCharger
) -> None:
    changes: list[OperatorLimitChanged] = []
    server.services.bus.subscribe(OperatorLimitChanged, changes.append)
    assert await listed(api) == []
    transaction_id = await charging(cp, api)

    ok(await set_profile(api, "CP-1", 0, tx_default_profile(7, 2, unit="W", limit=6000.0)))
    ok(await set_profile(api, "CP-1", 1, tx_profile(10)))
    cp.answers["SetChargingProfile"] = "Rejected"
    assert ok(await set_profile(api, "CP-1", 1, tx_profile(11, stackLevel=2)))["status"] == (
        "Rejected"
    )
    shown = await listed(api)
    assert slots(shown) == [
        (0, "TxDefaultProfile", 2, 7, None),
        (1, "TxProfile", 1, 10, transaction_id),
    ]
    assert {p["set_by"] for p in shown} == {"tests"}  # the fixture's API key
    assert shown[1]["charging_profile"] == {**tx_profile(10), "transactionId": transaction_id}
    assert len(changes) == 2

    await cp.stop_transaction(transaction_id, 5000)
    await eventually(lambda: _count(api, 1))
    assert slots(await listed(api)) == [(0, "TxDefaultProfile", 2, 7, None)]

    ok(await api.delete(f"/charge-points/CP-1/{PROFILES}", params={"stack_level": 2}))
    assert await listed(api) == []
    assert len(changes) == 4


async def test_a_remote_starts_profile_holds_for_the_transaction_it_started(
    api: httpx.AsyncClient, cp: TestCharger
) -> None:
    body = {"connector_id": 2, "id_tag": VALID, "charging_profile": tx_profile(12)}
    ok(await api.post("/charge-points/CP-1/remote-start", json=body))
    assert await listed(api) == []  # nothing holds until the transaction starts

    started = await cp.start_transaction(2, VALID)
    await eventually(lambda: _count(api, 1))
    [shown] = await listed(api)
    assert (shown["connector_id"], shown["profile_id"], shown["transaction_id"]) == (
        2,
        12,
        started.transaction_id,
    )
    assert shown["set_by"] == "tests"

    await cp.boot()  # a reboot ends its transactions, and so their TxProfiles
    await eventually(lambda: _count(api, 0))


async def test_an_unknown_charger_has_no_profiles(api: httpx.AsyncClient) -> None:
    assert_error(await api.get(f"/charge-points/NOPE/{LISTED}"), 404)


async def _count(api: httpx.AsyncClient, expected: int) -> bool:
    return len(await listed(api)) == expected
