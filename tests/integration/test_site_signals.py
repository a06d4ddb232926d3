"""A site's own signals replan it at once: its meter, its grid limit, a circuit's limit.

The timed replan is an hour away in every test here, so only the signal itself can bring the
chargers their new profiles; a burst of signals is coalesced into a replan or two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

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
GRID_KW = 22.0
QUIET_S = 2.5  # more than a replan, its follow-up and the gap between: nothing is on its way
REACTION_S = 10.0  # generous: a replan takes a fraction of a second


@pytest.fixture
async def site(api: httpx.AsyncClient) -> str:
    """22 kW site with a 22 kW main circuit feeding CP-A and CP-B (11 kW, three phases).
    Every session wants 80 kWh within two hours: more than the site gives, so plans use all
    it allows and a lower limit must show in the profiles."""
    departure = (datetime.now(UTC) + timedelta(hours=2)).time().isoformat(timespec="seconds")
    body = {
        "id": SITE,
        "name": "Depot",
        "time_zone": "UTC",
        "grid_limit_kw": GRID_KW,
        "default_energy_kwh": 80,
        "default_departure": departure,
    }
    assert (await api.post("/sites", json=body)).status_code == 201
    circuit = {"id": "main", "limit_kw": GRID_KW}
    assert (await api.post(f"/sites/{SITE}/circuits", json=circuit)).status_code == 201
    for cp_id in ("CP-A", "CP-B"):
        created = await api.post("/charge-points", json={"id": cp_id, "security_profile": 0})
        assert created.status_code == 201, created.text
        placement = {"site_id": SITE, "circuit_id": "main", "phases": PHASES, "max_power_w": 11_000}
        placed = await api.put(f"/charge-points/{cp_id}", json=placement)
        assert placed.status_code == 200, placed.text
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    return SITE


def tx_profile_count(cp: TestCharger) -> int:
    return len(profiles(cp, "TxProfile"))


def planned_now_w(*chargers: TestCharger) -> float:
    """What the chargers' latest TxProfiles allow right now, together."""
    return sum(limit_now_a(profiles(cp, "TxProfile")[-1]) * VOLTAGE * PHASES for cp in chargers)


def planned_peak_w(*chargers: TestCharger, horizon_s: float = 86_400.0) -> float:
    """The most the chargers' latest TxProfiles allow together at any instant of the plan's
    horizon (after it, each holds its fail-safe share)."""
    steps = []
    for cp in chargers:
        schedule = profiles(cp, "TxProfile")[-1]["cs_charging_profiles"]["charging_schedule"]
        start = datetime.fromisoformat(schedule["start_schedule"])
        steps.append(
            [
                (start + timedelta(seconds=p["start_period"]), float(p["limit"]))
                for p in schedule["charging_schedule_period"]
            ]
        )
    first = min(periods[0][0] for periods in steps)
    moments = sorted({at for periods in steps for at, _ in periods})
    within = [at for at in moments if at < first + timedelta(seconds=horizon_s - 900)]
    amps = max(
        sum(next((a for at, a in reversed(periods) if at <= moment), 0.0) for periods in steps)
        for moment in within
    )
    return amps * VOLTAGE * PHASES


async def settled(*chargers: TestCharger) -> None:
    """Both charging with a profile, and no replan under way (no new profile for a while)."""

    async def both_planned() -> bool:
        return all(profiles(cp, "TxProfile") for cp in chargers)

    await eventually(both_planned, within=REACTION_S)
    async with asyncio.timeout(30):
        while True:
            before = [tx_profile_count(cp) for cp in chargers]
            await asyncio.sleep(QUIET_S)
            if [tx_profile_count(cp) for cp in chargers] == before:
                return


async def reduced_to(limit_w: float, *chargers: TestCharger) -> None:
    async def within_limit() -> bool:
        return planned_now_w(*chargers) <= limit_w + 1.0  # profiles are floored to 0.1 A

    await eventually(within_limit, within=REACTION_S)


@contextlib.asynccontextmanager
async def both_charging(ocpp_url: str) -> AsyncIterator[tuple[TestCharger, TestCharger]]:
    """CP-A and CP-B, each with a running session, once planning has gone quiet."""
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        await start_charging(a)
        await start_charging(b)
        await settled(a, b)
        yield a, b


def meter_reading(value_w: float, ago_s: float = 0.0) -> dict[str, object]:
    taken = datetime.now(UTC) - timedelta(seconds=ago_s)
    return {"points": [{"timestamp": taken.isoformat(), "value": value_w}]}


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (f"/sites/{SITE}", {"grid_limit_kw": 6.0}),
        (f"/sites/{SITE}/circuits/main", {"limit_kw": 6.0}),
    ],
    ids=["grid-limit", "circuit-limit"],
)
async def test_a_lowered_limit_reaches_the_chargers_without_the_timed_replan(
    server: AmpNexus,
    api: httpx.AsyncClient,
    ocpp_url: str,
    site: str,
    path: str,
    change: dict[str, float],
) -> None:
    async with both_charging(ocpp_url) as (a, b):
        assert planned_now_w(a, b) > 6_000.0  # else lowering to 6 kW would prove nothing

        changed = await api.patch(path, json=change)
        assert changed.status_code == 200, changed.text

        await reduced_to(6_000.0, a, b)


async def test_a_big_building_load_on_the_site_meter_reduces_the_profiles(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    async with both_charging(ocpp_url) as (a, b):
        assert planned_now_w(a, b) > 4_000.0

        # The chargers report no power, so all 18 kW is the building's: 4 kW are left.
        stored = await api.post(f"/sites/{site}/meter", json=meter_reading(18_000.0))
        assert stored.status_code == 201, stored.text

        await reduced_to(4_000.0, a, b)


@pytest.mark.settings(replan_interval=3600.0, replan_gap=1.0)  # the burst fits in the gap
async def test_a_burst_of_meter_readings_makes_at_most_two_replans(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    smart_charging = server.services.smart_charging
    async with both_charging(ocpp_url) as (a, b):
        await smart_charging.settled(site)
        before = smart_charging.replans_made(site)

        # Each reading moves by 10 kW, far past the threshold: each alone would replan. The
        # first replans at once; all that come during that replan or the gap after it, one
        # more time.
        readings = [meter_reading(12_000.0 if i % 2 else 2_000.0, 20 - i) for i in range(20)]
        stored = await asyncio.gather(
            *(api.post(f"/sites/{site}/meter", json=reading) for reading in readings)
        )
        assert all(response.status_code == 201 for response in stored)
        await smart_charging.settled(site)

        replans = smart_charging.replans_made(site) - before
        assert 1 <= replans <= 2, f"{replans} replans for a burst of 20 readings"
        # The newest reading (12 kW) is the one the site is planned on: 10 kW left.
        await reduced_to(10_000.0, a, b)


async def test_a_meter_that_stopped_reporting_keeps_its_load_in_the_plan(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    """Its last reading is 20 minutes old: unknown means the last value, never 0 (which
    planned 22 kW on top of an 18 kW building)."""
    stored = await api.post(f"/sites/{site}/meter", json=meter_reading(18_000.0, ago_s=1200))
    assert stored.status_code == 201, stored.text
    async with both_charging(ocpp_url) as (a, b):
        assert planned_now_w(a, b) <= 4_000.0 + 1.0


async def test_a_solar_forecast_does_not_raise_the_limit_above_what_the_meter_sees(
    server: AmpNexus, api: httpx.AsyncClient, ocpp_url: str, site: str
) -> None:
    """The meter's 12 kW are net of the sun already shining: the forecast's 10 kW of sun
    must not be subtracted again, now or later (which planned 20 kW, not 10)."""
    sun_from = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    forecast = {"kind": "forecast", "points": [{"timestamp": sun_from, "value": 10_000}]}
    assert (await api.post(f"/sites/{site}/solar", json=forecast)).status_code == 201
    stored = await api.post(f"/sites/{site}/meter", json=meter_reading(12_000.0))
    assert stored.status_code == 201, stored.text
    async with charger(ocpp_url, "CP-A") as a, charger(ocpp_url, "CP-B") as b:
        for cp in (a, b):  # no free connector holds room for a car to come
            cp.configuration["NumberOfConnectors"] = ("1", True)
            await start_charging(cp)
        await settled(a, b)
        assert planned_peak_w(a, b) <= 10_000.0 + 1.0
