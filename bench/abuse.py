"""Abuse benchmark: do an honest charger and the HTTP API stay quick while a rogue charger
and strangers misbehave?

    .venv/bin/python bench/abuse.py                     # SQLite, 10 s per phase
    .venv/bin/python bench/abuse.py --phases none,all --duration 20 --backend postgresql
    .venv/bin/python bench/abuse.py --no-limits         # the same with the OCPP limits off

It starts its own server (`ampnexus serve` in a child process, as bench/ocpp_load.py does),
registers three chargers and runs one phase per attacker kind, plus one without attackers
and one with all of them at once:

- flood: the charger ROGUE sends garbage frames as fast as its socket takes them (and
  reads the answers);
- guess: 50 parallel guessers try wrong passwords for TARGET, each attempt from a fresh
  loopback address (127.1.x.y) so that no per-address throttle ever trips: only the
  bounded password-check queue stands between them and the CPU;
- guess1: the same 50 guessers, all from one address (the throttle's case);
- uploads: four clients each stream a 50 MB JSON body, without an API key, to
  `POST /api/v1/charge-points`, again and again.

The attackers run in a child process of their own (this script with --attack), so that
they do not share this process's event loop. Meanwhile this process measures:

- heartbeat: HONEST's Heartbeat round trip on its open connection, every 50 ms;
- health: `GET /api/v1/health`, every 50 ms;
- reconnect: TARGET (the guessed id) connecting with the right password from 127.0.0.1,
  every 0.5 s: an admission, with its database read and password (cached) check.

Targets (every phase): heartbeat p99 < 100 ms and health p99 < 500 ms; the exit status is
1 when one is missed. Other work on the machine's cores shows in every figure: the header
prints how busy the machine was before the run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
from ocpp_driver import memory_kib, percentiles
from ocpp_load import (
    PASSWORD,
    ampnexus_server,
    create_api_key,
    fresh_database,
    machine_busy_pct,
    postgres_problem,
    raise_open_files_limit,
    say,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

PYTHON = sys.executable
HONEST, TARGET, ROGUE = "HONEST", "TARGET", "ROGUE"
PHASES = {
    "none": [],
    "flood": ["flood"],
    "guess": ["guess"],
    "guess1": ["guess1"],
    "uploads": ["uploads"],
    "all": ["flood", "guess", "uploads"],
}
TARGETS_MS = {"heartbeat": 100, "health": 500}
GUESSERS, UPLOADERS, UPLOAD_BYTES = 50, 4, 50 * 1024 * 1024
RAMP_UP = 1.5  # seconds the attackers run before measuring starts
# What --no-limits sets: the OCPP limits as good as off (the scrypt thread stays).
NO_LIMITS = {
    "AMPNEXUS_OCPP_MESSAGE_RATE": "1e9",
    "AMPNEXUS_OCPP_MESSAGE_BURST": "1000000000",
    "AMPNEXUS_OCPP_FAILED_UPGRADES_PER_CHARGER": "1000000000",
    "AMPNEXUS_OCPP_FAILED_UPGRADES_PER_ADDRESS": "1000000000",
}


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def open_charger(url: str, charge_point_id: str, password: str, source: str = "127.0.0.1") -> Any:
    return connect(
        f"{url}/{charge_point_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=basic_auth(charge_point_id, password),
        local_addr=(source, 0),
        open_timeout=30,
        close_timeout=1,
    )


# --- attackers (the child process) --------------------------------------------------------------
async def flood(url: str, until: float) -> dict[str, Any]:
    """Garbage frames as fast as the socket takes them; answers read meanwhile."""
    sent = answered = connections = 0

    async def read(ws: ClientConnection) -> None:
        nonlocal answered
        async for _ in ws:
            answered += 1

    deadline = asyncio.get_running_loop().time() + until - time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(deadline):  # a send blocks once TCP pushes back
            while True:
                with contextlib.suppress(ConnectionClosed, InvalidHandshake, OSError):
                    async with open_charger(url, ROGUE, PASSWORD) as ws:
                        connections += 1
                        reader = asyncio.create_task(read(ws))
                        try:
                            while True:
                                await ws.send("this is not an OCPP frame")
                                sent += 1
                                if sent % 100 == 0:
                                    await asyncio.sleep(0)  # let the reader run
                        finally:
                            reader.cancel()
                            ws.transport.abort()  # no closing handshake behind a backlog
    return {"frames sent": sent, "answered": answered, "connections": connections}


async def guess(url: str, until: float, sources: Iterator[str]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for attempt in itertools.count():
        if time.monotonic() >= until:
            break
        try:
            async with open_charger(url, TARGET, f"wrong-guess-{attempt:012d}", next(sources)):
                outcomes["admitted"] += 1
        except InvalidStatus as refused:
            outcomes[str(refused.response.status_code)] += 1
        except (InvalidHandshake, OSError, TimeoutError) as error:
            outcomes[type(error).__name__] += 1
    return outcomes


def rotating_sources() -> Iterator[str]:
    for number in itertools.cycle(range(1, 65535)):
        yield f"127.1.{number // 256}.{number % 256}"


async def upload(http_url: str, until: float) -> Counter[str]:
    outcomes: Counter[str] = Counter()

    async def body() -> AsyncIterator[bytes]:
        chunk = b"a" * 65536
        yield b'{"id": "'
        for _ in range(UPLOAD_BYTES // len(chunk)):
            yield chunk
        yield b'"}'

    async with httpx.AsyncClient(timeout=60) as client:
        while time.monotonic() < until:
            try:
                response = await client.post(
                    f"{http_url}/charge-points",
                    content=body(),
                    headers={"Content-Type": "application/json"},
                )
                outcomes[str(response.status_code)] += 1
            except httpx.HTTPError as error:
                outcomes[type(error).__name__] += 1
    return outcomes


async def attack(kinds: list[str], ocpp_url: str, http_url: str, seconds: float) -> dict[str, Any]:
    until = time.monotonic() + seconds
    jobs: dict[str, Any] = {}
    if "flood" in kinds:
        jobs["flood"] = flood(ocpp_url, until)
    for kind, sources in (("guess", rotating_sources()), ("guess1", itertools.repeat("127.0.0.9"))):
        if kind in kinds:
            jobs[kind] = _merged([guess(ocpp_url, until, sources) for _ in range(GUESSERS)])
    if "uploads" in kinds:
        jobs["uploads"] = _merged([upload(http_url, until) for _ in range(UPLOADERS)])
    results = await asyncio.gather(*jobs.values())
    return dict(zip(jobs, results, strict=True))


async def _merged(tasks: list[Any]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for outcome in await asyncio.gather(*tasks):
        total.update(outcome)
    return dict(total)


# --- measuring (this process) -------------------------------------------------------------------
async def heartbeats(ws: ClientConnection, until: float) -> dict[str, Any]:
    times, timeouts = [], 0
    for number in itertools.count():
        if time.monotonic() >= until:
            break
        began = time.perf_counter()
        await ws.send(json.dumps([2, f"hb-{number}", "Heartbeat", {}]))
        try:
            while json.loads(await asyncio.wait_for(ws.recv(), 10))[1] != f"hb-{number}":
                pass
            times.append(time.perf_counter() - began)
        except TimeoutError:
            timeouts += 1
        await asyncio.sleep(0.05)
    return {**percentiles(sorted(times)), "count": len(times), "timeouts": timeouts}


async def health(http_url: str, until: float) -> dict[str, Any]:
    times: list[float] = []
    failures: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < until:
            began = time.perf_counter()
            try:
                response = await client.get(f"{http_url}/health")
                if response.status_code == 200:
                    times.append(time.perf_counter() - began)
                else:
                    failures[str(response.status_code)] += 1
            except httpx.HTTPError as error:
                failures[type(error).__name__] += 1
            await asyncio.sleep(0.05)
    return {**percentiles(sorted(times)), "count": len(times), "failures": dict(failures)}


async def reconnects(ocpp_url: str, until: float) -> dict[str, Any]:
    times: list[float] = []
    failures: Counter[str] = Counter()
    while time.monotonic() < until:
        began = time.perf_counter()
        try:
            async with open_charger(ocpp_url, TARGET, PASSWORD) as ws:
                times.append(time.perf_counter() - began)
                await ws.close()
        except InvalidStatus as refused:
            failures[str(refused.response.status_code)] += 1
        except (InvalidHandshake, OSError, TimeoutError) as error:
            failures[type(error).__name__] += 1
        await asyncio.sleep(0.5)
    return {**percentiles(sorted(times)), "count": len(times), "failures": dict(failures)}


async def measure(ocpp_url: str, http_url: str, seconds: float) -> dict[str, Any]:
    async with open_charger(ocpp_url, HONEST, PASSWORD) as ws:
        until = time.monotonic() + seconds
        beats, api, admissions = await asyncio.gather(
            heartbeats(ws, until), health(http_url, until), reconnects(ocpp_url, until)
        )
    return {"heartbeat": beats, "health": api, "reconnect": admissions}


def attackers_of(phase: str) -> list[str]:
    """A phase's attacker kinds: a named phase, or kinds joined by '+' (flood+guess)."""
    return PHASES[phase] if phase in PHASES else phase.split("+")


def run_phase(name: str, server: Any, options: argparse.Namespace) -> dict[str, Any]:
    kinds = attackers_of(name)
    log_lines = count_lines(server.log)
    attacker = None
    if kinds:
        command = [PYTHON, __file__, "--attack", ",".join(kinds), "--ocpp-url", server.ocpp_url]
        command += ["--http-url", server.http_url, "--duration", str(RAMP_UP + options.duration)]
        attacker = subprocess.Popen(command, stdout=subprocess.PIPE)
        time.sleep(RAMP_UP)
    say(f"phase {name}: measuring for {options.duration:g} s")
    result = asyncio.run(measure(server.ocpp_url, server.http_url, options.duration))
    if attacker is not None:
        output, _ = attacker.communicate(timeout=120)
        result["attackers"] = json.loads(output) if output else {"error": attacker.returncode}
    lines = server.log.read_text(errors="replace").splitlines()
    result["server_log_lines"] = len(lines) - log_lines
    result["server_log_last"] = lines[log_lines:][-3:]
    result["server_rss_mib"] = round(memory_kib(server.pid)["rss_kib"] / 1024, 1)
    return result


def count_lines(path: Path) -> int:
    with path.open("rb") as log:
        return sum(1 for _ in log)


async def register(http_url: str, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=http_url, headers=headers, timeout=60) as api:
        for charge_point_id in (HONEST, TARGET, ROGUE):
            response = await api.post(
                "/charge-points", json={"id": charge_point_id, "password": PASSWORD}
            )
            response.raise_for_status()


def run(options: argparse.Namespace) -> dict[str, Any]:
    raise_open_files_limit()
    busy = machine_busy_pct()
    if options.no_limits:
        os.environ.update(NO_LIMITS)  # the server inherits it
    with tempfile.TemporaryDirectory(prefix="ampnexus-abuse-") as scratch:
        workdir = Path(scratch)
        with fresh_database(options.backend, workdir) as database_url:
            key = create_api_key(database_url)
            with ampnexus_server(database_url, workdir) as server:
                asyncio.run(register(server.http_url, key))
                phases = {name: run_phase(name, server, options) for name in options.phases}
    return {
        "config": {
            "backend": options.backend,
            "duration": options.duration,
            "limits": "off" if options.no_limits else "defaults",
            "cpus": os.cpu_count(),
            "machine_busy_before_pct": busy,
        },
        "phases": phases,
    }


# --- printing -----------------------------------------------------------------------------------
def report(outcome: dict[str, Any]) -> str:
    config = outcome["config"]
    lines = [
        f"Abuse: {config['backend']}, {config['duration']:g} s per phase, OCPP limits "
        f"{config['limits']}, {config['cpus']} CPUs ({config['machine_busy_before_pct']}% busy "
        "before the run)",
        "",
        f"{'phase':<12}{'heartbeat p50/p99 ms':>22}{'health p50/p99 ms':>20}"
        f"{'reconnect p50/p99 ms':>22}{'log lines':>11}{'RSS MiB':>9}",
    ]
    for name, phase in outcome["phases"].items():
        lines.append(
            f"{name:<12}{pair(phase['heartbeat']):>22}{pair(phase['health']):>20}"
            f"{pair(phase['reconnect']):>22}{phase['server_log_lines']:>11}"
            f"{phase['server_rss_mib']:>9}"
        )
        problems = {
            what: {k: v for k, v in phase[what].items() if k in ("timeouts", "failures") and v}
            for what in ("heartbeat", "health", "reconnect")
        }
        for what, found in problems.items():
            if found:
                lines.append(f"{'':<12}  {what}: {found}")
        for kind, figures in phase.get("attackers", {}).items():
            lines.append(f"{'':<12}  {kind}: {figures}")
        lines += [f"{'':<12}  log: {line[:150]}" for line in phase["server_log_last"]]
    lines += ["", *targets(outcome)]
    return "\n".join(lines)


def pair(figures: dict[str, Any]) -> str:
    def short(ms: float | None) -> str:
        return "-" if ms is None else f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}"

    return f"{short(figures['p50'])}/{short(figures['p99'])}"


def misses(outcome: dict[str, Any]) -> list[str]:
    found = []
    for name, phase in outcome["phases"].items():
        for what, limit in TARGETS_MS.items():
            p99 = phase[what]["p99"]
            if p99 is None or p99 >= limit or phase[what].get("timeouts"):
                found.append(f"{name}: {what} p99 {p99} ms (target < {limit} ms)")
    return found


def targets(outcome: dict[str, Any]) -> list[str]:
    goal = ", ".join(f"{what} p99 < {limit} ms" for what, limit in TARGETS_MS.items())
    missed = misses(outcome)
    return [f"targets ({goal}, every phase): " + ("met" if not missed else "NOT met")] + [
        f"  {line}" for line in missed
    ]


# --- command line -------------------------------------------------------------------------------
def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="abuse benchmark (see the module docstring)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per phase")
    parser.add_argument(
        "--phases",
        type=lambda text: text.split(","),
        default=list(PHASES),
        help=f"comma-separated, of {', '.join(PHASES)} or kinds joined by '+' such as "
        "flood+guess (default: the named ones, in that order)",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--no-limits", action="store_true", help="OCPP limits as good as off")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    # the attacker child process
    parser.add_argument("--attack", help=argparse.SUPPRESS)
    parser.add_argument("--ocpp-url", help=argparse.SUPPRESS)
    parser.add_argument("--http-url", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    kinds = {kind for phase in options.phases for kind in attackers_of(phase)}
    if unknown := kinds - {kind for phase in PHASES.values() for kind in phase}:
        parser.error(f"unknown attackers {sorted(unknown)}; phases are {', '.join(PHASES)}")
    return options


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    if options.attack:
        kinds = options.attack.split(",")
        outcome = asyncio.run(attack(kinds, options.ocpp_url, options.http_url, options.duration))
        print(json.dumps(outcome))
        return 0
    if options.backend == "postgresql" and (problem := postgres_problem()) is not None:
        print(f"bench/abuse.py: no PostgreSQL to benchmark on ({problem})", file=sys.stderr)
        return 2
    outcome = run(options)
    print(json.dumps(outcome, indent=2) if options.json else report(outcome))
    return 1 if misses(outcome) else 0


if __name__ == "__main__":
    raise SystemExit(main())
