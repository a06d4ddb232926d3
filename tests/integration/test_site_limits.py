"""The site limit holds in practice: chargers that do not obey, profiles that end, units a
charger takes, and what is sent between two plans. Real server, real OCPP, both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

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

        async def fail_safes_leave_room() -> bool:
            held = [fail_safe_w(cp) for cp in (a, b) if profiles(cp, "TxDefaultProfile")]
            return len(held) == 2 and sum(held) + MAX_W <= GRID_W + 1.0

        await eventually(fail_safes_leave_room, within=20)
        assert await open_alerts(api, "charger_refuses_profiles", "CP-R")

        shown = (await api.get(f"/sites/{site}/plan")).json()
        refusing = next(s for s in shown["sessions"] if s["charge_point_id"] == "CP-R")
        assert all(kw == pytest.approx(MAX_W / 1000) for kw in refusing["power_kw"])
        for t in range(len(shown["slots"])):
            assert sum(s["power_kw"][t] for s in shown["sessions"]) <= GRID_W / 1000 + 1e-6
