"""A charge point's OCPP-J link to its CSMS, over a real WebSocket.

It speaks AmpNexus's own framing and validates every payload, in both directions,
against the OCPP 1.6 JSON schemas; keeps one outstanding CALL at a time; answers the
CSMS's CALLs through a handler; and reconnects with exponential backoff. Going
offline (a simulated network cut) closes the socket and holds reconnection back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ampnexus.ocpp.errors import INTERNAL_ERROR, NOT_IMPLEMENTED, CallError
from ampnexus.ocpp.framing import (
    Call,
    CallErrorFrame,
    CallResult,
    FrameError,
    decode,
    encode_call,
    encode_error,
    encode_result,
)
from ampnexus.ocpp.v16 import schemas
from ampnexus.sim.clock import SimClock

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"


class NotConnected(Exception):
    """No connection to the CSMS, or it closed before the answer came."""


class NoAnswer(Exception):
    """The CSMS did not answer within the call timeout."""


class CallFailed(Exception):
    """The CSMS answered with a CALLERROR (or with an answer off its schema)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a CSMS CALL, and what to do once it has been sent."""

    payload: dict[str, Any]
    then: Callable[[], Awaitable[None]] | None = None


Handler = Callable[[str, Any], Reply]


class Link:
    def __init__(
        self,
        url: str,
        charge_point_id: str,
        *,
        password: Callable[[], str | None],
        handle: Handler,
        on_open: Callable[[], Awaitable[None]],
        on_close: Callable[[], None],
        clock: SimClock,
        call_timeout: float = 30.0,
        backoff: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self.url = f"{url.rstrip('/')}/{charge_point_id}"
        self.charge_point_id = charge_point_id
        self._password = password
        self._handle = handle
        self._on_open = on_open
        self._on_close = on_close
        self._clock = clock
        self._call_timeout = call_timeout  # real seconds: the network does not speed up
        self._backoff = backoff
        self._ws: ClientConnection | None = None
        self._lock = asyncio.Lock()  # OCPP-J: one outstanding CALL
        self._pending: tuple[str, asyncio.Future[Any]] | None = None
        self._next_id = 0
        self._online = asyncio.Event()
        self._online.set()
        self._wake = asyncio.Event()
        self._reconnect_after: float | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.attempts = 0  # connections tried so far
        self.connections = 0  # ... and opened
        self.last_activity = 0.0  # clock.elapsed() of the last answered CALL
        self.sent: deque[tuple[str, dict[str, Any]]] = deque(maxlen=10_000)  # answered CALLs

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def online(self) -> bool:
        return self._online.is_set()

    # --- the connection's life --------------------------------------------------------------
    async def run(self) -> None:
        """Connect, serve, and reconnect for ever (until cancelled)."""
        delay = self._backoff[0]
        while True:
            await self._online.wait()
            self.attempts += 1
            try:
                async with connect(
                    self.url,
                    subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                    additional_headers=self._credentials(),
                    compression=None,
                    proxy=None,
                    open_timeout=self._call_timeout,
                ) as ws:
                    delay = self._backoff[0]
                    await self._serve(ws)
            except InvalidURI:
                raise
            except InvalidStatus as error:  # refused at the upgrade: unknown, or bad password
                log.warning("%s was refused: %s", self.charge_point_id, error)
            except (OSError, InvalidHandshake, TimeoutError) as error:
                log.info("%s could not connect: %s", self.charge_point_id, error)
            wait, self._reconnect_after = self._reconnect_after, None
            if wait is None:
                wait, delay = delay * random.uniform(0.75, 1.0), min(delay * 2, self._backoff[1])
            self._wake.clear()
            await self._clock.wait(self._wake, wait)

    async def reconnect(self, after: float = 0.0) -> None:
        """Close the connection and connect again `after` simulated seconds (a reboot)."""
        if self._ws is not None:
            self._reconnect_after = after
            await self._close()

    async def go_offline(self) -> None:
        self._online.clear()
        await self._close()

    def come_back(self) -> None:
        self._online.set()
        self._wake.set()

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self._close()

    def _credentials(self) -> dict[str, str] | None:
        password = self._password()
        if not password:
            return None
        token = base64.b64encode(f"{self.charge_point_id}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def _serve(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.connections += 1
        opened = self._spawn(self._on_open)
        try:
            async for raw in ws:
                await self._on_frame(ws, raw)
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            opened.cancel()
            if self._pending is not None and not self._pending[1].done():
                self._pending[1].set_exception(NotConnected("the connection closed"))
            self._on_close()

    # --- frames from the CSMS ------------------------------------------------------------------
    async def _on_frame(self, ws: ClientConnection, raw: str | bytes) -> None:
        try:
            frame = decode(raw)
        except FrameError as error:
            await ws.send(encode_error(error.unique_id, error), text=True)
            return
        if isinstance(frame, Call):
            await self._answer(ws, frame)
        elif self._pending is not None and self._pending[0] == frame.unique_id:
            if not self._pending[1].done():
                self._pending[1].set_result(frame)
        else:
            log.warning("%s got an answer to no call: %s", self.charge_point_id, frame.unique_id)

    async def _answer(self, ws: ClientConnection, call: Call) -> None:
        then = None
        try:
            reply = self._reply(call)
            frame, then = encode_result(call.unique_id, reply.payload), reply.then
        except CallError as error:
            frame = encode_error(call.unique_id, error)
        await ws.send(frame, text=True)
        if then is not None:
            self._spawn(then)

    def _reply(self, call: Call) -> Reply:
        if call.action not in schemas.ACTIONS:
            raise CallError(NOT_IMPLEMENTED, f"{call.action} is not an OCPP 1.6 action")
        schemas.validate_request(call.action, call.payload)
        try:
            reply = self._handle(call.action, call.payload)
        except CallError:
            raise
        except Exception:
            log.exception("%s failed to handle %s", self.charge_point_id, call.action)
            raise CallError(INTERNAL_ERROR, f"{call.action} could not be handled") from None
        try:
            schemas.validate_response(call.action, reply.payload)
        except CallError as error:
            log.error("%s answered %s off-schema: %s", self.charge_point_id, call.action, error)
            raise CallError(INTERNAL_ERROR, "the charge point built an invalid answer") from None
        return reply

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await work()
            except (NotConnected, NoAnswer, CallFailed) as error:
                log.info("%s: follow-up did not complete: %s", self.charge_point_id, error)
            except Exception:
                log.exception("%s: follow-up failed", self.charge_point_id)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # --- calling the CSMS ----------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL and return the CSMS's answer payload."""
        schemas.validate_request(action, payload)  # a CallError here is a simulator bug
        async with self._lock:
            ws = self._ws
            if ws is None:
                raise NotConnected(f"{self.charge_point_id} is not connected")
            self._next_id += 1
            unique_id = str(self._next_id)
            answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending = (unique_id, answer)
            try:
                async with asyncio.timeout(self._call_timeout):
                    await ws.send(encode_call(unique_id, action, payload), text=True)
                    frame = await answer
            except TimeoutError:
                raise NoAnswer(f"no answer to {action} in {self._call_timeout:g} s") from None
            except ConnectionClosed:
                raise NotConnected("the connection closed") from None
            finally:
                self._pending = None
        self.last_activity = self._clock.elapsed()
        self.sent.append((action, payload))
        if isinstance(frame, CallErrorFrame):
            raise CallFailed(frame.code, frame.description)
        assert isinstance(frame, CallResult)
        try:
            schemas.validate_response(action, frame.payload)
        except CallError as error:
            raise CallFailed(error.code, f"answer off its schema: {error.description}") from None
        return dict(frame.payload)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
