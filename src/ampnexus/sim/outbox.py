"""Messages a charge point sends its CSMS, delivered one at a time and in order.

Transaction-related messages (StartTransaction, StopTransaction, periodic MeterValues)
wait in the queue while the charge point is offline and are replayed in order when it
is back (OCPP 1.6 section 3.7). A CALLERROR answer is retried
TransactionMessageAttempts times, TransactionMessageRetryInterval x attempts apart,
then the message is skipped. Live messages (StatusNotification, Heartbeat) describe
the present: they are dropped when the link goes down, and the charge point reports
its then current state once it is back.

Payloads are built when sent, not when queued, so a message about a transaction
started offline carries the transactionId the CSMS assigned to it meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ampnexus.sim.clock import SimClock
from ampnexus.sim.configuration import Configuration
from ampnexus.sim.connection import CallFailed, Link, NoAnswer, NotConnected

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Message:
    action: str
    build: Callable[[], dict[str, Any] | None]  # None: nothing left to say, skip it
    on_answer: Callable[[dict[str, Any]], None] | None = None
    live: bool = False
    attempts: int = 0


class Outbox:
    def __init__(
        self,
        link: Link,
        configuration: Configuration,
        clock: SimClock,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._link = link
        self._on_change = on_change
        self._configuration = configuration
        self._clock = clock
        self._queue: deque[Message] = deque()
        self._ready = False  # connected and accepted by the CSMS
        self._hold_until = 0.0  # clock.elapsed() before which the head is not retried
        self._changed = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def ready(self) -> bool:
        return self._ready

    def put(self, message: Message) -> None:
        if message.live and not self._ready:
            return  # about the present: the state is reported again once back
        self._queue.append(message)
        self._empty.clear()
        self._changed.set()

    def resume(self) -> None:
        """The CSMS accepted the charge point: start (or go on) delivering."""
        self._ready = True
        self._changed.set()

    def pause(self) -> None:
        """The link went down or the charge point reboots: keep what must be kept."""
        self._ready = False
        self._queue = deque(m for m in self._queue if not m.live)
        self._settle()

    def pending(self) -> list[str]:
        return [message.action for message in self._queue]

    async def drained(self) -> None:
        await self._empty.wait()

    async def run(self) -> None:
        while True:
            self._changed.clear()
            if not (self._ready and self._queue):
                await self._changed.wait()
                continue
            hold = self._hold_until - self._clock.elapsed()
            if hold > 0:
                await self._clock.wait(self._changed, hold)
                continue
            await self._deliver(self._queue[0])

    async def _deliver(self, message: Message) -> None:
        payload = message.build()
        if payload is None:
            self._done(message)
            return
        connection = self._link.connections
        try:
            answer = await self._link.call(message.action, payload)
        except NotConnected:
            if self._link.connections == connection:
                self._ready = False  # the charge point resumes us once it is back
            return
        except (CallFailed, NoAnswer) as error:
            self._failed(message, error)
            return
        self._done(message)
        if message.on_answer is not None:
            message.on_answer(answer)

    def _failed(self, message: Message, error: Exception) -> None:
        message.attempts += 1
        attempts = self._configuration.integer("TransactionMessageAttempts")
        if message.live or message.attempts >= max(1, attempts):
            log.warning("%s %s skipped after %s", self._link.charge_point_id, message.action, error)
            self._done(message)
            return
        # Hold the queue, in order, until the retry is due.
        retry_after = self._configuration.integer("TransactionMessageRetryInterval")
        self._hold_until = self._clock.elapsed() + retry_after * message.attempts

    def _done(self, message: Message) -> None:
        if self._queue and self._queue[0] is message:
            self._queue.popleft()
        self._settle()

    def _settle(self) -> None:
        if not self._queue:
            self._empty.set()
        self._on_change()
