"""The load generator behind bench/ocpp_load.py: K lean OCPP 1.6J chargers in one process.

Run by ocpp_load.py as `python bench/ocpp_driver.py < plan.json > result.json`; it shares
the machine with the server under test, so it stays lean: raw `websockets` frames and
orjson, no schema validation, no `ocpp` package, one coroutine per charger that sends a
CALL and waits for its answer (OCPP-J allows one outstanding CALL per direction).

The plan (JSON on stdin):
    url, ids, password (or null), id_tag, connectors, mix {heartbeat, status, session},
    meter_values_per_session, prime_sessions (start each charger mid-session),
    phases [{name, duration, rate (msg/s per charger, or null for closed loop)}],
    server_pid, connect_concurrency, timeout, compression, profile (py-spy output or null)

The result (JSON on stdout): connection figures, the server's memory, one entry per phase
(throughput, latency percentiles, server and client CPU, errors) and, per charger, what
the server acknowledged (meter samples, starts, stops, status notifications) so that the
caller can check the database holds exactly that.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

CALL, RESULT, ERROR = 2, 3, 4
# Messages AmpNexus answers only after writing them to the database.
WRITES = frozenset(
    {"BootNotification", "StatusNotification", "StartTransaction", "StopTransaction", "MeterValues"}
)
SAMPLES_PER_METER_VALUE = 5  # energy register, power, current on L1, L2, L3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def raise_open_files_limit() -> None:
    """Thousands of sockets need thousands of file descriptors."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the server process, seen through /proc --------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of `pid`."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_kib(pid: int) -> dict[str, int]:
    """Current (VmRSS) and peak (VmHWM) resident memory of `pid`."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return {"rss_kib": values["VmRSS"], "peak_rss_kib": values["VmHWM"]}


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot: the database server and anything
    else on the machine show up here."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- what a charger says ---------------------------------------------------------------------
@dataclass
class Acknowledged:
    """What the server answered with a CALLRESULT, hence persisted."""

    samples: int = 0
    starts: int = 0
    stops: int = 0
    statuses: int = 0


class Script:
    """One charger's next message: charging sessions (Authorize, StartTransaction,
    MeterValues..., StopTransaction) interleaved with heartbeats and status changes,
    drawn by the mix's weights."""

    def __init__(self, plan: dict[str, Any], rng: random.Random) -> None:
        self._rng = rng
        self._kinds = list(plan["mix"])
        self._weights = list(plan["mix"].values())
        self._connectors = plan["connectors"]
        self._meter_values_per_session = plan["meter_values_per_session"]
        self._id_tag = plan["id_tag"]
        self._last_ms = 0
        self._energy_wh = rng.randrange(0, 1_000_000)
        self._connector = 1
        self._transaction_id: int | None = None
        self._authorized = False
        self._meter_values_sent = 0
        self._session_amps = 16.0
        self._statuses: dict[int, str] = {}

    def timestamp(self) -> str:
        """Now, in UTC with milliseconds, strictly increasing per charger so that every
        sample and start is distinct."""
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        moment = datetime.fromtimestamp(self._last_ms / 1000, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def boot(self) -> list[tuple[str, dict[str, Any]]]:
        boot = {
            "chargePointVendor": "AmpNexusBench",
            "chargePointModel": "Load-1",
            "chargePointSerialNumber": f"SN-{self._rng.randrange(10**8)}",
            "firmwareVersion": "1.0.0",
        }
        statuses = [self.status(c, "Available") for c in range(1, self._connectors + 1)]
        return [("BootNotification", boot), *statuses]

    def status(self, connector: int, status: str) -> tuple[str, dict[str, Any]]:
        self._statuses[connector] = status
        payload = {
            "connectorId": connector,
            "errorCode": "NoError",
            "status": status,
            "timestamp": self.timestamp(),
        }
        return "StatusNotification", payload

    def next(self) -> tuple[str, dict[str, Any]]:
        kind = self._rng.choices(self._kinds, self._weights)[0]
        if kind == "heartbeat":
            return "Heartbeat", {}
        if kind == "status":
            return self._status_change()
        return self.session_step()

    def _status_change(self) -> tuple[str, dict[str, Any]]:
        connector = self._connector
        current = self._statuses.get(connector)
        if self._transaction_id is not None:
            return self.status(connector, "SuspendedEV" if current == "Charging" else "Charging")
        return self.status(connector, "Preparing" if current == "Available" else "Available")

    def session_step(self) -> tuple[str, dict[str, Any]]:
        if self._transaction_id is None and not self._authorized:
            return "Authorize", {"idTag": self._id_tag}
        if self._transaction_id is None:
            payload = {
                "connectorId": self._connector,
                "idTag": self._id_tag,
                "meterStart": self._energy_wh,
                "timestamp": self.timestamp(),
            }
            return "StartTransaction", payload
        if self._meter_values_sent < self._meter_values_per_session:
            return "MeterValues", self._meter_values()
        payload = {
            "transactionId": self._transaction_id,
            "idTag": self._id_tag,
            "meterStop": self._energy_wh,
            "timestamp": self.timestamp(),
            "reason": "EVDisconnected",
        }
        return "StopTransaction", payload

    def somewhere_into_the_session(self) -> None:
        """Pretend part of the running session has passed, so that a fleet primed together
        does not stop (and start again) together."""
        self._meter_values_sent = self._rng.randrange(self._meter_values_per_session + 1)

    def _meter_values(self) -> dict[str, Any]:
        # An EV draws a steady current through a session, with a little noise.
        amps = round(self._session_amps + self._rng.uniform(-0.3, 0.3), 1)
        watts = round(amps * 230 * 3)
        self._energy_wh += watts // 60  # a minute's worth between samples
        samples = [
            _sample(str(self._energy_wh), "Energy.Active.Import.Register", "Wh"),
            _sample(str(watts), "Power.Active.Import", "W"),
            *(_sample(str(amps), "Current.Import", "A", phase) for phase in ("L1", "L2", "L3")),
        ]
        return {
            "connectorId": self._connector,
            "transactionId": self._transaction_id,
            "meterValue": [{"timestamp": self.timestamp(), "sampledValue": samples}],
        }

    def answered(self, action: str, reply: dict[str, Any], acknowledged: Acknowledged) -> None:
        """Advance the session on the server's answer and count what it persisted."""
        if action == "Authorize":
            self._authorized = True
        elif action == "StartTransaction":
            self._transaction_id = reply["transactionId"]
            self._meter_values_sent = 0
            self._session_amps = self._rng.uniform(6.0, 16.0)
            acknowledged.starts += 1
        elif action == "MeterValues":
            self._meter_values_sent += 1
            acknowledged.samples += SAMPLES_PER_METER_VALUE
        elif action == "StopTransaction":
            self._transaction_id = None
            self._authorized = False
            self._connector = self._connector % self._connectors + 1
            acknowledged.stops += 1
        elif action == "StatusNotification":
            acknowledged.statuses += 1


def _sample(value: str, measurand: str, unit: str, phase: str | None = None) -> dict[str, str]:
    sample = {
        "value": value,
        "context": "Sample.Periodic",
        "measurand": measurand,
        "location": "Outlet",
        "unit": unit,
    }
    if phase is not None:
        sample["phase"] = phase
    return sample


# --- measuring -------------------------------------------------------------------------------
@dataclass
class PhaseStats:
    deadline: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    late_answers: int = 0  # answered after the deadline: persisted, not counted in the rate
    call_errors: Counter[str] = field(default_factory=Counter)
    timeouts: int = 0
    disconnects: int = 0


class Unanswered(Exception):
    """The server did not answer in time or the connection went away."""


class Charger:
    def __init__(self, charge_point_id: str, plan: dict[str, Any], rng: random.Random) -> None:
        self.id = charge_point_id
        self.script = Script(plan, rng)
        self.acknowledged = Acknowledged()
        self.websocket: ClientConnection | None = None
        self._unique_ids = itertools.count(1)
        self._timeout = plan["timeout"]
        self._rng = rng

    async def call(
        self, action: str, payload: dict[str, Any], stats: PhaseStats | None
    ) -> dict[str, Any] | None:
        """Send one CALL and wait for its answer: the CALLRESULT's payload, or None for a
        CALLERROR."""
        assert self.websocket is not None
        unique_id = str(next(self._unique_ids))
        frame = orjson.dumps([CALL, unique_id, action, payload])
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                await self.websocket.send(frame, text=True)
                message = await self._answer(unique_id)
        except TimeoutError:
            if stats is not None:
                stats.timeouts += 1
            raise Unanswered(f"{action} unanswered") from None
        except ConnectionClosed:
            if stats is not None:
                stats.disconnects += 1
            raise Unanswered("connection closed") from None
        answered = time.perf_counter()
        if stats is not None:
            if answered <= stats.deadline:
                stats.latencies[action].append(answered - started)
            else:
                stats.late_answers += 1
        if message[0] == ERROR:
            if stats is not None:
                stats.call_errors[f"{action}:{message[2]}"] += 1
            return None
        self.script.answered(action, message[2], self.acknowledged)
        return dict(message[2])

    async def _answer(self, unique_id: str) -> list[Any]:
        assert self.websocket is not None
        while True:
            message = orjson.loads(await self.websocket.recv(decode=False))
            if message[0] == CALL:  # the load plan triggers none; refuse politely
                refusal = [ERROR, message[1], "NotSupported", "bench charger", {}]
                await self.websocket.send(orjson.dumps(refusal), text=True)
            elif message[1] == unique_id:
                return list(message)

    async def run(self, rate: float | None, stats: PhaseStats) -> None:
        """Talk until the deadline: at `rate` messages/s (open loop) or back to back."""
        interval = 1.0 / rate if rate else 0.0
        due = time.perf_counter() + self._rng.random() * interval
        while self.websocket is not None:
            if interval:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                due = max(due + interval, time.perf_counter())
            if time.perf_counter() >= stats.deadline:
                return
            action, payload = self.script.next()
            try:
                await self.call(action, payload, stats)
            except Unanswered:  # out of step with the server: this charger is done
                websocket, self.websocket = self.websocket, None
                await websocket.close()


# --- connecting -------------------------------------------------------------------------------
async def connect_and_boot(charger: Charger, plan: dict[str, Any], errors: Counter[str]) -> None:
    headers = {}
    if plan["password"] is not None:
        token = base64.b64encode(f"{charger.id}:{plan['password']}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        charger.websocket = websocket = await connect(
            f"{plan['url']}/{charger.id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
            compression="deflate" if plan.get("compression") else None,
            open_timeout=plan["timeout"],
            ping_interval=None,
            max_queue=4,
        )
    except InvalidStatus as error:
        errors[f"HTTP {error.response.status_code}"] += 1
        return
    except (InvalidHandshake, OSError, TimeoutError) as error:
        errors[type(error).__name__] += 1
        return
    try:
        if await opened(charger, plan["prime_sessions"]):
            return
        errors["boot refused"] += 1
    except Unanswered as error:
        errors[str(error)] += 1
    charger.websocket = None
    await websocket.close()


async def opened(charger: Charger, prime_session: bool) -> bool:
    """Boot, report every connector's status and, to start in a steady state, have a
    session under way: a fleet's drivers arrived at different times."""
    for action, payload in charger.script.boot():
        reply = await charger.call(action, payload, None)
        if reply is None or reply.get("status", "Accepted") != "Accepted":
            return False
    if prime_session:
        for _ in ("Authorize", "StartTransaction"):
            if await charger.call(*charger.script.session_step(), None) is None:
                return False
        charger.script.somewhere_into_the_session()
    return True


async def connect_all(chargers: list[Charger], plan: dict[str, Any]) -> Counter[str]:
    errors: Counter[str] = Counter()
    gate = asyncio.Semaphore(plan["connect_concurrency"])

    async def one(charger: Charger) -> None:
        async with gate:
            await connect_and_boot(charger, plan, errors)

    await asyncio.gather(*(one(charger) for charger in chargers))
    return errors


@contextlib.contextmanager
def profiling(path: str | None, pid: int, seconds: float) -> Iterator[None]:
    """Sample the server with py-spy (installed next to this Python) into `path`."""
    if path is None:
        yield
        return
    kind = {".txt": "raw", ".json": "speedscope"}.get(os.path.splitext(path)[1], "flamegraph")
    py_spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    command = [py_spy, "record", "--pid", str(pid), "--threads", "--nonblocking"]
    command += ["--duration", str(math.ceil(seconds)), "--format", kind, "--output", path]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        recorder.wait()


# --- the run ----------------------------------------------------------------------------------
async def run_phase(chargers: list[Charger], phase: dict[str, Any], pid: int) -> dict[str, Any]:
    started = time.perf_counter()
    stats = PhaseStats(deadline=started + phase["duration"])
    server_cpu, client_cpu, machine = cpu_seconds(pid), own_cpu_seconds(), machine_cpu_ticks()
    talking = asyncio.gather(*(c.run(phase["rate"], stats) for c in chargers))
    await asyncio.sleep(phase["duration"])
    server_cpu, client_cpu = cpu_seconds(pid) - server_cpu, own_cpu_seconds() - client_cpu
    busy, total = (now - then for now, then in zip(machine_cpu_ticks(), machine, strict=True))
    seconds = time.perf_counter() - started
    await talking  # the last answers land: they count for the database check
    cpu = {
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_pct": round(100 * server_cpu / seconds, 1),
        "client_cpu_pct": round(100 * client_cpu / seconds, 1),
        "machine_busy_pct": round(100 * busy / max(1, total), 1),
    }
    return summarize(phase, stats, seconds, len(chargers)) | cpu


def summarize(
    phase: dict[str, Any], stats: PhaseStats, seconds: float, chargers: int
) -> dict[str, Any]:
    every = sorted(itertools.chain.from_iterable(stats.latencies.values()))
    answered = len(every)
    writes = sum(len(v) for action, v in stats.latencies.items() if action in WRITES)
    return {
        "name": phase["name"],
        "rate_per_charger": phase["rate"],
        "offered_per_s": phase["rate"] * chargers if phase["rate"] else None,
        "seconds": round(seconds, 2),
        "answered": answered,
        "messages_per_s": round(answered / seconds, 1),
        "writes_per_s": round(writes / seconds, 1),
        "latency_ms": percentiles(every),
        "by_action": {
            action: {"count": len(values), "latency_ms": percentiles(sorted(values))}
            for action, values in sorted(stats.latencies.items())
        },
        "call_errors": dict(stats.call_errors),
        "timeouts": stats.timeouts,
        "disconnects": stats.disconnects,
        "answered_after_deadline": stats.late_answers,
    }


def percentiles(ordered: list[float]) -> dict[str, float | None]:
    def at(fraction: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


async def drive(plan: dict[str, Any]) -> dict[str, Any]:
    pid = plan["server_pid"]
    rng = random.Random(plan.get("seed", 1))
    chargers = [Charger(cp_id, plan, random.Random(rng.random())) for cp_id in plan["ids"]]
    before = memory_kib(pid)
    began = time.perf_counter()
    connect_errors = await connect_all(chargers, plan)
    connect_seconds = time.perf_counter() - began
    online = [c for c in chargers if c.websocket is not None]
    connected = memory_kib(pid)
    with profiling(plan.get("profile"), pid, sum(p["duration"] for p in plan["phases"])):
        phases = [await run_phase(online, phase, pid) for phase in plan["phases"]]
    peak = memory_kib(pid)["peak_rss_kib"]
    await asyncio.gather(*(c.websocket.close() for c in online if c.websocket is not None))
    return {
        "chargers": len(chargers),
        "connected": len(online),
        "connect_errors": dict(connect_errors),
        "connect_seconds": round(connect_seconds, 2),
        "memory": {
            "rss_before_connect_kib": before["rss_kib"],
            "rss_connected_kib": connected["rss_kib"],
            "peak_rss_kib": peak,
            "rss_per_charger_kib": round((peak - before["rss_kib"]) / max(1, len(online)), 1),
            "idle_rss_per_charger_kib": round(
                (connected["rss_kib"] - before["rss_kib"]) / max(1, len(online)), 1
            ),
        },
        "phases": phases,
        "acknowledged": {c.id: vars(c.acknowledged) for c in chargers},
    }


def main() -> None:
    raise_open_files_limit()
    plan = json.load(sys.stdin)
    result = asyncio.run(drive(plan))
    sys.stdout.buffer.write(orjson.dumps(result))


if __name__ == "__main__":
    main()
