"""`ampnexus demo`: AmpNexus at work, end to end, on this machine.

It starts the real server on a fresh SQLite database, registers simulated chargers (each
with its own password) and drivers' id tags through the services, and lets the chargers
speak OCPP 1.6J over real WebSockets to it while simulated drivers arrive, charge and
leave. Server and simulation share one clock, sped up, so an evening passes in minutes
and every timestamp the API shows is in that same simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from ampnexus.app import AmpNexus
from ampnexus.config import Settings
from ampnexus.domain.api_key import ApiKeyScope
from ampnexus.domain.id_tag import AuthorizationStatus, IdTag
from ampnexus.domain.site import Placement, Site
from ampnexus.domain.user import Role
from ampnexus.sim.charge_point import SimChargePoint
from ampnexus.sim.charger import ChargerSpec
from ampnexus.sim.clock import SimClock
from ampnexus.sim.ev import EV
from ampnexus.sim.fleet import Fleet, fleet_specs

CARDS = [f"DEMO-CARD-{n:02d}" for n in range(1, 21)]
LOST_CARD = "DEMO-LOST"  # blocked: the occasional driver is turned away
MINUTE = 60.0
DEMO_SITE = "demo-site"
SITE_ZONE = ZoneInfo("Europe/London")
SITE_SHARE = 0.6  # of what all chargers could draw at once
# Short stays and short gaps, so that a demo of a few minutes sees cars come and go.
FIRST_ARRIVALS_MINUTES = 30.0  # every bay's first car arrives within this
STAY_MINUTES = (30.0, 100.0)
MEAN_GAP_MINUTES = 20.0  # a bay stays empty this long on average
TARGET_SOC = 80.0  # what drivers would like; they ask for what their stay can give
STATUS_EVERY_S = 5.0  # real seconds between two live tables
SATISFIED_WITHIN_WH = 50.0  # what rounds to the 0.1 kWh asked for (the meter counts Wh)


@dataclass(frozen=True)
class DemoOptions:
    chargers: int = 4
    speed: float = 60.0  # simulated seconds per real second
    duration: float | None = None  # real seconds; None: until Ctrl-C
    data_dir: Path | None = None  # None: a temporary directory, removed afterwards
    host: str = "127.0.0.1"
    http_port: int = 8000
    ocpp_port: int = 9000
    seed: int | None = None


async def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> None:
    with _data_dir(options.data_dir) as data_dir:
        clock = SimClock(options.speed)
        chosen: dict[str, Any] = {  # the rest from AMPNEXUS_* or the defaults
            "host": options.host,
            "http_port": options.http_port,
            "ocpp_port": options.ocpp_port,
            "database_url": f"sqlite:///{data_dir / 'ampnexus.sqlite3'}",
        }
        # The server's timed replans keep simulated time too (its clock is the demo's).
        default_interval = Settings.model_fields["replan_interval"].default
        chosen["replan_interval"] = max(1.0, default_interval / options.speed)
        settings = Settings(**chosen)
        app = AmpNexus(settings, clock=clock)
        await app.start()
        say = _printer(out, clock)
        try:
            specs = fleet_specs(options.chargers, "DEMO", None)
            specs = [_with_password(spec) for spec in specs]
            key = await _register(app, specs)
            url = f"ws://{_reachable(options.host)}:{app.ocpp_port}/ocpp"
            async with Fleet(url, specs, clock=clock) as fleet:
                _banner(out, app, options, key, data_dir)
                rng, wallet = random.Random(options.seed), Wallet(set(CARDS))
                bays = sum(spec.connectors for spec in specs)
                board = Board(limit_w=site_limit_w(specs), bays=bays)
                tasks = [
                    asyncio.create_task(_driver(cp, n, rng, wallet, say, app, board))
                    for cp in fleet.values()
                    for n in cp.charger.connectors
                ]
                tasks.append(asyncio.create_task(_live_table(board, out, clock)))
                await _until_stopped(options.duration)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await _end_sessions(fleet)
            await _summary(app, board, out)
        finally:
            await app.stop()


@contextlib.contextmanager
def _data_dir(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        yield chosen
        return
    with tempfile.TemporaryDirectory(prefix="ampnexus-demo-") as temporary:
        yield Path(temporary)


# The demo's portal login: a throwaway database, so a fixed, printed password is fine.
DEMO_LOGIN, DEMO_PASSWORD = "demo@ampnexus.local", "demo-password-123"


def _with_password(spec: ChargerSpec) -> ChargerSpec:
    return replace(spec, password=secrets.token_hex(12))  # 24 hex digits, OCPP's 16..40


async def _register(app: AmpNexus, specs: list[ChargerSpec]) -> str:
    """What an operator does first: an API key, the chargers, the drivers' cards."""
    services = app.services
    _, key = await services.api_keys.create("demo", scope=ApiKeyScope.ADMIN)
    await services.users.create(DEMO_LOGIN, DEMO_PASSWORD, Role.ADMIN)  # for the portal
    for spec in specs:
        await services.charge_points.register(
            spec.id,
            password=spec.password,
            security_profile=1,
            description=f"Simulated {spec.model}, {spec.max_power_w / 1000:g} kW",
        )
    await _site(app, specs)
    for card in CARDS:
        await services.authorization.add(IdTag(card, description="a demo driver"))
    await services.authorization.add(
        IdTag(LOST_CARD, AuthorizationStatus.BLOCKED, description="reported lost")
    )
    return key


def site_limit_w(specs: list[ChargerSpec]) -> float:
    """A grid connection that cannot feed every charger at once."""
    total_w = sum(spec.max_power_w * spec.connectors for spec in specs)
    return round(total_w * SITE_SHARE / 1000) * 1000.0


async def _site(app: AmpNexus, specs: list[ChargerSpec]) -> None:
    """One site whose grid connection cannot feed every charger at once: smart charging
    shares it, and GET /sites/demo-site/plan shows how."""
    services = app.services
    await services.sites.create(
        Site(DEMO_SITE, "Demo car park", str(SITE_ZONE), grid_limit_w=site_limit_w(specs))
    )
    for spec in specs:
        await services.sites.place(
            Placement(spec.id, DEMO_SITE, phases=spec.phases, max_power_w=spec.max_power_w)
        )


def _reachable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _banner(out: TextIO, app: AmpNexus, options: DemoOptions, key: str, data_dir: Path) -> None:
    host = _reachable(options.host)
    api = f"http://{host}:{app.http_port}/api/v1"
    lines = [
        f"AmpNexus demo: {options.chargers} simulated chargers, drivers arriving and leaving.",
        f"Simulated time runs {options.speed:g}x real time (server and chargers alike);",
        f"every {STATUS_EVERY_S:g} s a table shows what each car draws and has received.",
        "",
        f"  portal       http://{host}:{app.http_port}/  (sign in as {DEMO_LOGIN}, "
        f"password {DEMO_PASSWORD})",
        f"  API          {api}",
        f"  API docs     {api}/docs",
        f"  API key      {key}",
        f"  OCPP         ws://{host}:{app.ocpp_port}/ocpp/{{id}}",
        f"  database     {data_dir / 'ampnexus.sqlite3'}",
        "",
        "Try:",
        f'  curl -s -H "Authorization: Bearer {key}" {api}/charge-points',
        f'  curl -s -H "Authorization: Bearer {key}" "{api}/transactions?active=true"',
        f'  curl -s -H "Authorization: Bearer {key}" {api}/sites/{DEMO_SITE}/plan',
        "",
        "Press Ctrl-C to stop."
        if options.duration is None
        else f"Stops in {options.duration:g} s.",
        "",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def _printer(out: TextIO, clock: SimClock) -> Callable[[str], None]:
    def say(text: str) -> None:
        out.write(f"[{_local(clock.now())}] {text}\n")
        out.flush()

    return say


def _quarter_hour_after(moment: datetime) -> datetime:
    """Drivers say when they leave in round times: 20:45, not 20:47:13."""
    past = timedelta(seconds=moment.timestamp() % 900)
    return moment - past + timedelta(minutes=15) if past else moment


def _local(moment: datetime) -> str:
    """A time of day at the site, as drivers read it."""
    return f"{moment.astimezone(SITE_ZONE):%H:%M}"


@dataclass
class Wallet:
    """The drivers' cards not in a charger right now: one card, one car at a time."""

    free: set[str]

    def take(self, rng: random.Random) -> str:
        card = rng.choice(sorted(self.free)) if self.free else LOST_CARD
        self.free.discard(card)
        return card

    def give_back(self, card: str) -> None:
        if card != LOST_CARD:
            self.free.add(card)


@dataclass
class Visit:
    """One car's stay in a bay: what the driver asked for, what the charger sees."""

    cp: SimChargePoint
    connector_id: int
    ev: EV
    wanted_wh: float

    @property
    def where(self) -> str:
        return f"{self.cp.id}/{self.connector_id}"

    @property
    def received_wh(self) -> float:
        connector = self.cp.connector(self.connector_id)
        tx = connector.transaction
        return connector.energy_wh - tx.meter_start if tx is not None else 0.0

    def enough(self, received_wh: float) -> bool:
        """What the driver asked for, to the 0.1 kWh they asked in."""
        return received_wh > self.wanted_wh - SATISFIED_WITHIN_WH


@dataclass
class Board:
    """What is going on in the car park, for the live table and the summary."""

    limit_w: float
    bays: int  # connectors, all told
    parked: dict[str, Visit] = field(default_factory=dict)
    delivered_wh: float = 0.0  # by the sessions that have ended
    left: int = 0
    satisfied: int = 0  # drivers who left with the energy they asked for

    def leave(self, visit: Visit, received_wh: float) -> None:
        self.parked.pop(visit.where, None)
        self.delivered_wh += received_wh
        self.left += 1
        self.satisfied += visit.enough(received_wh)


def wanted_wh(ev: EV, rate_w: float, stay: timedelta) -> float:
    """What a driver asks for: enough for TARGET_SOC, but no more than three quarters of
    what the stay gives at `rate_w` (drivers who park here know roughly what to expect)."""
    to_target = max(0.0, TARGET_SOC - ev.soc) / 100 * ev.capacity_kwh * 1000
    possible = min(ev.max_power_w, rate_w) * stay.total_seconds() / 3600
    return round(min(to_target, 0.75 * possible), -2)  # in 0.1 kWh, as an app would


async def _driver(
    cp: SimChargePoint,
    connector_id: int,
    rng: random.Random,
    wallet: Wallet,
    say: Callable[[str], None],
    app: AmpNexus,
    board: Board,
) -> None:
    """One parking bay: drivers arrive, plug in, swipe, tell AmpNexus (as a driver's app
    would) how much energy they want by when, charge until they leave, and again."""
    clock, connector = cp.clock, cp.connector(connector_id)
    await clock.sleep(rng.uniform(0, FIRST_ARRIVALS_MINUTES * MINUTE))
    while True:
        departure = _quarter_hour_after(clock.now() + timedelta(minutes=rng.uniform(*STAY_MINUTES)))
        stay = departure - clock.now()
        ev = EV(
            capacity_kwh=rng.choice([40.0, 52.0, 64.0, 77.0]),
            soc=round(rng.uniform(10, 60), 1),
            max_power_w=rng.choice([7_400.0, 11_000.0, 11_000.0, 22_000.0]),
            departure=departure,
        )
        # What the car park gives a car when every bay is taken: its charger's maximum, or
        # an equal share of the site's connection if that is less.
        fair_w = min(cp.spec.max_power_w, board.limit_w / board.bays)
        visit = Visit(cp, connector_id, ev, wanted_wh(ev, fair_w, stay))
        card = LOST_CARD if rng.random() < 0.1 else wallet.take(rng)
        await cp.plug_in(connector_id, ev)
        await clock.sleep(rng.uniform(10, 60))
        answer = await cp.present_tag(connector_id, card)
        arrival = f"{visit.where}: a {ev.capacity_kwh:g} kWh car at {ev.soc:.0f} % plugs in"
        if answer == "Accepted" and (tx := connector.transaction) is not None:
            await cp.wait_until(lambda: tx.id is not None)  # StartTransaction answered
            assert tx.id is not None
            await app.services.needs.set_for_transaction(
                tx.id, {"energy_wh": visit.wanted_wh, "departure": departure}
            )
            say(
                f"{arrival}; card {card} accepted; wants {visit.wanted_wh / 1000:.1f} kWh "
                f"by {_local(departure)}"
            )
            board.parked[visit.where] = visit
            await cp.wait_until(lambda: connector.ev is None, timeout=None)
            received = tx.energy_wh or 0
            board.leave(visit, received)
            say(
                f"{visit.where}: the driver leaves with {received / 1000:.1f} of "
                f"{visit.wanted_wh / 1000:.1f} kWh, car at {ev.soc:.0f} %"
            )
        else:
            say(f"{arrival}; card {card}: {answer}")
            await clock.sleep(rng.uniform(1, 5) * MINUTE)
            await cp.unplug(connector_id)
            say(f"{visit.where}: the driver gives up and leaves")
        wallet.give_back(card)
        await clock.sleep(rng.expovariate(1 / (MEAN_GAP_MINUTES * MINUTE)))


async def _live_table(board: Board, out: TextIO, clock: SimClock) -> None:
    """Every few seconds: the site's power against its limit, and every parked car."""
    while True:
        await asyncio.sleep(STATUS_EVERY_S)
        out.write(live_table(board, clock.now()))
        out.flush()


def live_table(board: Board, now: datetime) -> str:
    visits = sorted(board.parked.values(), key=lambda v: v.where)
    power_w = sum(v.cp.connector(v.connector_id).power_w for v in visits)
    delivered_wh = board.delivered_wh + sum(v.received_wh for v in visits)
    lines = [
        f"[{_local(now)}] site {power_w / 1000:.1f} of {board.limit_w / 1000:.1f} kW, "
        f"{len(visits)} cars parked, {delivered_wh / 1000:.1f} kWh delivered so far"
    ]
    for visit in visits:
        connector = visit.cp.connector(visit.connector_id)
        lines.append(
            f"        {visit.where:<12}{_state(visit, connector.status()):<15}"
            f"{connector.power_w / 1000:>5.1f} kW {visit.received_wh / 1000:>6.1f} of "
            f"{visit.wanted_wh / 1000:>4.1f} kWh  leaves {_local(visit.ev.departure or now)}"
        )
    return "\n".join(lines) + "\n"


def _state(visit: Visit, status: str) -> str:
    if visit.enough(visit.received_wh):
        return "done"
    return {
        "Charging": "charging",
        "SuspendedEVSE": "waiting (plan)",
        "SuspendedEV": "paused by car",
    }.get(status, status.lower())


async def _end_sessions(fleet: Fleet) -> None:
    """Closing time: every driver stops their session, so the database tells it all."""
    for cp in fleet.values():
        for connector in cp.charger.connectors.values():
            if connector.transaction is not None:
                await cp.present_tag(connector.id, connector.transaction.id_tag)
    for cp in fleet.values():
        with contextlib.suppress(TimeoutError):
            await cp.settled(timeout=5.0)


async def _until_stopped(duration: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _summary(app: AmpNexus, board: Board, out: TextIO) -> None:
    page = await app.services.transactions.list(None, None, 10_000, 0)
    energy = sum(t.energy_wh or 0 for t in page.items) / 1000
    out.write(
        f"\n{page.total} charging sessions, {energy:.1f} kWh delivered; "
        f"{board.satisfied} of the {board.left} drivers who left got the energy they asked "
        "for. Goodbye.\n"
    )
    out.flush()
