"""Smart charging end to end: a site, chargers on it, real OCPP, plans turned into profiles."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.support.charger import TestCharger, charger

VOLTAGE, PHASES = 230.0, 3
SITE_LIMIT_W = 11_000.0


async def eventually(check: Any, within: float = 10.0) -> Any:
    async with asyncio.timeout(within):
        while not (result := await check()):  # noqa: ASYNC110 (polling the API)
            await asyncio.sleep(0.05)
    return result


def profiles(cp: TestCharger, purpose: str) -> list[dict[str, Any]]:
    return [
        payload
        for action, payload in cp.received
        if action == "SetChargingProfile"
        and payload["cs_charging_profiles"]["charging_profile_purpose"] == purpose
    ]


def limit_now_a(profile: dict[str, Any]) -> float:
    """The first period's limit, in A per phase (the test charger allows only Current)."""
    schedule = profile["cs_charging_profiles"]["charging_schedule"]
    assert schedule["charging_rate_unit"] == "A"
    return float(schedule["charging_schedule_period"][0]["limit"])  # Decimal from the ocpp pkg


@pytest.fixture
async def site(api: httpx.AsyncClient) -> str:
    body = {"id": "S1", "name": "Depot", "time_zone": "Europe/London"}
    body["grid_limit_kw"] = SITE_LIMIT_W / 1000
    assert (await api.post("/sites", json=body)).status_code == 201
    for cp_id in ("CP-A", "CP-B"):
        created = await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        assert created.status_code == 201, created.text
        placed = await api.put(
            f"/charge-points/{cp_id}",
            json={"site_id": "S1", "phases": PHASES, "max_power_w": 11_000},
        )
        assert placed.status_code == 200, placed.text
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    return "S1"


async def start_charging(cp: TestCharger) -> int:
    assert (await cp.boot()).status == "Accepted"
    await cp.status(1, "Preparing")
    started = await cp.start_transaction(1, "TAG", meter_start=0)
    await cp.status(1, "Charging")
    return int(started.transaction_id)


async def test_chargers_get_fail_safe_and_tx_profiles_within_the_site_limit(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        a.configuration["NumberOfConnectors"] = ("1", True)  # CP-B keeps its two
        transactions = [await start_charging(a), await start_charging(b)]

        # The fail-safes (TxDefaultProfile on connector 0, stack level 0). Static: half the
        # site per charger once both are known (CP-A's one connector 5500 W / 690 V = 7.9 A;
        # CP-B's two 2750 W each, below 6 A: 0), the whole site for CP-A while CP-B is not
        # yet (15.9 A). Dynamic once planned: what the plan leaves a charger's free
        # connectors, so 0 for CP-A, whose only connector charges.
        async def planned_with_dynamic_fail_safes() -> bool:
            return all(
                profiles(cp, "TxProfile")
                and bool(fail_safes := profiles(cp, "TxDefaultProfile"))
                and limit_now_a(fail_safes[-1]) == 0.0
                for cp in (a, b)
            )

        await eventually(planned_with_dynamic_fail_safes)
        for cp, most_a in ((a, 15.9), (b, 0.0)):
            for fail_safe in profiles(cp, "TxDefaultProfile"):
                assert fail_safe["connector_id"] == 0
                assert fail_safe["cs_charging_profiles"]["stack_level"] == 0
                assert 0.0 <= limit_now_a(fail_safe) <= most_a
        # The planned TxProfiles: bound to each transaction, together within the site's limit.
        latest = [profiles(cp, "TxProfile")[-1] for cp in (a, b)]
        assert sorted(p["cs_charging_profiles"]["transaction_id"] for p in latest) == sorted(
            transactions
        )
        total_w = sum(limit_now_a(p) * VOLTAGE * PHASES for p in latest)
        assert 0 < total_w <= SITE_LIMIT_W

        shown = (await api.get(f"/sites/{site}/plan")).json()
        real = [s for s in shown["sessions"] if not s["expected"]]  # CP-B has a free connector
        assert {s["charge_point_id"] for s in real} == {"CP-A", "CP-B"}
        first_slot_kw = sum(s["power_kw"][0] for s in shown["sessions"])
        assert first_slot_kw <= SITE_LIMIT_W / 1000 + 1e-6
        assert shown["slots"][0]["cap_kw"] <= SITE_LIMIT_W / 1000 + 1e-6
        assert shown["method"] in ("highs", "heuristic")


async def test_a_charger_that_refuses_profiles_is_planned_at_full_power(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        b.answers["SetChargingProfile"] = "Rejected"
        await start_charging(a)
        await start_charging(b)

        async def b_excluded() -> Any:
            shown = (await api.get(f"/sites/{site}/plan")).json()
            alerts = [alert for alert in shown["alerts"] if "planned at its maximum" in alert]
            return shown if alerts else None

        shown = await eventually(b_excluded, within=20)
        assert any("CP-B" in alert for alert in shown["alerts"])
        # CP-B draws its 11 kW uncontrolled, which is the whole site: CP-A must get nothing.
        planned_a = next(s for s in shown["sessions"] if s["charge_point_id"] == "CP-A")
        assert planned_a["power_kw"][0] == 0.0

        async def a_stopped() -> bool:  # profiles go out after the plan is recorded
            sent = profiles(a, "TxProfile")
            return bool(sent) and limit_now_a(sent[-1]) == 0.0

        await eventually(a_stopped)


async def test_plan_of_an_unknown_site_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/sites/nowhere/plan")
    assert response.status_code == 404
    assert "nowhere" in response.json()["detail"]


async def test_a_need_set_or_removed_through_the_api_replans_the_site(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with charger(ocpp_url, "CP-A") as a:
        transaction_id = await start_charging(a)

        async def planned_need() -> float | None:
            plan = server.services.smart_charging.current_plan(site)
            if plan is None or not plan.request.sessions:
                return None
            return plan.request.sessions[0].energy_wh

        site_default_wh = await eventually(planned_need)
        said = await api.put(f"/transactions/{transaction_id}/need", json={"energy_kwh": 3.5})
        assert said.status_code == 200, said.text

        # No timer and no charger event: the need alone makes the next plan.
        async def replanned_with(energy_wh: float) -> bool:
            return await planned_need() == energy_wh

        await eventually(lambda: replanned_with(3500.0), within=5)
        assert (await api.delete(f"/transactions/{transaction_id}/need")).status_code == 204
        await eventually(lambda: replanned_with(site_default_wh), within=5)


async def test_a_site_without_a_grid_limit_is_planned_and_its_chargers_keep_a_fail_safe(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str
) -> None:
    """No limit: nothing to share, so each charger may draw its maximum (an unlimited room
    left by the plan once broke the fail-safe's rounding)."""
    body = {"id": "FREE", "name": "No limit", "time_zone": "Europe/London"}
    assert (await api.post("/sites", json=body)).status_code == 201
    for cp_id in ("CP-A", "CP-B"):
        assert (
            await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        ).status_code == 201
        placed = await api.put(
            f"/charge-points/{cp_id}",
            json={"site_id": "FREE", "phases": PHASES, "max_power_w": 11_000},
        )
        assert placed.status_code == 200, placed.text
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        await start_charging(a)
        assert (await b.boot()).status == "Accepted"
        await b.status(1, "Available")

        async def planned() -> list[str] | None:
            shown = await api.get("/sites/FREE/plan")
            assert shown.status_code == 200, shown.text
            real = [s["charge_point_id"] for s in shown.json()["sessions"] if not s["expected"]]
            return real or None

        assert await eventually(planned) == ["CP-A"]

        # CP-B is idle: its fail-safe is its own maximum, 11 kW, shared by its two
        # connectors: 5500 W / 690 V = 7.9 A each.
        async def idle_fail_safe() -> bool:
            sent = profiles(b, "TxDefaultProfile")
            return bool(sent) and limit_now_a(sent[-1]) == 7.9

        await eventually(idle_fail_safe)
    alerts = (await api.get("/alerts")).json()
    assert not [a for a in alerts.get("items", []) if a.get("kind") == "replan_failed"], alerts
