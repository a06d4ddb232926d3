"""OCPP load benchmark: how many chargers, and how many messages per second, one AmpNexus
node carries, and at what cost in latency, CPU and memory.

    .venv/bin/python bench/ocpp_load.py --chargers 1000 --duration 30 --rate 3.3 --closed-loop
    .venv/bin/python bench/ocpp_load.py --connect-only --chargers 5000 --backend postgresql

Design
------
Three processes, as in production: this orchestrator, the server under test and a load
generator (bench/ocpp_driver.py), so that neither the measuring nor the load shares the
server's event loop. For each backend (PostgreSQL: a fresh database on 127.0.0.1:5432,
dropped afterwards; SQLite: a temporary file) it

1. creates an API key with `ampnexus apikey create` and starts `ampnexus serve`;
2. registers K chargers (security profile 0, or profile 1 with --passwords) and an id tag
   through the REST API;
3. runs the load generator: K chargers connect (at most --connect-concurrency at a time),
   send BootNotification and a StatusNotification per connector, start a session and
   pretend a random part of it has passed (so that the fleet starts in a steady state, not
   with a thousand sessions starting in the same second), then for --duration seconds per
   phase send a mix of Heartbeat, StatusNotification changes and charging sessions
   (Authorize, StartTransaction, --meter-values-per-session MeterValues with energy
   register, power and current on three phases, StopTransaction), drawn by --mix weights;
   with --connect-only they only send heartbeats (default one per 10 s);
     - open loop (--rate R): each charger sends R messages/s, evenly spaced, at a random
       phase; the achieved rate falls short of the offered one when the server saturates;
     - closed loop (--closed-loop): each charger sends its next message the moment the
       previous one is answered, which measures the ceiling throughput;
4. stops the server and checks the database directly (sqlite3 / psycopg): every meter
   sample and status notification the server acknowledged is stored exactly once, every
   acknowledged StartTransaction is one transaction row, every StopTransaction closed one.

With --closed-loop the same closed-loop load also runs against bench/bare_csms.py, a bare
central system built from the `ocpp` package's stock ChargePoint that answers without
persisting anything: AmpNexus's closed-loop throughput over that one's is the ceiling ratio.

Reading the output
------------------
- The header says how busy the machine was before the run: other work on these two cores
  lowers every figure. machine CPU busy % (all cores, /proc/stat) during each phase shows
  it too; it includes PostgreSQL's own processes.
- connected: chargers that connected and booted; connect + boot: seconds for all of them.
- messages/s: CALLs answered per second within the phase window. AmpNexus answers only
  after the message's data is committed, so for writes answered means persisted;
  persisted writes/s counts BootNotification, StatusNotification, Start/StopTransaction
  and MeterValues (Heartbeat and Authorize write nothing to wait for).
- latency: round trip from sending a CALL to receiving its answer, as the charger sees it.
- server CPU: user + system seconds of every server thread during the phase
  (/proc/PID/stat), and as % of one core (the server may use more than one: the database
  writer is a thread). load generator CPU: the same for the driver; near 100 % means the
  client, not the server, limits the figure.
- peak RSS: the server's VmHWM; RSS per charger: (peak RSS - RSS before connecting) / K,
  so it includes the buffers of the busiest moment; idle RSS per charger uses the RSS
  right after every charger booted instead of the peak.
- errors: CALLERRORs by action and code, failed connects, timeouts, dropped connections,
  and the warnings and errors in the server's log (the last few are printed).
- targets: the issue's targets, judged where this run measured them (memory with 5,000 or
  more chargers, throughput and p99 with an open loop offering 3,000 messages/s or more).
- lost / extra: acknowledged items missing from the database / rows beyond those
  acknowledged (duplicates). Both must be 0; the exit status is 1 when they are not.

--profile FILE records the server with py-spy during the load phases (not while chargers
connect) into FILE-<backend>.svg (flame graph; .txt: collapsed stacks, .json: speedscope);
`pip install py-spy` first. Sampling costs the server a few per cent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
POSTGRES_URL = os.environ.get(
    "AMPNEXUS_BENCH_POSTGRES_URL",
    os.environ.get("AMPNEXUS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
PASSWORD = "bench-charger-password-42"  # 16..40 characters, as OCPP requires
ID_TAG = "BENCH-TAG"
TARGETS = {"kib_per_charger": 40, "messages_per_s": 3000, "p99_ms": 100, "ceiling_ratio": 0.7}


# --- processes -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_open_files_limit() -> None:
    """Children inherit it: the server needs a descriptor per charger."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    ocpp_url: str
    http_url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def running(
    command: list[str], log: Path, ready: Callable[[], bool], what: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command`, wait until `ready()` is true, and stop it with SIGTERM afterwards."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers_http(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def accepts_tcp(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cli(database_url: str) -> list[str]:
    return [PYTHON, "-m", "ampnexus.cli", "--database-url", database_url, "--log-level", "warning"]


@contextlib.contextmanager
def ampnexus_server(database_url: str, workdir: Path) -> Iterator[Server]:
    ocpp_port, http_port = free_port(), free_port()
    http_url = f"http://127.0.0.1:{http_port}/api/v1"
    command = [
        *cli(database_url),
        "serve",
        "--host",
        "127.0.0.1",
        "--ocpp-port",
        str(ocpp_port),
        "--http-port",
        str(http_port),
    ]
    log = workdir / "ampnexus.log"
    with running(command, log, lambda: answers_http(f"{http_url}/health"), "ampnexus") as process:
        yield Server(process, f"ws://127.0.0.1:{ocpp_port}/ocpp", http_url, log)


@contextlib.contextmanager
def bare_server(workdir: Path) -> Iterator[Server]:
    port = free_port()
    command = [PYTHON, str(HERE / "bare_csms.py"), "--port", str(port)]
    log = workdir / "bare.log"
    with running(command, log, lambda: accepts_tcp(port), "bare_csms") as process:
        yield Server(process, f"ws://127.0.0.1:{port}/ocpp", "", log)


# --- databases -----------------------------------------------------------------------------
@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    name = f"ampnexus_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_problem() -> str | None:
    """Why the benchmark's PostgreSQL cannot be used, or None. A benchmark wants a server
    tuned as in production, so none is started here (the tests start a throwaway one)."""
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
    except psycopg.Error as error:
        return " ".join(str(error).split())
    return None


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            return db.execute(sql).fetchall()
    with psycopg.connect(database_url) as db:
        return db.execute(sql.encode()).fetchall()


COUNTS = {
    "meter_values": "SELECT charge_point_id, count(*) FROM meter_values GROUP BY 1",
    "distinct_meter_values": (
        "SELECT charge_point_id, count(*) FROM (SELECT DISTINCT charge_point_id, connector_id,"
        " transaction_id, timestamp, measurand, phase FROM meter_values) AS d GROUP BY 1"
    ),
    "transactions": "SELECT charge_point_id, count(*) FROM transactions GROUP BY 1",
    "stopped": "SELECT charge_point_id, count(stopped_at) FROM transactions GROUP BY 1",
    "status_notifications": "SELECT charge_point_id, count(*) FROM status_notifications GROUP BY 1",
}


def verify(database_url: str, acknowledged: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Compare, charger by charger, what the server acknowledged with what it stored."""
    stored = {name: dict(query(database_url, sql)) for name, sql in COUNTS.items()}
    checks = {
        "meter_values": ("samples", "meter_values"),
        "transactions": ("starts", "transactions"),
        "stopped_transactions": ("stops", "stopped"),
        "status_notifications": ("statuses", "status_notifications"),
    }
    report: dict[str, Any] = {}
    for check, (sent_key, table) in checks.items():
        lost = extra = expected = 0
        for charger, sent in acknowledged.items():
            want, have = sent[sent_key], stored[table].get(charger, 0)
            expected += want
            lost += max(0, want - have)
            extra += max(0, have - want)
        report[check] = {"acknowledged": expected, "lost": lost, "extra": extra}
    every, distinct = (sum(stored[t].values()) for t in ("meter_values", "distinct_meter_values"))
    report["meter_values"]["duplicates"] = every - distinct
    return report


def integrity_ok(verification: dict[str, Any]) -> bool:
    return all(
        check["lost"] == 0 and check["extra"] == 0 and check.get("duplicates", 0) == 0
        for check in verification.values()
    )


# --- setting up ----------------------------------------------------------------------------
def create_api_key(database_url: str) -> str:
    done = subprocess.run(
        [*cli(database_url), "apikey", "create", "--name", "bench"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


async def register(http_url: str, key: str, ids: list[str], password: str | None) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=http_url, headers=headers, timeout=60) as api:
        tag = await api.post("/id-tags", json={"id_tag": ID_TAG})
        tag.raise_for_status()
        gate = asyncio.Semaphore(16)

        async def one(charge_point_id: str) -> None:
            body: dict[str, Any] = {"id": charge_point_id}
            body |= {"password": password} if password else {"security_profile": 0}
            async with gate:
                response = await api.post("/charge-points", json=body)
            response.raise_for_status()

        await asyncio.gather(*(one(charge_point_id) for charge_point_id in ids))


# --- running -------------------------------------------------------------------------------
def plan(options: argparse.Namespace, server: Server, name: str) -> dict[str, Any]:
    bare = name == "bare"
    closed = {"name": "closed loop", "rate": None, "duration": options.duration}
    if bare:
        phases = [closed]
    elif options.connect_only:
        idle_rate = options.rate if options.rate is not None else 0.1
        phases = [{"name": "idle", "rate": idle_rate, "duration": options.duration}]
    else:
        rate = options.rate if options.rate is not None else 1.0
        opened = {"name": "open loop", "rate": rate, "duration": options.duration}
        phases = ([opened] if rate > 0 else []) + ([closed] if options.closed_loop else [])
    return {
        "url": server.ocpp_url,
        "ids": charger_ids(options.chargers),
        "password": None if bare or not options.passwords else PASSWORD,
        "id_tag": ID_TAG,
        "connectors": options.connectors,
        "mix": {"heartbeat": 1} if options.connect_only else parse_mix(options.mix),
        "meter_values_per_session": options.meter_values_per_session,
        "prime_sessions": not options.connect_only,
        "phases": phases,
        "server_pid": server.pid,
        "connect_concurrency": options.connect_concurrency,
        "timeout": 30,
        "compression": options.compression,
        "profile": profile_path(options.profile, name),
    }


def charger_ids(count: int) -> list[str]:
    return [f"BENCH-{number:05d}" for number in range(1, count + 1)]


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind.strip() not in ("heartbeat", "status", "session"):
            raise SystemExit(f"--mix: unknown kind {kind!r} (heartbeat, status, session)")
        mix[kind.strip()] = float(weight)
    return mix


def drive(load: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, str(HERE / "ocpp_driver.py")],
        input=json.dumps(load).encode(),
        stdout=subprocess.PIPE,
        check=True,
    )
    return dict(json.loads(done.stdout))


def bench_ampnexus(backend: str, options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    say(f"{backend}: setting up {options.chargers} chargers")
    with fresh_database(backend, workdir) as database_url:
        key = create_api_key(database_url)
        with ampnexus_server(database_url, workdir) as server:
            password = PASSWORD if options.passwords else None
            began = time.perf_counter()
            asyncio.run(register(server.http_url, key, charger_ids(options.chargers), password))
            registration = time.perf_counter() - began
            say(f"{backend}: registered in {registration:.1f} s; running the load")
            result = drive(plan(options, server, backend))
        result["server_log"] = log_summary(server.log)
        result["registration_seconds"] = round(registration, 2)
        result["verification"] = verify(database_url, result.pop("acknowledged"))
    return result


def log_summary(log: Path) -> dict[str, Any]:
    """Warnings and errors the server logged under load point at what went wrong."""
    lines = log.read_text(errors="replace").splitlines()
    flagged = [line for line in lines if " WARNING " in line or " ERROR " in line]
    return {"warnings_and_errors": len(flagged), "last": flagged[-5:]}


def bench_bare(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    say("bare ocpp central system: running the closed-loop ceiling")
    with bare_server(workdir) as server:
        result = drive(plan(options, server, "bare"))
    result.pop("acknowledged")
    return result


def profile_path(path: str | None, name: str) -> str | None:
    if path is None:
        return None
    base = Path(path)
    return str(base.with_name(f"{base.stem}-{name}{base.suffix or '.svg'}"))


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy all cores are over `seconds`: other work on the machine skews every figure."""

    def ticks() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:]]
        return sum(values) - values[3] - values[4], sum(values)  # busy (not idle/iowait), all

    busy, total = ticks()
    time.sleep(seconds)
    busy_after, total_after = ticks()
    return round(100 * (busy_after - busy) / max(1, total_after - total), 1)


def run(options: argparse.Namespace) -> dict[str, Any]:
    raise_open_files_limit()
    busy = machine_busy_pct()
    if busy > 20:
        say(f"warning: the machine is already {busy}% busy; the figures will be low")
    backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ampnexus-bench-") as scratch:
        for backend in backends:
            runs[backend] = bench_ampnexus(backend, options, Path(scratch))
        if options.closed_loop and not options.connect_only:
            runs["bare"] = bench_bare(options, Path(scratch))
    config = config_of(options) | {"machine_busy_before_pct": busy}
    return {"config": config, "runs": runs, "ceiling_ratio": ratios(runs)}


def closed_rate(result: dict[str, Any]) -> float | None:
    closed = [p for p in result["phases"] if p["name"] == "closed loop"]
    return closed[0]["messages_per_s"] if closed else None


def ratios(runs: dict[str, Any]) -> dict[str, float]:
    """Each backend's closed-loop throughput over the bare ceiling's."""
    ceiling = closed_rate(runs["bare"]) if "bare" in runs else None
    ratios = {}
    for backend, result in runs.items():
        rate = closed_rate(result)
        if backend != "bare" and rate is not None and ceiling:
            ratios[backend] = round(rate / ceiling, 3)
    return ratios


def config_of(options: argparse.Namespace) -> dict[str, Any]:
    return {
        name: getattr(options, name)
        for name in (
            "chargers",
            "duration",
            "rate",
            "closed_loop",
            "connect_only",
            "passwords",
            "mix",
            "meter_values_per_session",
            "connectors",
            "compression",
        )
    } | {"cpus": os.cpu_count(), "mix": "heartbeat only" if options.connect_only else options.mix}


# --- printing ------------------------------------------------------------------------------
def report(outcome: dict[str, Any]) -> str:
    config, runs = outcome["config"], outcome["runs"]
    names = list(runs)
    lines = [
        f"OCPP load: {config['chargers']} chargers x {config['connectors']} connectors, "
        f"{config['duration']} s per phase, mix {config['mix']}, "
        f"{config['meter_values_per_session']} MeterValues per session, "
        f"{'passwords' if config['passwords'] else 'security profile 0'}, "
        f"{config['cpus']} CPUs ({config['machine_busy_before_pct']}% busy before the run)",
        "",
        row("", *names),
    ]

    def add(label: str, value: Any) -> None:
        lines.append(row(label, *(value(runs[name]) for name in names)))

    add("connected chargers", lambda r: f"{r['connected']}/{r['chargers']}")
    add("registration, s", lambda r: r.get("registration_seconds", "-"))
    add("connect + boot, s", lambda r: r["connect_seconds"])
    add("server RSS before connect, MiB", lambda r: mib(r["memory"]["rss_before_connect_kib"]))
    add("server peak RSS, MiB", lambda r: mib(r["memory"]["peak_rss_kib"]))
    add("RSS per charger (peak), KiB", lambda r: r["memory"]["rss_per_charger_kib"])
    add("RSS per charger (idle), KiB", lambda r: r["memory"]["idle_rss_per_charger_kib"])
    for phase_name in dict.fromkeys(p["name"] for r in runs.values() for p in r["phases"]):
        lines.append(f"-- {phase_name}")
        lines += phase_rows([phase_of(runs[name], phase_name) for name in names])
    if outcome["ceiling_ratio"]:
        lines.append(row("ratio to bare ceiling", *(ratio(outcome, n) for n in names)))
    add("failed connects", lambda r: sum(r["connect_errors"].values()))
    add(
        "server log warnings+errors",
        lambda r: r.get("server_log", {}).get("warnings_and_errors", "-"),
    )
    for check in ("meter_values", "transactions", "stopped_transactions", "status_notifications"):
        add(f"{check.replace('_', ' ')} lost/extra", lambda r, c=check: lost(r, c))
    lines += ["", *targets(outcome), *error_details(runs)]
    return "\n".join(lines)


Phase = dict[str, Any]
THROUGHPUT_ROWS: list[tuple[str, Callable[[Phase], Any]]] = [
    ("  offered messages/s", lambda p: p["offered_per_s"] or "max"),
    ("  answered messages/s", lambda p: p["messages_per_s"]),
    ("  persisted writes/s", lambda p: p["writes_per_s"]),
    ("  latency p50/p95/p99, ms", lambda p: latency(p)),
]
COST_ROWS: list[tuple[str, Callable[[Phase], Any]]] = [
    ("  server CPU s (% core)", lambda p: f"{p['server_cpu_s']} ({p['server_cpu_pct']}%)"),
    ("  load generator CPU %", lambda p: p["client_cpu_pct"]),
    ("  machine CPU busy %", lambda p: p["machine_busy_pct"]),
    ("  CALLERRORs", lambda p: sum(p["call_errors"].values())),
    ("  timeouts / disconnects", lambda p: f"{p['timeouts']}/{p['disconnects']}"),
]


def phase_of(result: dict[str, Any], name: str) -> Phase | None:
    return next((phase for phase in result["phases"] if phase["name"] == name), None)


def phase_rows(phases: list[Phase | None]) -> list[str]:
    """One phase's figures side by side, with the latency of each action under the total."""

    def line(label: str, value: Callable[[Phase], Any]) -> str:
        return row(label, *(value(phase) if phase else "-" for phase in phases))

    actions = dict.fromkeys(action for phase in phases if phase for action in phase["by_action"])
    per_action = [(f"    {action}", lambda p, a=action: by_action(p, a)) for action in actions]
    return [line(label, value) for label, value in THROUGHPUT_ROWS + per_action + COST_ROWS]


def row(label: str, *cells: Any) -> str:
    return f"{label:<32}" + "".join(f"{cell!s:>22}" for cell in cells)


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def latency(phase: dict[str, Any]) -> str:
    def short(ms: float | None) -> str:
        return "-" if ms is None else f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}"

    ms = phase["latency_ms"]
    return "/".join(short(ms[p]) for p in ("p50", "p95", "p99"))


def by_action(phase: dict[str, Any], action: str) -> str:
    found = phase["by_action"].get(action)
    return latency(found) if found else "-"


def ratio(outcome: dict[str, Any], name: str) -> str:
    value = outcome["ceiling_ratio"].get(name)
    return f"{value:.0%}" if value is not None else "-"


def lost(result: dict[str, Any], check: str) -> str:
    if "verification" not in result:
        return "-"
    found = result["verification"][check]
    extra = found["extra"] + found.get("duplicates", 0)
    return f"{found['lost']}/{extra} of {found['acknowledged']}"


def targets(outcome: dict[str, Any]) -> list[str]:
    """The issue's targets, judged on what this run measured."""
    lines = ["targets:"]
    for name, result in outcome["runs"].items():
        if name == "bare":
            continue
        if result["connected"] >= 5000:
            per = result["memory"]["rss_per_charger_kib"]
            verdict = "met" if per < TARGETS["kib_per_charger"] else "NOT met"
            lines.append(f"  {name}: {result['connected']} chargers at {per} KiB each: {verdict}")
        for phase in result["phases"]:
            if phase["name"] != "open loop" or phase["offered_per_s"] < TARGETS["messages_per_s"]:
                continue  # only a load at the target rate can meet it
            rate, p99 = phase["messages_per_s"], phase["latency_ms"]["p99"]
            ok = rate >= TARGETS["messages_per_s"] and p99 is not None and p99 < TARGETS["p99_ms"]
            verdict = "met" if ok else "NOT met"
            lines.append(f"  {name}: {rate} messages/s at p99 {p99} ms: {verdict}")
        value = outcome["ceiling_ratio"].get(name)
        if value is not None:
            verdict = "met" if value >= TARGETS["ceiling_ratio"] else "NOT met"
            lines.append(f"  {name}: {value:.0%} of the bare ceiling: {verdict}")
    return lines if len(lines) > 1 else []


def error_details(runs: dict[str, Any]) -> list[str]:
    lines = []
    for name, result in runs.items():
        if result["connect_errors"]:
            lines.append(f"{name} connect errors: {result['connect_errors']}")
        for phase in result["phases"]:
            if phase["call_errors"]:
                lines.append(f"{name} {phase['name']} CALLERRORs: {phase['call_errors']}")
        lines += [
            f"{name} server log: {line}" for line in result.get("server_log", {}).get("last", [])
        ]
    return lines


# --- command line --------------------------------------------------------------------------
def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="OCPP load benchmark for AmpNexus (see the module docstring)"
    )
    parser.add_argument("--chargers", type=int, default=500, help="K chargers (default 500)")
    parser.add_argument("--duration", type=float, default=30, help="seconds per phase")
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: messages/s per charger (default 1; 0 skips the open-loop phase; "
        "with --connect-only the heartbeat rate, default 0.1)",
    )
    parser.add_argument(
        "--closed-loop",
        action="store_true",
        help="also run closed loop (next message as soon as answered) and the bare ceiling",
    )
    parser.add_argument(
        "--backend", choices=["sqlite", "postgresql", "both"], default="both", help="database"
    )
    parser.add_argument(
        "--connect-only",
        action="store_true",
        help="connect K chargers that only send heartbeats: memory per connected charger",
    )
    parser.add_argument(
        "--passwords", action="store_true", help="security profile 1 (HTTP Basic) chargers"
    )
    parser.add_argument(
        "--mix",
        default="heartbeat=10,status=10,session=80",
        help="weights of heartbeat, status (StatusNotification changes) and session steps "
        "(Authorize, StartTransaction, MeterValues, StopTransaction)",
    )
    parser.add_argument("--meter-values-per-session", type=int, default=10)
    parser.add_argument("--connectors", type=int, default=2, help="connectors per charger")
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument(
        "--compression", action="store_true", help="chargers offer permessage-deflate"
    )
    parser.add_argument("--profile", metavar="FILE", help="py-spy the server into FILE")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    if options.backend != "sqlite" and (problem := postgres_problem()) is not None:
        print(
            f"bench/ocpp_load.py: no PostgreSQL to benchmark on at {POSTGRES_URL} ({problem}); "
            "set AMPNEXUS_BENCH_POSTGRES_URL to a server (a superuser: each run creates and "
            "drops its own database) or pass --backend sqlite",
            file=sys.stderr,
        )
        return 2
    outcome = run(options)
    print(json.dumps(outcome, indent=2) if options.json else report(outcome))
    checked = [r["verification"] for r in outcome["runs"].values() if "verification" in r]
    return 0 if all(integrity_ok(v) for v in checked) else 1


if __name__ == "__main__":
    raise SystemExit(main())
