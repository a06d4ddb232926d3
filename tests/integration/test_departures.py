"""Sessions that outlast their departure, end to end over OCPP on both databases: a car
plugged in after the site's default departure time of day is planned to leave at that time
tomorrow, and one still plugged in after its departure keeps charging while it needs energy.

The site's default departure is chosen relative to the moment the test runs, so the test
does not depend on the time of day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.support.charger import TestCharger, charger

SITE = "late"
ZONE = "Asia/Tokyo"  # far from UTC: a local day and a UTC day differ by 9 hours


async def eventually(check: Any, within: float = 15.0) -> Any:
    async with asyncio.timeout(within):
        while not (result := await check()):  # noqa: ASYNC110 (polling the API)
            await asyncio.sleep(0.05)
    return result


def first_limit_a(cp: TestCharger, transaction_id: int) -> float | None:
    """The first period's limit of the latest TxProfile for the transaction, if any."""
    for action, payload in reversed(cp.received):
        profile = payload.get("cs_charging_profiles", {}) if action == "SetChargingProfile" else {}
        if profile.get("transaction_id") == transaction_id:
            return float(profile["charging_schedule"]["charging_schedule_period"][0]["limit"])
    return None


@pytest.fixture
async def site(api: httpx.AsyncClient) -> str:
    # An hour ago on the site's clock: every car plugging in now does so after it.
    passed = (datetime.now(ZoneInfo(ZONE)) - timedelta(hours=1)).time().replace(second=0)
    body = {
        "id": SITE,
        "name": "Late arrivals",
        "time_zone": ZONE,
        "grid_limit_kw": 22,
        "default_departure": passed.strftime("%H:%M"),
    }
    assert (await api.post("/sites", json=body)).status_code == 201
    created = await api.post("/charge-points", json={"id": "CP-L", "security_profile": 0})
    assert created.status_code == 201, created.text
    placed = await api.put(
        "/charge-points/CP-L", json={"site_id": SITE, "phases": 3, "max_power_w": 11_000}
    )
    assert placed.status_code == 200, placed.text
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    return SITE


async def plug_in(cp: TestCharger, started: datetime | None = None) -> int:
    assert (await cp.boot()).status == "Accepted"
    await cp.status(1, "Preparing")
    stamp = started.isoformat().replace("+00:00", "Z") if started else None
    answer = await cp.start_transaction(1, "TAG", meter_start=0, timestamp=stamp)
    await cp.status(1, "Charging")
    return int(answer.transaction_id)


async def planned(api: httpx.AsyncClient, transaction_id: int) -> dict[str, Any] | None:
    shown = (await api.get(f"/sites/{SITE}/plan")).json()
    sessions = shown.get("sessions", []) if isinstance(shown, dict) else []
    return next((s for s in sessions if s["transaction_id"] == transaction_id), None)


async def test_a_car_plugged_in_after_the_default_departure_leaves_tomorrow_and_charges(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with charger(ocpp_url, "CP-L") as cp:
        transaction_id = await plug_in(cp)
        session = await eventually(lambda: planned(api, transaction_id))
        departure = datetime.fromisoformat(session["departure"])
        until = departure - datetime.now(UTC)
        # The default time of day came an hour ago: next it comes in about 23 hours.
        assert timedelta(hours=22) < until < timedelta(hours=24), session["departure"]
        assert session["planned_kwh"] > 0
        limit = await eventually(lambda: _positive(first_limit_a(cp, transaction_id)))
        assert limit > 0


async def test_a_car_still_plugged_in_after_its_departure_keeps_charging(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    now = datetime.now(UTC)
    async with charger(ocpp_url, "CP-L") as cp:
        transaction_id = await plug_in(cp, started=now - timedelta(hours=3))
        need = {"energy_kwh": 30, "departure": (now - timedelta(hours=1)).isoformat()}
        put = await api.put(f"/transactions/{transaction_id}/need", json=need)
        assert put.status_code == 200, put.text

        async def overdue_planned() -> dict[str, Any] | None:
            session = await planned(api, transaction_id)
            if session is None or datetime.fromisoformat(session["departure"]) < now:
                return None
            return session if session["energy_needed_kwh"] == 30 else None

        session = await eventually(overdue_planned)
        # Still needing 30 kWh on an otherwise empty 22 kW site: it charges beyond this slot.
        assert sum(kw > 0 for kw in session["power_kw"]) > 1, session["power_kw"]
        assert session["power_kw"][0] > 0
        limit = await eventually(lambda: _positive(first_limit_a(cp, transaction_id)))
        assert limit > 0


async def _positive(value: float | None) -> float | None:
    return value if value else None
