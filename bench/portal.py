"""Portal benchmark: what the pages cost the server at a depot's size, and how a CSV export
of every session behaves.

    .venv/bin/python bench/portal.py               # 200 chargers, 20,000 sessions, SQLite
    .venv/bin/python bench/portal.py --chargers 500 --sessions 100000 --backend postgresql

A real `ampnexus serve` (child process) on a fresh database; one site with a tariff and
every charger on it. The chargers connect over real WebSockets (raw OCPP-J frames), boot,
and run their share of the sessions one after the other (StartTransaction, a MeterValues
with the energy register, StopTransaction), their timestamps spread over the last 100
days so that today holds about 1 % of them, as at a busy depot. They stay connected.

Then a signed-in browser's requests, one at a time (`--repeats` each): the dashboard (the
page and the fragment the live channel reloads, at most every 2 s per open page), the
chargers list, the first page of sessions, the site's page with its plan, and one CSV
export of every session (time, rows, size, and the server's resident memory before and
after: the export is streamed page by page, so it should not grow).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from ocpp_driver import memory_kib, percentiles
from ocpp_load import ampnexus_server, cli, create_api_key, fresh_database, machine_busy_pct
from websockets.asyncio.client import connect

EMAIL, PASSWORD = "bench@example.com", "a long benchmark password"
TAG = "BENCH-TAG"
SPREAD = timedelta(days=100)  # the sessions' starts, back from now
SESSION = timedelta(minutes=50)
SESSION_WH = 7_000


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


KEYS = {  # what the smart-charging service asks a charger for
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "24",
    "ChargeProfileMaxStackLevel": "8",
    "MaxChargingProfilesInstalled": "8",
    "NumberOfConnectors": "1",
}


def answer(action: str) -> dict[str, Any]:
    """A charger's answer to what the server asks: its keys, else Accepted."""
    if action == "GetConfiguration":
        keys = [{"key": k, "readonly": True, "value": v} for k, v in KEYS.items()]
        return {"configurationKey": keys, "unknownKey": []}
    return {"status": "Accepted"}


async def seed(ocpp_url: str, cp_id: str, starts: list[datetime]) -> None:
    """One charger: boot, then its sessions one after the other; it stays connected,
    answering what the server asks (smart charging reads keys and sends profiles)."""
    async with connect(f"{ocpp_url}/{cp_id}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

        async def read() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                if frame[0] == 2:
                    await ws.send(json.dumps([3, frame[1], answer(frame[2])]))
                elif frame[1] in waiting:
                    assert frame[0] == 3, frame
                    waiting.pop(frame[1]).set_result(frame[2])

        reader = asyncio.create_task(read())
        number = 0

        async def call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            nonlocal number
            number += 1
            reply = waiting[str(number)] = asyncio.get_running_loop().create_future()
            await ws.send(json.dumps([2, str(number), action, payload]))
            return await reply

        await call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "P"})
        register = 0
        for start in starts:
            started = await call(
                "StartTransaction",
                {"connectorId": 1, "idTag": TAG, "meterStart": register, "timestamp": iso(start)},
            )
            tx = started["transactionId"]
            half = register + SESSION_WH // 2
            sample = {"value": str(half), "measurand": "Energy.Active.Import.Register"}
            reading = {"timestamp": iso(start + SESSION / 2), "sampledValue": [sample]}
            await call(
                "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [reading]}
            )
            register += SESSION_WH
            await call(
                "StopTransaction",
                {"transactionId": tx, "meterStop": register, "timestamp": iso(start + SESSION)},
            )
        available = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
        await call("StatusNotification", available)
        await reader  # stays connected until cancelled


async def set_up(http_url: str, key: str, ids: list[str]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=http_url, headers=headers, timeout=60) as api:
        site = {"id": "depot", "name": "Depot", "time_zone": "Europe/London", "grid_limit_kw": 400}
        (await api.post("/sites", json=site)).raise_for_status()
        tariff = {"name": "flat", "kind": "fixed", "import_price": 0.25}
        (await api.post("/sites/depot/tariffs", json=tariff)).raise_for_status()
        (await api.post("/id-tags", json={"id_tag": TAG})).raise_for_status()
        for cp_id in ids:
            body = {"id": cp_id, "security_profile": 0}
            (await api.post("/charge-points", json=body)).raise_for_status()
            placed = await api.put(f"/charge-points/{cp_id}", json={"site_id": "depot"})
            placed.raise_for_status()


async def sign_in(portal: httpx.AsyncClient) -> None:
    form = await portal.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    fields = {"email": EMAIL, "password": PASSWORD, "csrf": token[1], "next": "/"}
    answer = await portal.post("/login", data=fields)
    assert answer.status_code == 303, answer.text


async def timed(portal: httpx.AsyncClient, path: str, repeats: int) -> dict[str, Any]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        answer = await portal.get(path)
        times.append(time.perf_counter() - began)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    shown = percentiles(sorted(times))
    return {"p50_ms": shown["p50"], "p95_ms": shown["p95"]}  # percentiles gives ms


async def export(portal: httpx.AsyncClient, pid: int) -> dict[str, Any]:
    before = memory_kib(pid)
    began = time.perf_counter()
    rows, size = 0, 0
    async with portal.stream("GET", "/sessions.csv") as answer:
        assert answer.status_code == 200
        async for chunk in answer.aiter_bytes():
            rows += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - began
    after = memory_kib(pid)
    return {
        "seconds": round(seconds, 2),
        "sessions": rows - 1,
        "mb": round(size / 1e6, 1),
        "rss_mib_before": round(before["rss_kib"] / 1024),
        "rss_mib_after": round(after["rss_kib"] / 1024),
        "peak_rss_mib": round(after["peak_rss_kib"] / 1024),
    }


async def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with (
        fresh_database(args.backend, workdir) as database_url,
        ampnexus_server(database_url, workdir) as server,
    ):
        key = create_api_key(database_url)
        subprocess.run(  # noqa: ASYNC221 (before anything runs on this loop)
            [
                *cli(database_url),
                "user",
                "create",
                "--email",
                EMAIL,
                "--password",
                PASSWORD,
                "--role",
                "admin",
            ],
            check=True,
            capture_output=True,
        )
        ids = [f"PB-{n:04d}" for n in range(args.chargers)]
        await set_up(server.http_url, key, ids)
        now = datetime.now(UTC)
        per = max(1, args.sessions // args.chargers)
        step = SPREAD / per
        began = time.perf_counter()
        seeding = [
            asyncio.create_task(
                seed(server.ocpp_url, cp_id, [now - SPREAD + i * step for i in range(per)])
            )
            for cp_id in ids
        ]
        base = server.http_url.removesuffix("/api/v1")
        async with httpx.AsyncClient(base_url=base, timeout=600) as portal:
            await sign_in(portal)
            while True:  # seeded once the last sessions are stored
                await asyncio.sleep(1)
                failed = [t for t in seeding if t.done()]
                for task in failed:
                    task.result()  # raises what went wrong
                listed = await portal.get("/sessions")
                total = re.search(r"(\d[\d,]*) sessions?\b", listed.text)
                if total and int(total[1].replace(",", "")) >= per * len(ids):
                    break
            seeded_s = time.perf_counter() - began
            result: dict[str, Any] = {
                "chargers": len(ids),
                "sessions": per * len(ids),
                "seeded_s": round(seeded_s, 1),
                "machine_busy_pct": machine_busy_pct(),
            }
            for name, path in (
                ("dashboard", "/"),
                ("dashboard_fragment", "/fragments/dashboard"),
                ("charge_points", "/charge-points"),
                ("sessions_list", "/sessions"),
                ("site", "/sites/depot"),
            ):
                result[name] = await timed(portal, path, args.repeats)
            result["csv_export"] = await export(portal, server.pid)
        for task in seeding:
            task.cancel()
        await asyncio.gather(*seeding, return_exceptions=True)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ampnexus-portal-bench-") as tmp:
        result = asyncio.run(bench(args, Path(tmp)))
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['chargers']} chargers, {result['sessions']} sessions ({args.backend}), "
        f"seeded over OCPP in {result['seeded_s']} s; machine {result['machine_busy_pct']} % busy"
    )
    for name in ("dashboard", "dashboard_fragment", "charge_points", "sessions_list", "site"):
        figures = result[name]
        print(f"  GET {name:<20} p50 {figures['p50_ms']:>7} ms   p95 {figures['p95_ms']:>7} ms")
    csv = result["csv_export"]
    print(
        f"  CSV export: {csv['sessions']} sessions, {csv['mb']} MB in {csv['seconds']} s; "
        f"server memory {csv['rss_mib_before']} -> {csv['rss_mib_after']} MiB "
        f"(peak {csv['peak_rss_mib']} MiB)"
    )


if __name__ == "__main__":
    main()
