"""Demand-response events held by the chargers themselves: a real OpenADR VTN (openleadr's
`OpenADRServer`) sends an event an hour ahead; AmpNexus replans the site, and its chargers,
which draw what the profiles they hold allow (tests/support/held_limits.py), draw within
the event's EV limit through the event and at full power again after it.

A real server on a fake clock that starts at a slot boundary near the real time (openleadr
judges an event's status by the real time): the clock moves a slot at a time; at each step
the chargers report, the site is replanned and, once the server is quiet, the slot is judged
at every instant a held limit may change, as the chargers held it both before that replan
and after it. The VEN polls the VTN every real second."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.conftest import test_settings as settings_for
from tests.integration.test_smart_charging import eventually
from tests.support.held_charger import Car, FakeClock, Station
from tests.support.held_limits import Holder
from tests.support.server import api_client, running
from tests.support.vtn import VEN_ID, Vtn, serving_vtn

pytestmark = [
    # openleadr's VTN keys its aiohttp app by string: aiohttp's advice, not our concern.
    pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey"),
]

SITE = "S1"
CHARGER_W = 16 * 230.0 * 3  # 11.04 kW, three phases
SLOT = timedelta(minutes=15)  # the plan's slot, and the clock's step
HOUR = timedelta(hours=1)
EVENT_START, EVENT_LENGTH = HOUR, HOUR  # from the first instant: announced an hour ahead
TOLERANCE_W = 150.0  # profiles are floored to 0.1 A per charger (69 W at 3 x 230 V)
WAIT_S = 20.0  # a poll a real second, then a replan


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what is judged is planning and dispatch, which do not depend on the
    database; test_demand_response.py runs the events' storage on both."""
    return f"sqlite:///{tmp_path / 'ampnexus.sqlite3'}"


@dataclass
class Scene:
    app: AmpNexus
    api: httpx.AsyncClient
    clock: FakeClock
    stations: dict[str, Station]
    vtn: Vtn
    draws: dict[datetime, float] = field(default_factory=dict)  # instant -> site EV draw, W
    # The same, as the chargers held each slot before its replan: the limit must already
    # hold then, not only once a replan at the event's start has corrected it.
    held_ahead: list[tuple[datetime, float]] = field(default_factory=list)

    def draw_w(self, at: datetime) -> float:
        return sum(s.draw_w(c, at) for s in self.stations.values() for c in s.cars)

    def judged(self, start: datetime, end: datetime) -> dict[datetime, float]:
        """What the site draws at every instant of [start, end) a held limit may change."""
        instants = {start}
        for station in self.stations.values():
            instants |= station.holder.change_instants(start, end)
        return {at: self.draw_w(at) for at in instants}

    def held_wh(self, start: datetime, end: datetime) -> float:
        """The energy the chargers would draw in [start, end) under what they hold now."""
        edges = {start, end}
        for station in self.stations.values():
            edges |= station.holder.change_instants(start, end)
        return sum(self.draw_w(a) * (b - a) / HOUR for a, b in pairwise(sorted(edges)))

    def between(self, start: datetime, end: datetime) -> list[float]:
        judged = [*self.draws.items(), *self.held_ahead]
        return [w for at, w in judged if start <= at < end]

    async def settled(self) -> None:
        smart = self.app.services.smart_charging
        await smart.dispatched(SITE)
        for station in self.stations.values():
            await station.quiet()

    async def step(self) -> None:
        """A slot of the clock: reports, a replan, the slot judged, then the clock moves."""
        now = self.clock.now()
        self.held_ahead += self.judged(now, now + SLOT).items()
        for station in self.stations.values():
            await station.report()
        await self.app.services.smart_charging.replan_all()
        await self.settled()
        self.draws |= self.judged(now, now + SLOT)
        self.clock.at = now + SLOT
        for station in self.stations.values():
            station.integrate(self.clock.at)

    async def plan(self) -> dict[str, Any]:
        return (await self.api.get(f"/sites/{SITE}/plan")).json()  # type: ignore[no-any-return]


def slot_start(at: datetime) -> datetime:
    return at - timedelta(seconds=at.timestamp() % SLOT.total_seconds(), microseconds=0)


@contextlib.asynccontextmanager
async def scene(database_url: str, chargers: int = 2, tariff: bool = False) -> AsyncIterator[Scene]:
    """A 50 kW site (room for every charger) with `chargers` 11 kW chargers, connected, and a
    demand-response program whose VEN has registered with a VTN on localhost."""
    now = datetime.now(UTC)
    clock = FakeClock(slot_start(now.replace(microsecond=0)))
    ids = [f"CP-{n}" for n in range(1, chargers + 1)]
    stations = {cp: Station(cp, Holder(1, CHARGER_W), clock, max_periods=40) for cp in ids}
    settings = settings_for(database_url, replan_interval=3600.0)
    async with (
        serving_vtn() as vtn,
        running(settings, clock=clock) as app,
        api_client(app) as api,
        contextlib.AsyncExitStack() as links,
    ):
        app.services.smart_charging.debounce_s = 0.05  # the fake clock's minutes in real ms
        await make_site(api, ids)
        if tariff:
            await cheap_during_the_event(api, clock.now())
        for station in stations.values():
            await links.enter_async_context(
                station.connected(f"ws://127.0.0.1:{app.ocpp_port}/ocpp")
            )
            await station.boot()
        await register(api, vtn)
        yield Scene(app, api, clock, stations, vtn)


async def make_site(api: httpx.AsyncClient, chargers: list[str]) -> None:
    body = {"id": SITE, "name": "Depot", "time_zone": "UTC", "grid_limit_kw": 50}
    assert (await api.post("/sites", json=body)).status_code == 201
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    for cp in chargers:
        made = await api.post("/charge-points", json={"id": cp, "security_profile": 0})
        assert made.status_code == 201, made.text
        placement = {"site_id": SITE, "phases": 3, "max_power_w": CHARGER_W}
        assert (await api.put(f"/charge-points/{cp}", json=placement)).status_code == 200


async def register(api: httpx.AsyncClient, vtn: Vtn) -> None:
    body = {
        "id": "flex",
        "vtn_url": vtn.url,
        "ven_name": "ampnexus-depot",
        "site_ids": [SITE],
        "poll_interval_s": 1,
    }
    created = await api.post("/demand-response/programs", json=body)
    assert created.status_code == 201, created.text

    async def registered() -> bool:
        shown = (await api.get("/demand-response/programs/flex")).json()
        return bool(shown["status"]["registered"])

    await eventually(registered, within=WAIT_S)


async def plug_in(s: Scene, energy_kwh: float, departure: datetime) -> None:
    """A car on every charger, each wanting `energy_kwh` by `departure`."""
    for station in s.stations.values():
        transaction_id = await station.plug_in(1, Car(CHARGER_W))
        need = {"energy_kwh": energy_kwh, "departure": departure.isoformat()}
        put = await s.api.put(f"/transactions/{transaction_id}/need", json=need)
        assert put.status_code == 200, put.text
    await s.app.services.smart_charging.replan_all()
    await s.settled()


async def announce(s: Scene, signal: tuple[str, str, float]) -> tuple[str, datetime, datetime]:
    """The VTN sends the event, starting an hour from now; AmpNexus has answered it and the
    chargers hold the plan it shaped."""
    start = s.clock.now() + EVENT_START
    event_id = s.vtn.add(*signal, start, EVENT_LENGTH)

    async def answered() -> bool:
        return s.vtn.opts.get(event_id) == "optIn"

    async def shaped() -> bool:
        plan = await s.plan()
        return any(event_id in slot["demand_response"] for slot in plan["slots"])

    await eventually(answered, within=WAIT_S)
    if signal[:2] != ("SIMPLE", "level") or signal[2] > 0:  # level 0 asks nothing of a plan
        await eventually(shaped, within=WAIT_S)
    await s.settled()
    return event_id, start, start + EVENT_LENGTH


FULL_W = 2 * CHARGER_W
# (signal, the site's EV limit during the event): SIMPLE levels cut 0/30/60/100 % of the
# flexible load (both cars at full power), LOAD_DISPATCH sets it in kW.
CASES = {
    "simple-0": (("SIMPLE", "level", 0), FULL_W),
    "simple-1": (("SIMPLE", "level", 1), 0.7 * FULL_W),
    "simple-2": (("SIMPLE", "level", 2), 0.4 * FULL_W),
    "simple-3": (("SIMPLE", "level", 3), 0.0),
    "load-dispatch-5kw": (("LOAD_DISPATCH", "setpoint", 5.0), 5_000.0),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_chargers_draw_within_the_event_and_recover_after_it(
    database_url: str, case: str
) -> None:
    signal, limit_w = CASES[case]
    async with scene(database_url) as s:
        first = s.clock.now()
        # Both drivers want more than the chargers can give before they leave: every slot
        # is wanted in full, so only the event holds the chargers back.
        await plug_in(s, energy_kwh=200, departure=s.clock.now() + 6 * HOUR)
        _, start, end = await announce(s, signal)
        while s.clock.now() < end + 2 * SLOT:
            await s.step()
    before, during = s.between(first, start), s.between(start, end)
    after = s.between(end, end + 2 * SLOT)
    figures = f"{case}: before {before}, during {during}, after {after}, limit {limit_w}"
    assert before and during and after, figures
    assert min(before) == pytest.approx(FULL_W), figures  # the event holds nothing back early
    assert max(during) <= limit_w + TOLERANCE_W, figures
    assert min(during) >= limit_w - 2 * TOLERANCE_W, figures  # and no more than it asks
    assert min(after) == pytest.approx(FULL_W), figures  # recovered, at the event's end


async def test_an_event_announced_ahead_moves_charging_before_it(database_url: str) -> None:
    """One car, 10 kWh by 2 h 15 min from now; power is cheap in the second hour, so with no
    event the plan waits for it. A level-3 event then takes that hour: the plan charges
    before it, in the dearer first hour, rather than leave the driver short."""
    async with scene(database_url, chargers=1, tariff=True) as s:
        now = s.clock.now()
        await plug_in(s, energy_kwh=10, departure=now + 2 * HOUR + SLOT)
        window = now + EVENT_START
        held_without, planned_without = s.held_wh(now, window), await planned_kwh(s, window)
        _, start, end = await announce(s, ("SIMPLE", "level", 3))
        planned_with = await planned_kwh(s, start)
        while s.clock.now() < end + SLOT:
            await s.step()
    drawn = sorted(s.draws.items())
    drew_wh = sum(w * (b - a) / HOUR for (a, w), (b, _) in pairwise(drawn) if b <= start)
    figures = (
        f"before the event, with no event: held {held_without:.0f} Wh, planned"
        f" {planned_without:.2f} kWh; with it: planned {planned_with:.2f} kWh, drew"
        f" {drew_wh:.0f} Wh; during it {s.between(start, end)} W"
    )
    assert held_without < 100 and planned_without < 0.1, figures  # it waited for cheap power
    assert planned_with > 9.9 and drew_wh > 9_900, figures  # now it charges first
    assert max(s.between(start, end)) <= TOLERANCE_W, figures


async def test_a_cancelled_event_lets_the_chargers_draw_again_at_once(database_url: str) -> None:
    """A level-3 event, cancelled half an hour into it: the chargers held at 0 draw in full
    from the replan the cancellation brings, not from the end the event had."""
    async with scene(database_url) as s:
        await plug_in(s, energy_kwh=200, departure=s.clock.now() + 6 * HOUR)
        event_id, start, end = await announce(s, ("SIMPLE", "level", 3))
        while s.clock.now() < start + 2 * SLOT:
            await s.step()
        cancelled_at = s.clock.now()
        s.vtn.server.cancel_event(VEN_ID, event_id)

        async def lifted() -> bool:
            return all(
                event_id not in slot["demand_response"] for slot in (await s.plan())["slots"]
            )

        await eventually(lifted, within=WAIT_S)
        await s.settled()
        while s.clock.now() < end:
            await s.step()
    held, after = s.between(start, cancelled_at), s.between(cancelled_at, end)
    figures = f"before the cancellation {held} W, after it {after} W"
    assert held and max(held) <= TOLERANCE_W, figures
    assert after and min(after) == pytest.approx(FULL_W), figures


async def planned_kwh(s: Scene, start: datetime) -> float:
    """What the plan gives the sessions before `start`."""
    plan = await s.plan()
    slots = [datetime.fromisoformat(slot["start"]) for slot in plan["slots"]]
    hours = plan["slot_seconds"] / 3600
    return sum(
        kw * hours
        for session in plan["sessions"]
        if not session["expected"]
        for kw, at in zip(session["power_kw"], slots, strict=True)
        if at < start
    )


async def cheap_during_the_event(api: httpx.AsyncClient, now: datetime) -> None:
    """0.30 per kWh, 0.075 in the hour the event will take (local time is UTC): dearer
    than that is dearer than a driver left short (the planner's 10 per kWh)."""
    start, end = now + EVENT_START, now + EVENT_START + EVENT_LENGTH
    band = {
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),
        "import_price": 0.075,
        "days": "all",
    }
    tariff = {
        "name": "Cheap hour",
        "kind": "time_of_use",
        "import_price": 0.30,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "bands": [band],
    }
    made = await api.post(f"/sites/{SITE}/tariffs", json=tariff)
    assert made.status_code == 201, made.text
