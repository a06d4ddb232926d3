"""Regulation mode under demand response, against a real OpenADR 2.0b VTN (openleadr's
OpenADRServer on localhost) and test chargers that hold what they are sent: while an
opted-in event directs the site's EV load, no random delay applies (the UK Regulations
exempt demand-response services), and the rise back at the event's end waits each
charger's delay, as every site of the program would rise at that instant otherwise (ADR 0012).

The clock is set to the real time and held: the VTN dates its events in real time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openleadr import objects

from tests.integration.test_demand_response import (  # noqa: F401  (the vtn fixture)
    EVENT_S,
    VEN_ID,
    Vtn,
    program,
    vtn,
)
from tests.integration.test_modes_enforced import CHARGER_W, SITE, Site, plug_in, settled, site
from tests.integration.test_smart_charging import eventually

pytestmark = [pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey")]

SLOT = timedelta(minutes=15)
MAX_DELAY = timedelta(seconds=1800)
# No peak windows: only the delays are left to hold a session back.
REGULATION = {"mode": "regulation_compliance", "peak_windows": [], "random_delay_max_s": 1800}


def slot_start(at: datetime) -> datetime:
    return at - timedelta(seconds=at.timestamp() % SLOT.total_seconds())


async def opted_in(s: Site, event_id: str) -> bool:
    shown = (await s.api.get("/demand-response/events")).json()
    return any(e["event_id"] == event_id and e["opt"] == "optIn" for e in shown)


def drawn(s: Site, at: datetime) -> float:
    return sum(station.draw_w(1, at) for station in s.stations.values())


def rises_after(s: Site, moment: datetime) -> list[datetime | None]:
    """When each charger's draw first goes above what it drew just before `moment`."""
    found = []
    for station in s.stations.values():
        before = station.draw_w(1, moment - timedelta(seconds=1))
        instants = sorted({moment} | station.holder.change_instants(moment, moment + SLOT * 4))
        found.append(next((t for t in instants if station.draw_w(1, t) > before + 1.0), None))
    return found


async def test_no_random_delay_during_an_event_and_one_after_its_end(
    database_url: str,
    vtn: Vtn,  # noqa: F811  (the fixture imported above)
) -> None:
    """A SIMPLE event sheds 60 % of the flexible EV load in the current slot and 30 % in
    the next. Two regulation chargers plugged in during it charge at once (no start delay),
    rise at once where the level drops, and each rises after its own delay at its end."""
    now = datetime.now(UTC).replace(microsecond=0)
    async with site(database_url, now, REGULATION) as s:
        await program(s.api, vtn)
        first = slot_start(now)
        middle, end = first + SLOT, first + 2 * SLOT
        intervals = [
            objects.Interval(dtstart=first, duration=SLOT, signal_payload=2),
            objects.Interval(dtstart=middle, duration=SLOT, signal_payload=1),
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
            assert session["mode"] == "regulation_compliance"
            assert session["demand_response"] == [event_id], session
            assert session["waiting_reason"] != "random_delay", session
        full = 2 * CHARGER_W
        # No start delay: the cars draw at once, within the event's 60 % cut.
        assert drawn(s, now) == pytest.approx(0.4 * full, rel=0.05)
        # The level drops mid-event: the rise goes at once.
        assert drawn(s, middle - timedelta(seconds=1)) == pytest.approx(0.4 * full, rel=0.05)
        assert drawn(s, middle) == pytest.approx(0.7 * full, rel=0.05)
        # The event ends: each charger rises after its own delay, within the maximum.
        risen = rises_after(s, end)
        assert all(at is not None and end <= at <= end + MAX_DELAY for at in risen), risen
        assert any(at is not None and at > end for at in risen), "both delays were 0 s"
        assert drawn(s, end + MAX_DELAY + timedelta(seconds=1)) == pytest.approx(full, rel=0.01)


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
