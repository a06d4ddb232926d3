"""The site limit holds in practice: chargers that do not obey, profiles that end, units a
charger takes, and what is sent between two plans. Real server, real OCPP, both databases."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call_result
from websockets.asyncio.client import connect

from ampnexus.app import AmpNexus
from tests.integration.test_smart_charging import (
    PHASES,
    VOLTAGE,
    eventually,
    limit_now_a,
    profiles,
    start_charging,
)
from tests.support.charger import TestCharger, charger

pytestmark = pytest.mark.settings(replan_interval=3600.0)

SITE = "S1"
GRID_W = 22_000.0
MAX_W = 11_000.0


async def make_site(api: httpx.AsyncClient, chargers: tuple[str, ...], departure_h: float) -> str:
    departure = (datetime.now(UTC) + timedelta(hours=departure_h)).time()
    body = {
        "id": SITE,
        "name": "Depot",
        "time_zone": "UTC",
        "grid_limit_kw": GRID_W / 1000,
        "default_energy_kwh": 80,
        "default_departure": departure.isoformat(timespec="seconds"),
    }
    assert (await api.post("/sites", json=body)).status_code == 201
    for cp_id in chargers:
        created = await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        assert created.status_code == 201, created.text
        placement = {"site_id": SITE, "phases": PHASES, "max_power_w": MAX_W}
        placed = await api.put(f"/charge-points/{cp_id}", json=placement)
        assert placed.status_code == 200, placed.text
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    return SITE


def one_connector(*chargers: TestCharger) -> None:
    for cp in chargers:
        cp.configuration["NumberOfConnectors"] = ("1", True)


def fail_safe_w(cp: TestCharger) -> float:
    return limit_now_a(profiles(cp, "TxDefaultProfile")[-1]) * VOLTAGE * PHASES


async def open_alerts(api: httpx.AsyncClient, kind: str, charger_id: str) -> list[Any]:
    response = await api.get("/alerts", params={"kind": kind, "charge_point_id": charger_id})
    assert response.status_code == 200, response.text
    return [alert for alert in response.json()["items"] if alert["open"]]


async def test_a_refusing_charger_is_counted_at_its_maximum_everywhere(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    """CP-R refuses every profile: it may draw its 11 kW at any time, so the plan reserves it
    over the whole horizon (not only until the default departure, an hour away), the others'
    fail-safes share the 11 kW left, and the charger itself carries an alert."""
    site = await make_site(api, ("CP-A", "CP-B", "CP-R"), departure_h=1.0)
    async with (
        charger(ocpp_url, "CP-A") as a,
        charger(ocpp_url, "CP-B") as b,
        charger(ocpp_url, "CP-R") as r,
    ):
        one_connector(a, b, r)
        r.answers["SetChargingProfile"] = "Rejected"
        for cp in (a, b, r):
            await start_charging(cp)

        await eventually(lambda: open_alerts(api, "charger_refuses_profiles", "CP-R"), within=20)

        def tail_w(cp: TestCharger) -> float:
            """What its TxProfile leaves it after the plan's horizon, until replaced."""
            schedule = profiles(cp, "TxProfile")[-1]["cs_charging_profiles"]["charging_schedule"]
            return float(schedule["charging_schedule_period"][-1]["limit"]) * VOLTAGE * PHASES

        async def others_leave_room() -> bool:
            if not all(
                profiles(cp, kind) for cp in (a, b) for kind in ("TxProfile", "TxDefaultProfile")
            ):
                return False
            fail_safes = sum(fail_safe_w(cp) for cp in (a, b))
            return (
                fail_safes + MAX_W <= GRID_W + 1.0
                and sum(map(tail_w, (a, b))) + MAX_W <= GRID_W + 1.0
            )

        await eventually(others_leave_room, within=20)

        shown = (await api.get(f"/sites/{site}/plan")).json()
        refusing = next(s for s in shown["sessions"] if s["charge_point_id"] == "CP-R")
        assert all(kw == pytest.approx(MAX_W / 1000) for kw in refusing["power_kw"])
        for t in range(len(shown["slots"])):
            assert sum(s["power_kw"][t] for s in shown["sessions"]) <= GRID_W / 1000 + 1e-6


class PowerOnlyCharger(TestCharger):
    """Takes profiles in W only, as some chargers do, and refuses the others."""

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **payload: Any) -> Any:
        await self._record("SetChargingProfile", payload)
        unit = payload["cs_charging_profiles"]["charging_schedule"]["charging_rate_unit"]
        return call_result.SetChargingProfile(status="Accepted" if unit == "W" else "Rejected")


@contextlib.asynccontextmanager
async def power_only(
    ocpp_url: str, charge_point_id: str, says_unit: bool
) -> AsyncIterator[TestCharger]:
    async with connect(f"{ocpp_url}/{charge_point_id}", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        cp = PowerOnlyCharger(charge_point_id, websocket)
        one_connector(cp)
        if says_unit:
            cp.configuration["ChargingScheduleAllowedChargingRateUnit"] = ("Power", True)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def tx_units(cp: TestCharger) -> list[str]:
    return [
        p["cs_charging_profiles"]["charging_schedule"]["charging_rate_unit"]
        for p in profiles(cp, "TxProfile")
    ]


async def test_units_are_learned_from_the_chargers_answer_not_from_its_absence(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    """After a restart CP-W reconnects with its transaction running and no BootNotification;
    the first replan finds it not connected yet. Its units must still come from its own
    answer once it is back: W, not the default A it would refuse."""
    site = await make_site(api, ("CP-W",), departure_h=2.0)
    async with power_only(ocpp_url, "CP-W", says_unit=True) as w:
        await w.status(1, "Preparing")
        started = await w.start_transaction(1, "TAG", meter_start=0)
        assert started.id_tag_info["status"] == "Accepted"
    assert (await api.post(f"/sites/{site}/plan")).status_code == 200  # CP-W is away
    async with power_only(ocpp_url, "CP-W", says_unit=True) as w:
        await w.heartbeat()  # it is back
        assert (await api.post(f"/sites/{site}/plan")).status_code == 200

        async def planned_in_watts() -> bool:
            return tx_units(w)[-1:] == ["W"]

        await eventually(planned_in_watts, within=10)
        assert not await open_alerts(api, "charger_refuses_profiles", "CP-W")


async def test_a_charger_that_does_not_say_its_unit_gets_the_other_one_after_a_refusal(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    site = await make_site(api, ("CP-W",), departure_h=2.0)
    async with power_only(ocpp_url, "CP-W", says_unit=False) as w:
        await start_charging(w)

        async def planned_in_watts() -> bool:
            return "W" in tx_units(w)

        await eventually(planned_in_watts, within=20)
        shown = (await api.get(f"/sites/{site}/plan")).json()
        assert not any("maximum" in alert for alert in shown["alerts"])
        assert not await open_alerts(api, "charger_refuses_profiles", "CP-W")


async def test_a_replan_that_changes_nothing_sends_nothing(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    site = await make_site(api, ("CP-A",), departure_h=2.0)
    async with charger(ocpp_url, "CP-A") as a:
        one_connector(a)
        await start_charging(a)

        async def planned() -> bool:
            return bool(profiles(a, "TxProfile"))

        await eventually(planned)
        await asyncio.sleep(2.5)  # the debounced replans after the start are done
        sent = len(a.received)
        for _ in range(3):
            assert (await api.post(f"/sites/{site}/plan")).status_code == 200
        # A change that must go out marks the end: before it, nothing was sent.
        assert (await api.patch(f"/sites/{site}", json={"grid_limit_kw": 6.0})).status_code == 200

        async def reduced() -> bool:
            return limit_now_a(profiles(a, "TxProfile")[-1]) * VOLTAGE * PHASES <= 6_000.0

        await eventually(reduced)
        after = [p for action, p in a.received[sent:] if action == "SetChargingProfile"]
        tx_after = [
            p for p in after if p["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile"
        ]
        assert len(tx_after) == 1, "only the reduction was sent"


async def test_a_lone_car_gets_the_site_that_idle_chargers_leave_free(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    """Six 22 kW chargers on a 36 kW site, one car: it gets its 22 kW (not 36 - 5 x 6 = 6),
    while the idle chargers' fail-safes stay within what is left, so the site holds if
    AmpNexus goes away. A second car is then planned in, still within the site."""
    ids = tuple(f"CP-{n}" for n in range(1, 7))
    body = {"id": SITE, "name": "Depot", "time_zone": "UTC", "grid_limit_kw": 36}
    body["default_energy_kwh"] = 80
    body["default_departure"] = (datetime.now(UTC) + timedelta(hours=2)).time().isoformat()
    assert (await api.post("/sites", json=body)).status_code == 201
    for cp_id in ids:
        assert (
            await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        ).status_code == 201
        placement = {"site_id": SITE, "phases": PHASES, "max_power_w": 22_000}
        assert (await api.put(f"/charge-points/{cp_id}", json=placement)).status_code == 200
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    async with contextlib.AsyncExitStack() as stack:
        chargers = [await stack.enter_async_context(charger(ocpp_url, cp_id)) for cp_id in ids]
        one_connector(*chargers)
        for cp in chargers[1:]:
            assert (await cp.boot()).status == "Accepted"
        lone, idle = chargers[0], chargers[1:]
        await start_charging(lone)

        def held_w() -> float:
            """What every charger may draw now: the car's TxProfile, the idle fail-safes."""
            car = limit_now_a(profiles(lone, "TxProfile")[-1]) * VOLTAGE * PHASES
            return car + sum(fail_safe_w(cp) for cp in idle)

        async def lone_car_gets_its_maximum() -> bool:
            sent = profiles(lone, "TxProfile")
            return bool(sent) and limit_now_a(sent[-1]) * VOLTAGE * PHASES >= 21_900.0

        await eventually(lone_car_gets_its_maximum, within=15)

        async def idle_within_the_rest() -> bool:
            return held_w() <= 36_000.0 + 1.0

        await eventually(idle_within_the_rest, within=10)

        second = idle[0]
        await second.status(1, "Preparing")
        await second.start_transaction(1, "TAG", meter_start=0)

        async def both_planned_within_the_site() -> bool:
            sent = [profiles(cp, "TxProfile") for cp in (lone, second)]
            if not all(sent):
                return False
            cars = sum(limit_now_a(p[-1]) * VOLTAGE * PHASES for p in sent)
            return cars + sum(fail_safe_w(cp) for cp in idle[1:]) <= 36_000.0 + 1.0

        await eventually(both_planned_within_the_site, within=15)
