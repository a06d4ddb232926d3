"""The smart charging send path (ADR 0008): a planned profile goes to the command port with
the transaction its replan read, so sending it reads nothing from the database; a profile
the charger refuses because its transaction has just ended is not held against it. Real
server, real OCPP, both databases."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from ampnexus.domain.events import TransactionStopped
from ampnexus.services.smart_charging import SitePlan
from tests.integration.test_smart_charging import eventually, profiles, start_charging
from tests.support.charger import charger

SITE_ID = "S1"


async def place_chargers(api: httpx.AsyncClient, *charger_ids: str) -> None:
    body = {"id": SITE_ID, "name": "Depot", "time_zone": "Europe/London", "grid_limit_kw": 11}
    assert (await api.post("/sites", json=body)).status_code == 201
    for cp_id in charger_ids:
        created = await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        assert created.status_code == 201, created.text
        placement = {"site_id": SITE_ID, "phases": 3, "max_power_w": 11_000}
        assert (await api.put(f"/charge-points/{cp_id}", json=placement)).status_code == 200
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201


def count_reads_by_task(server: AmpNexus, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Database reads, counted by the coroutine of the task that made them."""
    reads: Counter[str] = Counter()
    read = server.db.read

    async def counted(work: Callable[[Any], Any]) -> Any:
        task = asyncio.current_task()
        reads[task.get_coro().__qualname__ if task else "?"] += 1  # type: ignore[union-attr]
        return await read(work)

    monkeypatch.setattr(server.db, "read", counted)
    return reads


async def test_sending_planned_profiles_reads_nothing_from_the_database(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await place_chargers(api, "CP-A", "CP-B")
    reads = count_reads_by_task(server, monkeypatch)
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        await start_charging(a)
        await start_charging(b)

        async def both_planned() -> bool:
            return all(profiles(cp, "TxProfile") for cp in (a, b))

        await eventually(both_planned)
    assert reads["_logged"] > 0  # the replans' own reads (spawned tasks) are counted
    assert reads["Dispatcher._install"] == 0


async def test_a_profile_refused_as_its_transaction_ends_is_not_a_refusal(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    """The charger stops the transaction while the profile for it is on its way, and then
    refuses that profile (§3.13.1: no transaction to bind it to)."""
    await place_chargers(api, "CP-A")
    smart_charging = server.services.smart_charging
    stopped = asyncio.Event()
    server.services.bus.subscribe(TransactionStopped, lambda _: stopped.set())
    plans_then: list[SitePlan | None] = []  # the plan in force when its profile arrived
    stops: list[asyncio.Task[Any]] = []
    async with charger(ocpp_url, "CP-A") as a:
        transaction_id = await start_charging(a)
        answer = a.route_map["SetChargingProfile"]["_on_action"]

        async def stop_then_answer(**payload: Any) -> Any:
            profile = payload["cs_charging_profiles"]
            if profile.get("transaction_id") == transaction_id and not plans_then:
                plans_then.append(smart_charging.current_plan(SITE_ID))
                # Its answer is read once this handler returns: the stop goes out now.
                stopping = asyncio.create_task(a.stop_transaction(transaction_id, 1000))
                await asyncio.wait_for(stopped.wait(), 10)
                a.answers["SetChargingProfile"] = "Rejected"
                reply = await answer(**payload)
                a.answers["SetChargingProfile"] = "Accepted"
                stops.append(stopping)  # kept until the end of the test
                return reply
            return await answer(**payload)

        a.route_map["SetChargingProfile"]["_on_action"] = stop_then_answer

        async def replanned_without_it() -> bool:
            plan = smart_charging.current_plan(SITE_ID)
            return bool(plans_then) and plan is not None and not plan.transactions

        # The refusal was answered at once; the replan after the stop comes a debounce later.
        await eventually(replanned_without_it, within=20)
    plan_sent = plans_then[0]
    assert plan_sent is not None and transaction_id in {
        tx for _, _, tx in plan_sent.transactions.values()
    }
    assert not any("refused" in alert for alert in plan_sent.alerts)
