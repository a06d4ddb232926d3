"""A real HTTP server on localhost that receives webhooks: it records each POST, answers
with the status a test sets, can take its time, and can be stopped and started again on
the same port (a receiver that is down refuses connections)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Received:
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


def verify(secret: str, header: str, body: bytes, tolerance_s: float = 300) -> bool:
    """What a receiver does: recompute the HMAC over `<t>.<body>`, compare in constant time,
    and refuse old timestamps (a replayed delivery)."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - timestamp) <= tolerance_s
    return fresh and hmac.compare_digest(expected.hexdigest(), fields["v1"])


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.delay_s = 0.0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def events(self, prefix: str = "") -> list[dict[str, Any]]:
        return [r.event for r in self.received if r.event["type"].startswith(prefix)]

    async def wait_for(self, count: int, prefix: str = "", timeout: float = 20.0) -> list[Any]:  # noqa: ASYNC109
        """The first `count` events whose type starts with `prefix`, once they arrived."""
        await self.wait_until(lambda: len(self.events(prefix)) >= count, timeout)
        return self.events(prefix)[:count]

    async def wait_until(self, arrived: Callable[[], bool], timeout: float = 20.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(arrived)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                status = self.status
                if 200 <= status < 300:  # only what was accepted counts as received
                    async with self._arrived:
                        self.received.append(Received(headers, body, time.monotonic()))
                        self._arrived.notify_all()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode("latin-1")
                )
                await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def polled(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Until `check` holds (the API offers nothing to wait on); TimeoutError after `within`.
    A connection the server's keep-alive closed as it was reused counts as "not yet"."""
    async with asyncio.timeout(within):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if await check():
                    return
            await asyncio.sleep(0.05)
