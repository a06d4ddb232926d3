"""Webhook benchmark: does delivering events cost the chargers anything, and how fast do
events reach a receiver?

    .venv/bin/python bench/webhooks.py                      # SQLite, 100 chargers, 20 s
    .venv/bin/python bench/webhooks.py --chargers 300 --duration 30 --backend postgresql

Three phases, each on a fresh database and its own `ampnexus serve` (a child process, with
`AMPNEXUS_SESSION_UPDATE_INTERVAL=1`, so every session makes an event a second):

- none: no webhook;
- fast: a webhook for every event (`*`) to a receiver on localhost that answers at once;
- slow: the same to a receiver that takes 10 s to answer each delivery (the timeout).

Each charger boots, starts a session and then sends MeterValues and StatusNotification in
a closed loop (the next as soon as the last is answered). The figures: OCPP messages
answered per second and their round trip (p50/p99); for the fast receiver, events
received per second and the lag from an event to its arrival (p50/p99); for the slow one,
how many deliveries were still waiting when the phase ended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from ocpp_driver import percentiles
from ocpp_load import ampnexus_server, create_api_key, fresh_database, machine_busy_pct
from websockets.asyncio.client import connect


class Receiver:
    """A webhook receiver on localhost: counts events and their lag."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.lags: list[float] = []
        self.port = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                created = datetime.fromisoformat(json.loads(body)["created_at"])
                self.lags.append((datetime.now(UTC) - created).total_seconds())
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            writer.close()  # the sender hung up, or the phase ended


async def charger(url: str, cp_id: str, until: float, times: list[float]) -> None:
    async with connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        counter = 0

        async def call(action: str, payload: dict[str, Any]) -> Any:
            nonlocal counter
            counter += 1
            started = time.perf_counter()
            await ws.send(json.dumps([2, str(counter), action, payload]))
            while True:
                frame = json.loads(await ws.recv())
                if frame[0] == 2:  # the server asks (local list, keys): not this charger's
                    error = [4, frame[1], "NotImplemented", "bench charger", {}]
                    await ws.send(json.dumps(error))
                elif frame[1] == str(counter):
                    break
            times.append(time.perf_counter() - started)
            return frame[2]

        def now() -> str:
            return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

        await call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "W"})
        started = await call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": now()},
        )
        tx, energy = started["transactionId"], 0
        while time.monotonic() < until:
            energy += 10
            sampled = [
                {"value": str(energy), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
            ]
            await call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [{"timestamp": now(), "sampledValue": sampled}],
                },
            )
            await call(
                "StatusNotification",
                {"connectorId": 1, "status": "Charging", "errorCode": "NoError"},
            )


async def phase(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    receiver = Receiver(delay_s=10.0 if name == "slow" else 0.0)
    listening = await receiver.start()
    os.environ["AMPNEXUS_SESSION_UPDATE_INTERVAL"] = "1"
    with fresh_database(args.backend, workdir) as url:
        key = await asyncio.to_thread(create_api_key, url)
        with ampnexus_server(url, workdir) as server:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as api:
                ids = [f"W-{n}" for n in range(args.chargers)]
                for cp_id in ids:
                    body = {"id": cp_id, "security_profile": 0}
                    (await api.post("/charge-points", json=body)).raise_for_status()
                (await api.post("/id-tags", json={"id_tag": "BENCH"})).raise_for_status()
                hook = None
                if name != "none":
                    body = {"url": f"http://127.0.0.1:{receiver.port}/", "events": ["*"]}
                    hook = (await api.post("/webhooks", json=body)).json()
                times: list[float] = []
                started = time.monotonic()
                until = started + args.duration
                await asyncio.gather(*(charger(server.ocpp_url, i, until, times) for i in ids))
                elapsed = time.monotonic() - started
                waiting = None
                if hook is not None:
                    log = await api.get(
                        f"/webhooks/{hook['id']}/deliveries", params={"status": "pending"}
                    )
                    waiting = log.json()["total"]
    listening.close()
    lags = sorted(receiver.lags)
    return {
        "phase": name,
        "answered_per_s": round(len(times) / elapsed),
        "round_trip_ms": percentiles(sorted(times)),
        "events_received_per_s": round(len(lags) / elapsed, 1),
        "event_lag_ms": percentiles(lags),
        "deliveries_waiting_at_end": waiting,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--phases", default="none,fast,slow")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    busy = machine_busy_pct()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.phases.split(","):
            workdir = Path(tmp) / name
            workdir.mkdir()
            results.append(await phase(name, args, workdir))
    if args.json:
        print(json.dumps({"machine_busy_pct": busy, "phases": results}))
        return
    print(f"machine busy before the run: {busy}%")
    print(f"{args.chargers} chargers, {args.duration:g} s per phase, {args.backend}")
    print(
        f"{'phase':6} {'OCPP/s':>7} {'rtt p50/p99 ms':>16} {'events/s':>9} "
        f"{'lag p50/p99 ms':>16} {'waiting':>8}"
    )
    for r in results:
        rtt, lag = r["round_trip_ms"], r["event_lag_ms"]
        print(
            f"{r['phase']:6} {r['answered_per_s']:>7} {rtt['p50']:>7}/{rtt['p99']:<8} "
            f"{r['events_received_per_s']:>9} {lag['p50']!s:>7}/{lag['p99']!s:<8} "
            f"{r['deliveries_waiting_at_end']!s:>8}"
        )


if __name__ == "__main__":
    asyncio.run(main())
