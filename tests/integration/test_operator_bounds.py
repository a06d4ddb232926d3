"""An operator's charging profiles are upper bounds smart charging keeps (issue 17): real
server, a test charger that holds what it is sent (tests/support/held_limits.py), a site with
plenty of room. The planner's TxProfile goes above the operator's, never replaces it, and
never allows more than it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ampnexus.domain.charging_profile import ProfilePurpose
from tests.integration.test_modes_enforced import (
    CHARGER_W,
    MONDAY,
    Site,
    plan_session,
    plug_in,
    settled,
    site,
)
from tests.integration.test_smart_charging import eventually
from tests.support.held_charger import Car, Station

SMART = {"mode": "smart"}
BOUND_W = 8 * 230 * 3  # 8 A on three phases
OPERATOR_ID = 42


def operator_tx_profile(profile_id: int = OPERATOR_ID, stack_level: int = 1) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}],
        },
    }


def most_held_w(station: Station, start: datetime, hours: float = 24) -> float:
    """The most the connector may draw at any instant in [start, start + hours)."""
    end = start + timedelta(hours=hours)
    instants = {start} | station.holder.change_instants(start, end)
    return max(station.holder.connector_limit_w(1, at) for at in instants)


def tx_levels(station: Station) -> dict[int, int]:
    """The TxProfiles the connector holds: id -> stack level."""
    held = station.holder.profiles
    return {p.id: p.stack_level for p in held if p.purpose == ProfilePurpose.TX.value}


async def planned_most_kw(scene: Site) -> float:
    return float(max((await plan_session(scene, "CP-1"))["power_kw"]))


async def test_an_operators_tx_profile_bounds_the_session_until_cleared(database_url: str) -> None:
    async with site(database_url, MONDAY + timedelta(hours=9), SMART, chargers=1) as s:
        station = s.stations["CP-1"]
        await plug_in(s, "CP-1")
        assert station.draw_w(1, s.clock.now()) == CHARGER_W  # plenty of room
        body = {"connector_id": 1, "charging_profile": operator_tx_profile()}
        answer = await s.api.post("/charge-points/CP-1/charging-profiles", json=body)
        assert answer.status_code == 200 and answer.json()["status"] == "Accepted", answer.text

        async def ours_above_theirs() -> bool:
            await settled(s)
            levels = tx_levels(station)
            return levels.get(OPERATOR_ID) == 1 and levels.get(7101) == 2

        await eventually(ours_above_theirs)
        assert most_held_w(station, s.clock.now()) <= BOUND_W
        assert await planned_most_kw(s) <= BOUND_W / 1000 + 1e-6
        s.clock.at += timedelta(hours=2)  # replans keep it
        await s.app.services.smart_charging.replan("S1")
        await settled(s)
        assert most_held_w(station, s.clock.now()) <= BOUND_W
        assert OPERATOR_ID in tx_levels(station)

        cleared = await s.api.delete(f"/charge-points/CP-1/charging-profiles?id={OPERATOR_ID}")
        assert cleared.status_code == 200 and cleared.json()["status"] == "Accepted"

        async def rises_again() -> bool:
            await settled(s)
            return station.draw_w(1, s.clock.now()) == CHARGER_W

        await eventually(rises_again)
        assert await planned_most_kw(s) > BOUND_W / 1000


async def test_a_remote_starts_tx_profile_bounds_the_session_it_starts(database_url: str) -> None:
    async with site(database_url, MONDAY + timedelta(hours=9), SMART, chargers=1) as s:
        station = s.stations["CP-1"]
        body = {"connector_id": 1, "id_tag": "TAG", "charging_profile": operator_tx_profile()}
        answer = await s.api.post("/charge-points/CP-1/remote-start", json=body)
        assert answer.status_code == 200 and answer.json()["status"] == "Accepted", answer.text
        await station.plug_in(1, Car(max_w=CHARGER_W))

        async def ours_above_theirs() -> bool:
            await settled(s)
            return tx_levels(station) == {OPERATOR_ID: 1, 7101: 2}

        await eventually(ours_above_theirs)
        assert most_held_w(station, s.clock.now()) <= BOUND_W
        assert await planned_most_kw(s) <= BOUND_W / 1000 + 1e-6


async def test_with_no_level_free_above_the_operators_the_session_is_left_to_it(
    database_url: str,
) -> None:
    async with site(database_url, MONDAY + timedelta(hours=9), SMART, chargers=1) as s:
        station = s.stations["CP-1"]
        await plug_in(s, "CP-1")
        top = station.holder.max_stack_level
        body = {"connector_id": 1, "charging_profile": operator_tx_profile(stack_level=top)}
        answer = await s.api.post("/charge-points/CP-1/charging-profiles", json=body)
        assert answer.json()["status"] == "Accepted", answer.text

        async def alerted() -> bool:
            await settled(s)
            shown = (await s.api.get("/sites/S1/plan")).json()
            return any("highest stack level" in alert for alert in shown["alerts"])

        await eventually(alerted)
        assert tx_levels(station)[OPERATOR_ID] == top  # theirs is not replaced
        assert most_held_w(station, s.clock.now()) <= BOUND_W


async def test_the_fail_safe_goes_above_an_operators_tx_default_and_never_higher(
    database_url: str,
) -> None:
    async with site(database_url, MONDAY + timedelta(hours=9), SMART, chargers=1) as s:
        station = s.stations["CP-1"]
        theirs = {
            **operator_tx_profile(stack_level=0),
            "chargingProfilePurpose": "TxDefaultProfile",
        }
        body = {"connector_id": 0, "charging_profile": theirs}
        answer = await s.api.post("/charge-points/CP-1/charging-profiles", json=body)
        assert answer.json()["status"] == "Accepted", answer.text

        def defaults() -> dict[int, tuple[int, float]]:
            held = station.holder.profiles
            return {
                p.id: (p.stack_level, p.periods[-1].limit)
                for p in held
                if p.purpose == ProfilePurpose.TX_DEFAULT.value
            }

        async def ours_above_theirs() -> bool:
            await settled(s)
            return defaults().get(OPERATOR_ID) == (0, 8.0) and defaults().get(7000, (0,))[0] == 1

        await eventually(ours_above_theirs)
        await plug_in(s, "CP-1")  # and a session under it is bounded too
        assert most_held_w(station, s.clock.now()) <= BOUND_W
