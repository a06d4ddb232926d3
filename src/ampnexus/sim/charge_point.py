"""A simulated OCPP 1.6J charge point: the charger model on a real connection to a CSMS.

It boots (retrying while Pending or Rejected), reports every status change, sends heartbeats
and periodic MeterValues, runs transactions, answers the CSMS's commands (handlers.py), and
keeps transaction messages while offline. Tests, scripts and the demo drive it like a
driver would: plug in, present a tag, unplug; or like fate: fault, network loss, reboot.

    async with SimChargePoint(spec, "ws://127.0.0.1:9000/ocpp", clock=SimClock(60)) as cp:
        await cp.wait_until(lambda: cp.registration == "Accepted")
        await cp.plug_in(1, EV(capacity_kwh=60, soc=30))
        await cp.present_tag(1, "CARD-42")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from ampnexus.domain.charging_profile import ChargingProfile
from ampnexus.domain.time import format_timestamp
from ampnexus.ocpp.errors import NOT_SUPPORTED, CallError
from ampnexus.sim.auth_cache import AuthorizationCache
from ampnexus.sim.charger import Authorization, Charger, ChargerSpec, Connector, Transaction
from ampnexus.sim.clock import SimClock
from ampnexus.sim.connection import CallFailed, Link, NoAnswer, NotConnected, Reply
from ampnexus.sim.ev import EV
from ampnexus.sim.handlers import HANDLERS
from ampnexus.sim.metering import meter_value
from ampnexus.sim.outbox import Message, Outbox

log = logging.getLogger(__name__)

BOOT_RETRY_SECONDS = 60  # when the CSMS names no interval (0) or cannot answer


class SimChargePoint:
    def __init__(
        self,
        spec: ChargerSpec,
        url: str,
        *,
        clock: SimClock | None = None,
        tick_seconds: float = 5.0,
        boot_delay: float = 5.0,
        call_timeout: float = 30.0,
        heartbeat_interval: int = 300,
        meter_sample_interval: int = 60,
    ) -> None:
        self.spec = spec
        self.clock = clock or SimClock()
        self.charger = Charger(
            spec,
            heartbeat_interval=heartbeat_interval,
            meter_sample_interval=meter_sample_interval,
        )
        self.configuration = self.charger.configuration
        self.link = Link(
            url,
            spec.id,
            password=lambda: self.configuration.get("AuthorizationKey") or None,
            handle=self._handle,
            on_open=self._on_open,
            on_close=self._on_close,
            clock=self.clock,
            call_timeout=call_timeout,
        )
        self.outbox = Outbox(self.link, self.configuration, self.clock, on_change=self._notify)
        self.cache = AuthorizationCache()
        self.registration: str | None = None  # the last BootNotification answer's status
        self.boots = 0  # accepted BootNotifications
        self.transactions: deque[Transaction] = deque(maxlen=1000)  # started here, newest last
        self.commands: deque[tuple[str, Any, dict[str, Any]]] = deque(maxlen=1000)
        self._tick = tick_seconds
        self._boot_delay = boot_delay
        self._call_timeout = call_timeout
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def id(self) -> str:
        return self.spec.id

    def connector(self, connector_id: int) -> Connector:
        connector = self.charger.connector(connector_id)
        if connector is None:
            raise ValueError(f"{self.id} has no connector {connector_id}")
        return connector

    # --- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Power on: connect, boot, and keep going until stop()."""
        self._tasks = [
            asyncio.create_task(self.link.run()),
            asyncio.create_task(self.outbox.run()),
            asyncio.create_task(self._ticking()),
        ]

    async def stop(self) -> None:
        """Power off, at once: nothing more is sent."""
        for task in self._tasks:
            task.cancel()
        await self.link.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def __aenter__(self) -> SimChargePoint:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float | None = 10.0,  # noqa: ASYNC109 (real seconds; None waits for ever)
    ) -> None:
        """Wait (at most `timeout` real seconds) until `condition()` holds; it is checked on
        every change of state, answer from the CSMS and tick."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def settled(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the CSMS has everything: online, accepted, and nothing left to send."""
        await self.wait_until(lambda: self.outbox.ready and not len(self.outbox), timeout)

    def _notify(self) -> None:
        self._changed.set()

    # --- what a driver (or fate) does --------------------------------------------------------
    async def plug_in(self, connector_id: int = 1, ev: EV | None = None) -> None:
        connector = self.connector(connector_id)
        self._advance()
        connector.ev = ev or EV()
        log.info("%s/%d: a car is plugged in", self.id, connector_id)
        authorization = connector.authorization
        if connector.transaction is None and authorization is not None:
            self._start(connector, authorization.id_tag, authorization.profile)
        self._refresh()

    async def present_tag(self, connector_id: int, id_tag: str) -> str | None:
        """Swipe a card: starts a transaction (once the cable is in too) or stops this tag's
        own. Returns the tag's AuthorizationStatus, or None if the charger ignored it."""
        connector = self.connector(connector_id)
        tx = connector.transaction
        if tx is not None:
            if tx.id_tag != id_tag:
                return None
            self._stop(connector, "Local", id_tag)
            self._refresh()
            return "Accepted"
        if not self.can_start(connector):
            return None
        status = await self._authorize(id_tag)
        if status == "Accepted" and connector.transaction is None:
            connector.authorization = Authorization(id_tag, self.clock.now())
            if connector.ev is not None:
                self._start(connector, id_tag)
        self._refresh()
        return status

    async def unplug(self, connector_id: int = 1) -> None:
        connector = self.connector(connector_id)
        self._advance()
        if connector.transaction is not None:
            if not self.configuration.flag("StopTransactionOnEVSideDisconnect"):
                connector.ev = None  # the transaction goes on, suspended by the EV
                self._refresh()
                return
            self._stop(connector, "EVDisconnected")
            self._report(connector)  # Finishing, before the cable is gone
        self._release(connector)
        self._refresh()

    async def fault(self, connector_id: int = 1, error_code: str = "OtherError") -> None:
        connector = self.connector(connector_id)
        if connector.transaction is not None:
            self._stop(connector, "Other")
        connector.fault = error_code
        self._refresh()

    async def clear_fault(self, connector_id: int = 1) -> None:
        self.connector(connector_id).fault = None
        self._refresh()

    async def go_offline(self) -> None:
        """The network goes down: the socket closes and no reconnection is tried."""
        await self.link.go_offline()

    async def come_back(self) -> None:
        self.link.come_back()

    async def reboot(self, hard: bool = False, reason: str | None = None) -> None:
        """Reset (OCPP 5.14): stop every transaction (sending the stops first when soft),
        restart, boot again. Queued transaction messages survive; so do availability,
        configuration, profiles and meter registers."""
        for connector in self.charger.connectors.values():
            if connector.transaction is not None:
                self._stop(connector, reason or ("HardReset" if hard else "SoftReset"))
            connector.authorization = None
        self._refresh()
        if not hard and self.outbox.ready:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._call_timeout):
                    await self.outbox.drained()
        self.registration = None
        self.outbox.pause()
        await self.link.reconnect(after=self._boot_delay)
        self._notify()

    # --- transactions --------------------------------------------------------------------------
    def can_start(self, connector: Connector) -> bool:
        return (
            connector.transaction is None
            and connector.fault is None
            and not connector.inoperative
            and not self.charger.inoperative
        )

    async def _authorize(self, id_tag: str) -> str:
        """Ask the CSMS when online; offline, trust the cache (LocalAuthorizeOffline) or any
        unknown tag (AllowOfflineTxForUnknownId)."""
        config, now = self.configuration, self.clock.now()
        cached = (
            self.cache.status(id_tag, now) if config.flag("AuthorizationCacheEnabled") else None
        )
        if self.outbox.ready:
            if cached == "Accepted" and config.flag("LocalPreAuthorize"):
                return cached
            try:
                answer = await self.link.call("Authorize", {"idTag": id_tag})
            except (NotConnected, NoAnswer, CallFailed) as error:
                log.info("%s could not authorize %s online: %s", self.id, id_tag, error)
            else:
                self.cache.remember(id_tag, answer["idTagInfo"])
                return str(answer["idTagInfo"]["status"])
        if cached == "Accepted" and config.flag("LocalAuthorizeOffline"):
            return cached
        if cached is None and config.flag("AllowOfflineTxForUnknownId"):
            return "Accepted"
        return cached or "Invalid"

    async def remote_start(
        self, connector: Connector, id_tag: str, profile: ChargingProfile | None
    ) -> None:
        """What an accepted RemoteStartTransaction does (after its answer went out)."""
        authorize = self.configuration.flag("AuthorizeRemoteTxRequests")
        if authorize and await self._authorize(id_tag) != "Accepted":
            return
        if not self.can_start(connector):
            return
        connector.authorization = Authorization(id_tag, self.clock.now(), profile)
        if connector.ev is not None:
            self._start(connector, id_tag, profile)
        self._refresh()

    def _start(
        self, connector: Connector, id_tag: str, profile: ChargingProfile | None = None
    ) -> None:
        now = self.clock.now()
        self.charger.advance(now)
        interval = self.configuration.integer("MeterValueSampleInterval")
        tx = Transaction(
            connector_id=connector.id,
            id_tag=id_tag,
            meter_start=round(connector.energy_wh),
            started_at=now,
            next_sample_at=now + timedelta(seconds=interval),
            profile=profile,
        )
        connector.transaction, connector.authorization, connector.finishing = tx, None, False
        self.transactions.append(tx)
        if profile is not None:
            self.charger.profiles.install(connector.id, profile, active_transaction_id=tx.ocpp_id)
        payload = {
            "connectorId": connector.id,
            "idTag": id_tag,
            "meterStart": tx.meter_start,
            "timestamp": format_timestamp(now),
        }
        self.outbox.put(
            Message("StartTransaction", lambda: payload, lambda answer: self._started(tx, answer))
        )

    def _started(self, tx: Transaction, answer: dict[str, Any]) -> None:
        tx.id = answer["transactionId"]
        info = answer["idTagInfo"]
        log.info(
            "%s/%d: transaction %d started for %s (%s)",
            self.id, tx.connector_id, tx.id, tx.id_tag, info["status"],
        )  # fmt: skip
        self.cache.remember(tx.id_tag, info)
        connector = self.connector(tx.connector_id)
        if connector.transaction is not tx:
            return  # it ended meanwhile (offline); its stop now carries the id
        if tx.profile is not None:  # bind the remote start's TxProfile to the CSMS's id
            self.charger.profiles.install(connector.id, tx.profile, active_transaction_id=tx.id)
        if info["status"] != "Accepted":
            if self.configuration.flag("StopTransactionOnInvalidId"):
                self._stop(connector, "DeAuthorized")
            else:
                tx.invalid = True
        self._refresh()

    def _stop(self, connector: Connector, reason: str, id_tag: str | None = None) -> None:
        tx = connector.transaction
        assert tx is not None
        now = self.clock.now()
        self.charger.advance(now)  # the register up to this very moment
        tx.meter_stop, tx.stopped_at, tx.reason = round(connector.energy_wh), now, reason
        log.info(
            "%s/%d: transaction %s stopped (%s) after %d Wh",
            self.id, connector.id, tx.id, reason, tx.meter_stop - tx.meter_start,
        )  # fmt: skip
        connector.transaction, connector.finishing = None, connector.ev is not None
        self.charger.profiles.transaction_ended(connector.id)
        if connector.scheduled is not None:
            connector.inoperative, connector.scheduled = connector.scheduled, None

        def build() -> dict[str, Any] | None:
            if tx.id is None:
                return None  # its StartTransaction was never accepted: nothing to stop
            payload = {
                "transactionId": tx.id,
                "meterStop": tx.meter_stop,
                "timestamp": format_timestamp(now),
                "reason": reason,
            }
            return payload | ({"idTag": id_tag} if id_tag else {})

        self.outbox.put(Message("StopTransaction", build, self._stopped(tx.id_tag)))

    def _stopped(self, id_tag: str) -> Callable[[dict[str, Any]], None]:
        def remember(answer: dict[str, Any]) -> None:
            if "idTagInfo" in answer:
                self.cache.remember(id_tag, answer["idTagInfo"])

        return remember

    def _release(self, connector: Connector) -> None:
        """The cable is out: the session is over."""
        connector.ev, connector.finishing, connector.authorization = None, False, None

    def stop_transaction(self, connector: Connector, reason: str) -> None:
        """Stop the connector's transaction for the CSMS's sake (remote stop, unlock)."""
        if connector.transaction is not None:
            self._stop(connector, reason)
        self._refresh()

    def transaction(self, transaction_id: int) -> Connector | None:
        """The connector running the CSMS's transaction `transaction_id`."""
        return next(
            (
                c
                for c in self.charger.connectors.values()
                if c.transaction is not None and c.transaction.id == transaction_id
            ),
            None,
        )

    # --- what happens with time ---------------------------------------------------------------
    async def _ticking(self) -> None:
        while True:
            await self.clock.sleep(self._seconds_to_next_event())
            self._refresh()

    def _seconds_to_next_event(self) -> float:
        now, wake = self.clock.now(), self._tick
        for connector in self.charger.connectors.values():
            tx = connector.transaction
            if tx is not None and self.configuration.integer("MeterValueSampleInterval") > 0:
                wake = min(wake, (tx.next_sample_at - now).total_seconds())
        return max(0.0, wake)

    def _advance(self) -> None:
        self.charger.advance(self.clock.now())

    def _refresh(self) -> None:
        """Bring everything up to now: energy, meter samples, departures, timeouts, statuses."""
        now = self.clock.now()
        self.charger.advance(now)
        timeout = timedelta(seconds=self.configuration.integer("ConnectionTimeOut"))
        self._report_station()
        for connector in self.charger.connectors.values():
            self._sample_if_due(connector, now)
            if connector.ev is not None and connector.ev.wants_to_leave(now):
                self._leave(connector)
            authorization = connector.authorization
            if (
                authorization is not None
                and connector.ev is None
                and now - authorization.at > timeout
            ):
                connector.authorization = None
            self._report(connector)
        self._heartbeat_if_due()
        self._notify()

    def _leave(self, connector: Connector) -> None:
        """The driver comes back at departure: swipes the card to stop, unplugs, drives off."""
        tx = connector.transaction
        if tx is not None:
            self._stop(connector, "Local", tx.id_tag)
            self._report(connector)
        self._release(connector)

    def _sample_if_due(self, connector: Connector, now: datetime) -> None:
        tx = connector.transaction
        interval = self.configuration.integer("MeterValueSampleInterval")
        if tx is None or interval <= 0 or now < tx.next_sample_at:
            return
        while tx.next_sample_at <= now:  # one sample now, the next on the transaction's rhythm
            tx.next_sample_at += timedelta(seconds=interval)
        self.outbox.put(self._meter_values(connector, "Sample.Periodic"))

    def _meter_values(self, connector: Connector, context: str) -> Message:
        reading = self.charger.reading(connector)
        measurands = self.configuration.csl("MeterValuesSampledData")
        sample = meter_value(self.clock.now(), reading, measurands, context)
        tx = connector.transaction

        def build() -> dict[str, Any]:
            payload = {"connectorId": connector.id, "meterValue": [sample]}
            if tx is not None and tx.id is not None:
                payload["transactionId"] = tx.id
            return payload

        return Message("MeterValues", build)

    def _heartbeat_if_due(self) -> None:
        interval = self.configuration.integer("HeartbeatInterval")
        idle = self.clock.elapsed() - self.link.last_activity
        if interval > 0 and idle >= interval and "Heartbeat" not in self.outbox.pending():
            self.outbox.put(Message("Heartbeat", dict, live=True))

    # --- status notifications ------------------------------------------------------------------
    def _report(self, connector: Connector) -> None:
        state = (connector.status(self.charger.inoperative), connector.fault or "NoError")
        if state != connector.announced and self.outbox.ready:
            connector.announced = state
            self.outbox.put(self._status_message(connector.id, state, connector))

    def _report_station(self) -> None:
        charger = self.charger
        state = (charger.station_status(), charger.fault or "NoError")
        if state != charger.announced and self.outbox.ready:
            charger.announced = state
            self.outbox.put(self._status_message(0, state, charger))

    def _status_message(
        self, connector_id: int, state: tuple[str, str], holder: Charger | Connector
    ) -> Message:
        payload = self._status_payload(connector_id, state)

        def delivered(_: dict[str, Any]) -> None:
            holder.reported = state

        return Message("StatusNotification", lambda: payload, delivered, live=True)

    def _status_payload(self, connector_id: int, state: tuple[str, str]) -> dict[str, Any]:
        status, error_code = state
        return {
            "connectorId": connector_id,
            "status": status,
            "errorCode": error_code,
            "timestamp": format_timestamp(self.clock.now()),
        }

    def current_state(self, connector_id: int) -> tuple[str, str]:
        if connector_id == 0:
            return self.charger.station_status(), self.charger.fault or "NoError"
        connector = self.connector(connector_id)
        return connector.status(self.charger.inoperative), connector.fault or "NoError"

    # --- the connection ------------------------------------------------------------------------
    async def _on_open(self) -> None:
        self._notify()
        if self.registration == "Accepted":  # back after a network loss: no reboot, no boot
            self.outbox.resume()
            self._refresh()
            return
        while self.registration != "Accepted":
            interval = await self.boot()
            if self.registration != "Accepted":
                await self.clock.sleep(interval or BOOT_RETRY_SECONDS)

    def _on_close(self) -> None:
        self.outbox.pause()
        for holder in self._status_holders():
            holder.announced = holder.reported
        self._notify()

    def _status_holders(self) -> list[Charger | Connector]:
        return [self.charger, *self.charger.connectors.values()]

    async def boot(self) -> int:
        """Send a BootNotification; returns the interval the CSMS gave."""
        spec = self.spec
        payload = {"chargePointVendor": spec.vendor, "chargePointModel": spec.model}
        payload["firmwareVersion"] = spec.firmware
        if spec.serial_number:
            payload["chargePointSerialNumber"] = spec.serial_number
        try:
            answer = await self.link.call("BootNotification", payload)
        except (CallFailed, NoAnswer) as error:
            log.warning("%s boot failed: %s", self.id, error)
            return BOOT_RETRY_SECONDS
        self.registration, interval = answer["status"], int(answer["interval"])
        log.info("%s booted: %s", self.id, self.registration)
        if self.registration == "Accepted":
            if interval > 0:
                self.configuration.set("HeartbeatInterval", str(interval))
            self.boots += 1
            self._accepted()
        self._notify()
        return interval

    def _accepted(self) -> None:
        """Accepted after a boot: deliver what waited, and tell every status afresh."""
        for holder in self._status_holders():
            holder.announced = holder.reported = None
        self.outbox.resume()
        self._refresh()

    async def send_now(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send past the queue (what a TriggerMessage asks for is sent even while Pending)."""
        return await self.link.call(action, payload)

    async def send_status_now(self, connector_id: int) -> None:
        state = self.current_state(connector_id)
        await self.send_now("StatusNotification", self._status_payload(connector_id, state))
        holder = self.charger if connector_id == 0 else self.connector(connector_id)
        holder.announced = holder.reported = state

    async def send_meter_values_now(self, connector_id: int) -> None:
        self._advance()
        if connector_id == 0:
            reading = self.charger.station_reading()
            measurands = self.configuration.csl("MeterValuesSampledData")
            sample = meter_value(self.clock.now(), reading, measurands, "Trigger")
            await self.send_now("MeterValues", {"connectorId": 0, "meterValue": [sample]})
            return
        message = self._meter_values(self.connector(connector_id), "Trigger")
        payload = message.build()
        assert payload is not None
        await self.send_now("MeterValues", payload)

    # --- commands from the CSMS --------------------------------------------------------------
    def _handle(self, action: str, payload: Any) -> Reply:
        handler = HANDLERS.get(action)
        if handler is None:
            raise CallError(NOT_SUPPORTED, f"{action} is not supported by this charge point")
        self._advance()  # energy so far accrues under the rules so far
        reply = handler(self, payload)
        self.commands.append((action, payload, reply.payload))
        self._notify()
        return reply

    def refresh(self) -> None:
        self._refresh()
