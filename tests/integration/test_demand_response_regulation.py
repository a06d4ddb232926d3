"""Regulation mode under demand response, against a real OpenADR 2.0b VTN (openleadr's
OpenADRServer on localhost) and test chargers that hold what they are sent: while an
opted-in event directs the site's EV load, no random delay applies (the UK Regulations
exempt demand-response services), and the rise back at the event's end waits each
charger's delay, as every site of the program would rise at that instant otherwise (ADR 0012).

The server's clock is set to the real time and held (the VTN dates its events in real
time), so what the chargers hold is the plan made now, for every later instant. How a
limit is split between the two chargers in a later slot is the planner's choice (it shares
fairly in the slot being carried out), so what is asserted mid-event is the site's draw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openleadr import objects

from ampnexus.domain.charging_profile import ProfilePurpose
from tests.integration.test_demand_response import (  # noqa: F401  (the vtn fixture)
    EVENT_S,
    VEN_ID,
    Vtn,
    program,
    vtn,
)
from tests.integration.test_modes_enforced import CHARGER_W, SITE, Site, plug_in, settled, site
from tests.integration.test_smart_charging import eventually
from tests.support.held_charger import Station

pytestmark = [pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey")]

SLOT = timedelta(minutes=15)
MAX_DELAY = timedelta(seconds=1800)
# No peak windows: only the delays are left to hold a session back.
REGULATION = {"mode": "regulation_compliance", "peak_windows": [], "random_delay_max_s": 1800}


def slot_start(at: datetime) -> datetime:
    return at - timedelta(seconds=at.timestamp() % SLOT.total_seconds())


async def opted_in(s: Site, event_id: str) -> bool:
    shown = (await s.api.get("/demand-response/events")).json()["items"]
    return any(e["event_id"] == event_id and e["opt"] == "optIn" for e in shown)


def drawn(s: Site, at: datetime) -> float:
    return sum(station.draw_w(1, at) for station in s.stations.values())


def first_draw(station: Station, since: datetime, until: datetime) -> datetime | None:
    """The first instant in [since, until) at which the car draws anything."""
    instants = sorted({since} | station.holder.change_instants(since, until))
    return next((t for t in instants if station.draw_w(1, t) > 0), None)


def held_start_delay_s(station: Station) -> int | None:
    """The start delay of the fail-safe (TxDefaultProfile) the charger holds: the length of
    its first period when that period allows nothing (None: it holds no fail-safe)."""
    for profile in station.holder.profiles:
        if profile.purpose == ProfilePurpose.TX_DEFAULT.value:
            periods = profile.periods
            return periods[1].start_s if len(periods) > 1 and periods[0].limit == 0 else 0
    return None


async def test_no_random_delay_during_an_event_and_one_after_its_end(
    database_url: str,
    vtn: Vtn,  # noqa: F811  (the fixture imported above)
) -> None:
    """A SIMPLE event sheds 60 % of the flexible EV load in the current slot, 30 % in the
    next and all of it in the last. Two regulation chargers plugged in during it charge at
    once (no start delay), rise at once where the level drops, and each rises after its own
    delay at its end."""
    now = datetime.now(UTC).replace(microsecond=0)
    async with site(database_url, now, REGULATION) as s:
        await program(s.api, vtn)
        first = slot_start(now)
        middle, last, end = first + SLOT, first + 2 * SLOT, first + 3 * SLOT
        intervals = [
            objects.Interval(dtstart=first, duration=SLOT, signal_payload=2),
            objects.Interval(dtstart=middle, duration=SLOT, signal_payload=1),
            objects.Interval(dtstart=last, duration=SLOT, signal_payload=3),
        ]
        event_id = str(vtn.server.add_event(VEN_ID, "SIMPLE", "level", intervals))
        await eventually(lambda: opted_in(s, event_id), within=EVENT_S)
        for cp in s.stations:
            await plug_in(s, cp)
        s.app.services.smart_charging.request_replan(SITE)
        await settled(s)

        plan = (await s.api.get(f"/sites/{SITE}/plan")).json()
        assert plan["slots"][0]["demand_response"] == [event_id]
        for session in plan["sessions"]:
            assert session["mode"] == "regulation_compliance", session
            assert session["demand_response"] == [event_id], session
            assert session["waiting_reason"] != "random_delay", session
        full = 2 * CHARGER_W
        # No start delay: the cars draw at once, within the event's 60 % cut (with a delay
        # of its own each, both would draw nothing now).
        assert drawn(s, now) == pytest.approx(0.4 * full, rel=0.05)
        # The level drops mid-event: the rise goes at once.
        assert drawn(s, middle - timedelta(seconds=1)) == pytest.approx(0.4 * full, rel=0.05)
        assert drawn(s, middle) == pytest.approx(0.7 * full, rel=0.05)
        # The last interval sheds it all; then each charger rises after its own delay.
        assert drawn(s, last) == 0.0
        assert drawn(s, end - timedelta(seconds=1)) == 0.0
        risen = [first_draw(station, end, end + 4 * SLOT) for station in s.stations.values()]
        assert all(at is not None and end <= at <= end + MAX_DELAY for at in risen), risen
        assert any(at is not None and at > end for at in risen), "both delays were 0 s"
        later = end + MAX_DELAY + 2 * SLOT  # a rise planned a slot later waits its own delay
        assert drawn(s, later) == pytest.approx(full, rel=0.01)


async def test_the_start_of_an_event_lifts_the_fail_safes_start_delay_at_once(
    database_url: str,
    vtn: Vtn,  # noqa: F811  (the fixture imported above)
) -> None:
    """An idle regulation charger's fail-safe holds the start delay of its next session.
    An event announced ahead lifts it where it starts, by a replan of its own: the timed
    replan is minutes away, and a car plugged in during the event must not wait."""
    now = datetime.now(UTC).replace(microsecond=0)
    async with site(database_url, now, REGULATION, chargers=1) as s:
        (station,) = s.stations.values()
        await program(s.api, vtn)
        await eventually(lambda: _true((held_start_delay_s(station) or 0) > 0), within=EVENT_S)
        start = now + timedelta(seconds=15)
        # A limit that leaves the charger its whole rate: only the delay changes.
        interval = objects.Interval(dtstart=start, duration=SLOT, signal_payload=50)
        event_id = str(vtn.server.add_event(VEN_ID, "LOAD_DISPATCH", "setpoint", [interval]))
        await eventually(lambda: opted_in(s, event_id), within=EVENT_S)
        await settled(s)
        assert (held_start_delay_s(station) or 0) > 0  # announced ahead: not yet in force
        s.clock.at = start  # nothing replans for the clock's move alone ...
        await settled(s)
        assert (held_start_delay_s(station) or 0) > 0
        # ... the event's start does (15 s after the server's "now" at its receipt).
        await eventually(lambda: _true(held_start_delay_s(station) == 0), within=EVENT_S + 15)


async def _true(value: bool) -> bool:
    return value


async def test_a_price_event_does_not_lift_the_start_delay(
    database_url: str,
    vtn: Vtn,  # noqa: F811  (the fixture imported above)
) -> None:
    """A price event leaves the timing to the site, as a tariff does: no exemption."""
    now = datetime.now(UTC).replace(microsecond=0)
    async with site(database_url, now, REGULATION, chargers=1) as s:
        await program(s.api, vtn)
        interval = objects.Interval(dtstart=slot_start(now), duration=SLOT, signal_payload=0.1)
        event_id = str(vtn.server.add_event(VEN_ID, "ELECTRICITY_PRICE", "price", [interval]))
        await eventually(lambda: opted_in(s, event_id), within=EVENT_S)
        await plug_in(s, "CP-1")
        plan: dict[str, Any] = (await s.api.get(f"/sites/{SITE}/plan")).json()
        (session,) = plan["sessions"]
        assert session["demand_response"] == []
