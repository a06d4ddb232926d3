"""A real OpenADR 2.0b VTN (openleadr's `OpenADRServer`) on localhost, for tests that need a
utility to send AmpNexus events: it registers every VEN as `VEN_ID`, records each answer
(optIn/optOut) per event, and takes whatever telemetry the VEN offers."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from openleadr import OpenADRServer, objects

VEN_ID = "ven-ampnexus"


@dataclass
class Vtn:
    server: OpenADRServer
    url: str
    registrations: list[dict[str, Any]] = field(default_factory=list)
    opts: dict[str, str] = field(default_factory=dict)  # event id -> the VEN's last answer

    def add(
        self, signal_name: str, signal_type: str, value: float, start: datetime, length: timedelta
    ) -> str:
        """One event of one interval [start, start + length) for every site of the VEN."""
        interval = objects.Interval(dtstart=start, duration=length, signal_payload=value)
        return str(
            self.server.add_event(
                VEN_ID, signal_name, signal_type, [interval], callback=self._opted
            )
        )

    def _opted(self, ven_id: str, event_id: str, opt_type: str) -> None:
        self.opts[event_id] = opt_type


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving_vtn() -> AsyncIterator[Vtn]:
    """The VTN until the block ends. It asks for a poll every 30 s; the program's own
    interval (1 s in tests) rules."""
    port = free_port()
    server = OpenADRServer(
        vtn_id="TEST-VTN",
        http_port=port,
        http_host="127.0.0.1",
        requested_poll_freq=timedelta(seconds=30),
    )
    found = Vtn(server, f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b")

    async def register(info: dict[str, Any]) -> tuple[str, str]:
        found.registrations.append(info)
        return VEN_ID, f"reg-{len(found.registrations)}"

    server.add_handler("on_create_party_registration", register)
    await server.run()
    try:
        yield found
    finally:
        await server.stop()
