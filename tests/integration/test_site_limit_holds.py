"""The site limit holds in practice: chargers that compute their limit from the profiles they
hold (tests/support/held_limits.py, OCPP 1.6 §3.13, independent of AmpNexus's own model)
never hold, together with the building's load, more than the site's limit, at any instant.

A real server with a fake clock; six 22 kW one-connector chargers on a 36 kW site; a building
whose load the site meter reports (building plus what the cars draw). The clock moves in
5-minute steps; at each step the chargers report, the meter reports when due, the timer's
replan runs, and once the server is quiet the whole interval to the next step is judged
exactly at every instant a held limit may change. A car plugging in is judged at once,
before any replan (it draws under what its connector holds). While profiles change within a
step, no intermediate state may hold more than the larger of before and after (reductions
first).

Each phase is a test on its own (an hour of cars arriving, then the phase), so that each fix
flips one; `test_a_whole_day_and_an_outage` runs them all in a row. SQLite only: what is
judged is planning and dispatch, which do not depend on the database, and a PostgreSQL run
would double a minute-long test for nothing the other suites do not already cover.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ampnexus.app import AmpNexus
from tests.conftest import test_settings as settings_for
from tests.support.held_charger import Car, FakeClock, Station, iso
from tests.support.held_limits import Holder
from tests.support.server import api_client, running

SITE = "S1"
SITE_LIMIT_W = 36_000.0
CHARGER_W = 32 * 230.0 * 3  # 22 kW, three phases
CHARGERS = [f"CP-{n}" for n in range(1, 7)]
STEP = timedelta(minutes=5)
TOLERANCE_W = 10.0  # profiles are floored to 0.1 A or W; this only absorbs float noise
SETTLE_S = 8.0  # a server still busy after this much real time is judged as it stands
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Violation:
    phase: str
    at: datetime
    what: str

    def __str__(self) -> str:
        return f"[{self.phase}] {iso(self.at)}: {self.what}"


@dataclass
class Scenario:
    clock: FakeClock
    database_url: str
    stations: dict[str, Station]
    building_w: float = 8_000.0
    meter_every: timedelta | None = STEP  # None: the meter has stopped
    last_meter_at: datetime | None = None
    phase: str = "setup"
    violations: list[Violation] = field(default_factory=list)
    unsettled: list[datetime] = field(default_factory=list)
    app: AmpNexus | None = None
    api: httpx.AsyncClient | None = None
    _links: dict[str, contextlib.AsyncExitStack] = field(default_factory=dict)
    _server: contextlib.AsyncExitStack | None = None
    _changes: list[float] = field(default_factory=list)  # held sums while settling
    peak_w: float = 0.0  # the most held plus building seen: the limit must bind at times

    # --- judging ------------------------------------------------------------------------------
    def held_w(self, at: datetime) -> float:
        return sum(station.held_w(at) for station in self.stations.values())

    def describe(self, at: datetime) -> str:
        parts = []
        for station in self.stations.values():
            for connector, car in station.cars.items():
                if car.transaction_id is not None:
                    limit = station.holder.connector_limit_w(connector, at)
                    how = station.holder.explain(connector, at)
                    parts.append(f"{station.id}: {limit / 1000:.2f} kW ({how})")
        return "; ".join(parts)

    def judge(self, at: datetime, why: str = "") -> None:
        held = self.held_w(at)
        self.peak_w = max(self.peak_w, held + self.building_w)
        if held + self.building_w > SITE_LIMIT_W + TOLERANCE_W:
            self.violations.append(
                Violation(
                    self.phase,
                    at,
                    f"{why}held {held / 1000:.2f} kW + building {self.building_w / 1000:.2f} kW"
                    f" = {(held + self.building_w) / 1000:.2f} kW > site {SITE_LIMIT_W / 1000:.1f}"
                    f" kW; {self.describe(at)}",
                )
            )

    def judge_interval(self, start: datetime, end: datetime) -> None:
        """Every instant of [start, end): limits only change at the stations' instants."""
        instants = {start}
        for station in self.stations.values():
            instants |= station.holder.change_instants(start, end)
        for at in sorted(instants):
            before = len(self.violations)
            self.judge(at)
            if len(self.violations) > before:
                return  # the first instant of an interval says enough

    def _changed(self, station: Station) -> None:
        self._changes.append(self.held_w(self.clock.now()))

    # --- the server -------------------------------------------------------------------------------
    async def start_server(self) -> None:
        self._server = contextlib.AsyncExitStack()
        settings = settings_for(self.database_url, profile_deadline=2.0)
        self.app = await self._server.enter_async_context(running(settings, clock=self.clock))
        # Real seconds stand for the fake clock's minutes here: the 1 s debounce is scaled too.
        self.app.services.smart_charging.debounce_s = 0.05
        self.api = await self._server.enter_async_context(api_client(self.app))

    async def stop_server(self) -> None:
        for stack in self._links.values():
            await stack.aclose()
        self._links.clear()
        assert self._server is not None
        await self._server.aclose()
        self.app = self.api = self._server = None

    async def connect(self, station: Station) -> None:
        assert self.app is not None
        stack = contextlib.AsyncExitStack()
        url = f"ws://127.0.0.1:{self.app.ocpp_port}/ocpp"
        await stack.enter_async_context(station.connected(url))
        self._links[station.id] = stack

    async def disconnect(self, station: Station) -> None:
        await self._links.pop(station.id).aclose()

    async def settle(self) -> None:
        """Until the site has nothing left to do: no replan running or due, the latest
        plan's profiles and remote stops answered, and what the chargers sent of their own
        accord in answer (a remote stop's StopTransaction) answered and replanned on."""
        assert self.app is not None
        service = self.app.services.smart_charging
        await asyncio.sleep(0.06)  # past whatever the last message asked for
        try:
            async with asyncio.timeout(SETTLE_S):
                while True:
                    replans = service.replans_made(SITE)
                    await service.dispatched(SITE)
                    sent = any(station.busy for station in self.stations.values())
                    for station in self.stations.values():
                        await station.quiet()
                    if not sent and service.replans_made(SITE) == replans:
                        return
                    await asyncio.sleep(0.02)  # the replan their messages asked for
        except TimeoutError:
            self.unsettled.append(self.clock.now())

    # --- the world ------------------------------------------------------------------------------
    async def post_meter(self) -> None:
        assert self.api is not None
        now = self.clock.now()
        drawn = sum(s.draw_w(c, now) for s in self.stations.values() for c in s.cars)
        points = {"points": [{"timestamp": now.isoformat(), "value": self.building_w + drawn}]}
        response = await self.api.post(f"/sites/{SITE}/meter", json=points)
        assert response.status_code == 201, response.text
        self.last_meter_at = now

    def meter_due(self) -> bool:
        if self.meter_every is None:
            return False
        return (
            self.last_meter_at is None or self.clock.now() - self.last_meter_at >= self.meter_every
        )

    async def arrive(self, charger: str, max_w: float = CHARGER_W) -> None:
        """A car plugs in: judged at once, under what its connector holds before any replan."""
        await self.stations[charger].plug_in(1, Car(max_w))
        self.judge(self.clock.now(), why=f"{charger}: a car plugged in; ")
        await self.urge(self.stations[charger].cars[1])

    async def urge(self, car: Car) -> None:
        """More energy than the site can give, by three hours from now: every slot until then
        is wanted in full, so the plan fills the site and its limit binds."""
        assert self.api is not None and car.transaction_id is not None
        departure = self.clock.now() + 3 * HOUR
        need = {"energy_kwh": 500, "departure": departure.isoformat()}
        response = await self.api.put(f"/transactions/{car.transaction_id}/need", json=need)
        assert response.status_code == 200, response.text

    async def urge_all(self) -> None:
        for station in self.stations.values():
            for car in station.cars.values():
                if car.transaction_id is not None:
                    await self.urge(car)

    async def leave(self, charger: str) -> None:
        await self.stations[charger].unplug(1)

    async def step(self, events: Callable[[], Awaitable[None]] | None = None) -> None:
        """One step of the clock: what happens now, reports, the timer's replan, then the
        interval to the next step is judged."""
        now = self.clock.now()
        if events is not None:
            await events()
        before = self.held_w(now)  # after what happened now: arrivals raise it
        self._changes.clear()
        if self.app is not None:
            if now.minute == 0:  # departures move on with the day: the site stays wanted
                await self.urge_all()
            for station in self.stations.values():
                if station.link is not None:
                    await station.report()
            if self.meter_due():
                await self.post_meter()
            await self.app.services.smart_charging.replan_all()
            await self.settle()
        after = self.held_w(now)
        worst = max(self._changes, default=after)
        room = SITE_LIMIT_W - self.building_w
        if worst > max(before, after, room) + TOLERANCE_W:  # the order of sending did it
            self.violations.append(
                Violation(
                    self.phase,
                    now,
                    f"while profiles changed, held {worst / 1000:.2f} kW with room for "
                    f"{room / 1000:.2f}: more than before ({before / 1000:.2f}) and after "
                    f"({after / 1000:.2f}); an increase went before a reduction",
                )
            )
        self.judge_interval(now, now + STEP)
        self.clock.at = now + STEP
        for station in self.stations.values():
            station.integrate(self.clock.at)

    async def run(self, duration: timedelta, events: dict[timedelta, Any] | None = None) -> None:
        """Steps for `duration`; `events[offset]` happens at that offset from now."""
        start, events = self.clock.now(), events or {}
        while self.clock.now() < start + duration:
            await self.step(events.get(self.clock.now() - start))


# --- the fixture: a site, six chargers, a building ---------------------------------------------
def start_of_day() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@contextlib.asynccontextmanager
async def site_scenario(tmp_path: Path) -> AsyncIterator[Scenario]:
    clock = FakeClock(start_of_day())
    stations = {
        cp: Station(cp, Holder(connectors=1, connector_max_w=CHARGER_W), clock) for cp in CHARGERS
    }
    stations["CP-2"].units = ("Current", "Power")  # takes W too; the others only A
    scenario = Scenario(clock, f"sqlite:///{tmp_path / 'ampnexus.sqlite3'}", stations)
    for station in stations.values():
        station.on_change = scenario._changed
    await scenario.start_server()
    api = scenario.api
    assert api is not None
    body = {"id": SITE, "name": "Depot", "time_zone": "UTC", "grid_limit_kw": 36}
    body |= {"default_energy_kwh": 200, "default_departure": "23:30:00"}  # never satisfied
    assert (await api.post("/sites", json=body)).status_code == 201
    for cp in CHARGERS:
        created = await api.post("/charge-points", json={"id": cp, "security_profile": 0})
        assert created.status_code == 201, created.text
        placement = {"site_id": SITE, "phases": 3, "max_power_w": CHARGER_W}
        assert (await api.put(f"/charge-points/{cp}", json=placement)).status_code == 200
    assert (await api.post("/id-tags", json={"id_tag": "TAG"})).status_code == 201
    for station in stations.values():
        await scenario.connect(station)
        await station.boot()
    await scenario.post_meter()
    await scenario.settle()
    try:
        yield scenario
    finally:
        if scenario.app is not None:
            await scenario.stop_server()


async def arrivals(s: Scenario) -> None:
    """An hour of cars arriving on CP-1 to CP-4 with a steady 8 kW building."""
    s.phase = "arrivals"

    async def cars(*chargers: str) -> None:
        for charger in chargers:
            await s.arrive(charger)

    await s.run(
        HOUR,
        {
            timedelta(0): lambda: cars("CP-1", "CP-2"),
            timedelta(minutes=20): lambda: cars("CP-3"),
            timedelta(minutes=40): lambda: cars("CP-4"),
        },
    )


async def meter_jumps(s: Scenario) -> None:
    """The building jumps by 20 kW and back, twice; the meter reports the jump at once."""
    s.phase = "meter jumps"

    def building(watts: float) -> Callable[[], Awaitable[None]]:
        async def change() -> None:
            s.building_w = watts
            await s.post_meter()

        return change

    await s.run(
        3 * HOUR,
        {
            timedelta(0): building(28_000.0),
            HOUR: building(8_000.0),
            2 * HOUR: building(28_000.0),
            2 * HOUR + 30 * timedelta(minutes=1): building(8_000.0),
        },
    )


async def slow_meter(s: Scenario) -> None:
    """A steady 20 kW building; the meter reports every 10 minutes, the cars every 5."""
    s.phase = "slow meter"
    s.building_w, s.meter_every = 20_000.0, 2 * STEP
    await s.post_meter()  # the building's step is measured; from then on it holds steady
    await s.run(4 * HOUR)
    s.meter_every = STEP


async def stale_meter(s: Scenario) -> None:
    """The meter stops reporting for two hours; the building stays at 20 kW."""
    s.phase = "stale meter"
    s.building_w = 20_000.0
    await s.post_meter()
    s.meter_every = None
    await s.run(2 * HOUR)
    s.meter_every = STEP
    await s.run(HOUR)


async def refusing_charger(s: Scenario) -> None:
    """The charger holding most refuses every profile from now on: it keeps what it holds.
    The building grows by 8 kW half an hour later, and a car arrives on CP-5 an hour later.
    When what it holds no longer fits beside the building, only stopping its session keeps
    the site in (it still answers RemoteStopTransaction)."""
    s.phase = "refusing charger"
    now = s.clock.now()
    refusing = max(s.stations.values(), key=lambda station: station.held_w(now))
    refusing.refusing = True  # the one holding most: what it keeps matters

    async def building_grows() -> None:
        s.building_w += 8_000.0
        await s.post_meter()

    await s.run(
        3 * HOUR,
        {30 * timedelta(minutes=1): building_grows, HOUR: lambda: s.arrive("CP-5")},
    )
    refusing.refusing = False
    stopped = {
        st.id for st in s.stations.values() if st.link and st.link.asked("RemoteStopTransaction")
    }
    assert stopped <= {refusing.id}, f"only a charger refusing profiles is stopped: {stopped}"
    if stopped:  # what it held no longer fitted beside the building: the operator is told
        assert s.api is not None
        query = {"kind": "session_stopped", "charge_point_id": refusing.id, "open": "true"}
        alerts = (await s.api.get("/alerts", params=query)).json()["items"]
        assert alerts and alerts[0]["severity"] == "critical", alerts


async def restart(s: Scenario) -> None:
    """CP-2 (it takes W as well as A) reboots: its transaction stops, it boots again with the
    profiles it held, and the car still plugged in starts a new transaction at once."""
    s.phase = "restart"
    station = s.stations["CP-2"]

    async def reboot() -> None:
        await station.end_transactions_for_reboot()
        await s.disconnect(station)
        await s.connect(station)
        await station.resume_after_reboot()
        s.judge(s.clock.now(), why="CP-2 rebooted; ")

    await s.run(3 * HOUR, {timedelta(0): reboot})


async def comings_and_goings(s: Scenario) -> None:
    """Cars leave and others arrive, with a 12 kW building."""
    s.phase = "comings and goings"
    s.building_w = 12_000.0

    await s.run(
        5 * HOUR,
        {
            timedelta(0): lambda: s.leave("CP-3"),
            HOUR: lambda: s.arrive("CP-6", 11_000.0),
            2 * HOUR: lambda: s.leave("CP-4"),
            3 * HOUR: lambda: s.arrive("CP-3"),
        },
    )


async def outage(s: Scenario) -> None:
    """AmpNexus is down for 30 hours: the chargers keep what they hold and the cars keep
    drawing it, with a 20 kW building; then it restarts on the same database."""
    s.phase = "30-hour outage"
    s.building_w = 20_000.0
    await s.post_meter()
    await s.step()
    await s.stop_server()
    await s.run(30 * HOUR)
    s.phase = "after the outage"
    await s.start_server()
    for station in s.stations.values():
        await s.connect(station)  # a lost connection is no reboot: no BootNotification
        for connector in station.cars:
            await station.status(connector, "Charging")
    await s.post_meter()
    await s.run(HOUR)


PHASES = {
    "meter jumps": meter_jumps,
    "slow meter": slow_meter,
    "stale meter": stale_meter,
    "refusing charger": refusing_charger,
    "restart": restart,
    "comings and goings": comings_and_goings,
    "outage": outage,
}
# Issue 16: each fix flipped one (strict xfail); a phase that fails again goes here.
FAILING_TODAY: dict[str, str] = {}


def verdict(s: Scenario) -> str:
    shown = "\n".join(str(v) for v in s.violations[:8])
    more = len(s.violations) - 8
    return f"{len(s.violations)} violations:\n{shown}" + (
        f"\n... and {more} more" if more > 0 else ""
    )


@pytest.mark.parametrize(
    "phase",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=FAILING_TODAY[name])]
            if name in FAILING_TODAY
            else [],
        )
        for name in PHASES
    ],
)
async def test_the_site_limit_holds(tmp_path: Path, phase: str) -> None:
    async with site_scenario(tmp_path) as s:
        await arrivals(s)
        await PHASES[phase](s)
    assert s.peak_w > 0.6 * SITE_LIMIT_W, "the site was hardly used: little was judged"
    assert not s.violations, verdict(s)


async def test_a_whole_day_and_an_outage(tmp_path: Path) -> None:
    """24 hours (arrivals 1 h, jumps 3 h, slow meter 4 h, stale 3 h, refusal 3 h, restart
    3 h, comings and goings 5 h, and 2 h more of arrivals' steady state), then 30 hours
    without AmpNexus and an hour after it is back."""
    async with site_scenario(tmp_path) as s:
        await arrivals(s)
        for name in ("meter jumps", "slow meter", "stale meter", "refusing charger"):
            await PHASES[name](s)
        await restart(s)
        await comings_and_goings(s)
        s.phase = "evening"
        await s.run(2 * HOUR)
        await outage(s)
    assert s.peak_w > 0.6 * SITE_LIMIT_W, "the site was hardly used: little was judged"
    assert not s.violations, verdict(s)
