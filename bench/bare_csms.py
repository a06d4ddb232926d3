"""The ceiling for bench/ocpp_load.py: a bare OCPP 1.6J central system that answers every
Core message a charger sends and persists nothing.

It is what a CSMS written the textbook way looks like: the `ocpp` package's stock
`ocpp.v16.ChargePoint` with `@on` handlers (schema validation and all) on a `websockets`
server. AmpNexus's throughput divided by this one's says what persistence, admission and
the rest of AmpNexus cost against the protocol work alone.

    python bench/bare_csms.py --port 9100      # prints "ready" once listening
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import resource
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

ACCEPTED = {"status": AuthorizationStatus.accepted}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BareCentralSystem(ChargePoint):
    """Answers like a CSMS would, remembering nothing."""

    transaction_ids = itertools.count(1)

    @on("BootNotification")
    def on_boot(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=now(), interval=300, status=RegistrationStatus.accepted
        )

    @on("Heartbeat")
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=now())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=ACCEPTED)

    @on("StartTransaction")
    def on_start(self, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=next(self.transaction_ids), id_tag_info=ACCEPTED
        )

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on("StopTransaction")
    def on_stop(self, **_: Any) -> call_result.StopTransaction:
        return call_result.StopTransaction(id_tag_info=ACCEPTED)


async def serve_charger(websocket: ServerConnection) -> None:
    assert websocket.request is not None
    charge_point_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    with contextlib.suppress(ConnectionClosed):
        await BareCentralSystem(charge_point_id, websocket).start()


async def main(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        serve_charger,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        ping_interval=60,
        ping_timeout=60,
    ):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--port", type=int, default=9100)
    port = arguments.parse_args().port
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a descriptor per charger
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(port))
