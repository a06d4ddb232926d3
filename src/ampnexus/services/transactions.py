"""Charging sessions: start, meter values, stop, and reading them back.

A charger touches only its own sessions. A MeterValues or StopTransaction naming a
transaction that another charger started, or that does not exist, attaches nothing and
closes nothing: its readings are kept with the sending charger, marked with the id it
claimed, and an alert is raised for that charger. The answer is the normal one, so a
charger that lost track of its ids does not retry the message forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from ampnexus.domain.alert import AlertKey, AlertKind
from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import (
    PowerMeasured,
    SessionProgressed,
    TransactionStarted,
    TransactionStopped,
)
from ampnexus.domain.id_tag import IdTagInfo
from ampnexus.domain.reservation import Reservation
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import (
    CHARGER_REBOOTED,
    NO_FILTER,
    SUPERSEDED,
    ChargerReading,
    LeftOpen,
    MeterReading,
    ReadingFilter,
    SessionFilter,
    Transaction,
    TransactionOwner,
    TransactionStart,
    TransactionStop,
    import_power_w,
    import_register_wh,
)
from ampnexus.services.alerts import AlertService
from ampnexus.services.authorization import AuthorizationService
from ampnexus.services.ownership import TransactionOwners
from ampnexus.services.ports import EventPublisher, Page, TransactionStore
from ampnexus.services.remote_starts import RemoteStarts


class ReservationGate(Protocol):
    """The charger's reservations, as a start meets them (`ReservationService`)."""

    async def admit(
        self, start: TransactionStart, info: IdTagInfo
    ) -> tuple[IdTagInfo, Reservation | None]:
        """The start's answer under the reservations, and the one it uses, if any."""
        ...

    async def used(self, reservation: Reservation, transaction_id: int) -> None: ...


class TransactionService:
    def __init__(
        self,
        store: TransactionStore,
        authorization: AuthorizationService,
        clock: Clock,
        alerts: AlertService,
        events: EventPublisher | None = None,
        remote_starts: RemoteStarts | None = None,
        progress_interval_s: float = 60.0,
        reservations: ReservationGate | None = None,
    ) -> None:
        """`progress_interval_s`: the least time between two `SessionProgressed` (the feed's
        session.updated) of one session. `reservations`: None, no reservation is kept."""
        self._reservations = reservations
        self._store = store
        self._authorization = authorization
        self._clock = clock
        self._alerts = alerts
        self._events = events
        self._owners = TransactionOwners(store)
        self._remote_starts = remote_starts or RemoteStarts(clock)
        self._progress = _ProgressPacing(progress_interval_s)
        self._reboots = _Reboots()

    async def start(self, start: TransactionStart) -> tuple[int, IdTagInfo]:
        """Every start is recorded, even with a bad tag: the charger has already begun
        (offline starts), and the answer's idTagInfo tells it whether to stop. A start that
        answers a recent RemoteStartTransaction is recorded as started remotely. A start
        on a connector reserved for another group is answered Invalid; one that uses a
        reservation closes it."""
        id_tag_info = await self._authorization.authorize(start.id_tag, start.charge_point_id)
        reservation = None
        if self._reservations is not None:
            id_tag_info, reservation = await self._reservations.admit(start, id_tag_info)
        remote = self._remote_starts.claim(start.charge_point_id, start.connector_id, start.id_tag)
        start = replace(start, started_remotely=remote is not None)

        def started(transaction_id: int) -> TransactionStarted:
            return TransactionStarted(
                transaction_id,
                start.charge_point_id,
                start.connector_id,
                start.id_tag,
                start.timestamp,
                remote_profile=None if remote is None else remote.profile,
                remote_set_by=None if remote is None else remote.set_by,
                meter_start_wh=start.meter_start,
            )

        transaction_id = await self._store.start(
            start, self._clock.now(), lambda new_id: [started(new_id)]
        )
        if reservation is not None and self._reservations is not None:
            await self._reservations.used(reservation, transaction_id)
        owner = TransactionOwner(start.charge_point_id, start.connector_id, start.meter_start)
        self._owners.remember(transaction_id, owner)
        self._progress.started(transaction_id, start.timestamp)
        self._publish(started(transaction_id))
        await self._close_superseded(start, transaction_id)
        return transaction_id, id_tag_info

    # --- sessions a charger left open ------------------------------------------------------
    async def _close_superseded(self, start: TransactionStart, transaction_id: int) -> None:
        """A connector runs one transaction: one still open there when a later one starts
        lost its StopTransaction (typically in a reboot), and is closed now."""
        await self._close(
            LeftOpen(
                start.charge_point_id,
                start.connector_id,
                SUPERSEDED,
                f"closed by AmpNexus: transaction {transaction_id} started on connector "
                f"{start.connector_id} while this one had no StopTransaction",
                fallback_at=start.timestamp,
                other_than=transaction_id,
                started_by=start.timestamp,
            )
        )

    def charger_booted(self, charge_point_id: str) -> None:
        """A BootNotification: the first status each connector reports next tells
        whether the sessions open on it survived the boot."""
        self._reboots.booted(charge_point_id, self._clock.now())

    async def connector_reported(
        self, charge_point_id: str, connector_id: int, status: str
    ) -> None:
        """A StatusNotification. A connector Available as the first status after a boot runs
        no transaction: one open on it from before the boot is closed."""
        booted_at = self._reboots.first_status(charge_point_id, connector_id, self._clock.now())
        if booted_at is None or status != "Available" or connector_id == 0:
            return
        await self._close(
            LeftOpen(
                charge_point_id,
                connector_id,
                CHARGER_REBOOTED,
                f"closed by AmpNexus: the charger rebooted and then reported connector "
                f"{connector_id} Available without a StopTransaction for this one",
                fallback_at=booted_at,
                received_before=booted_at,
            )
        )

    async def _close(self, left: LeftOpen) -> None:
        """Close what `left` finds, with the session.stopped each closed one tells. A real
        StopTransaction arriving later is answered as a replay: nothing counted twice."""
        closed = await self._store.close_left_open(left, lambda done: [_stopped(t) for t in done])
        for transaction in closed:
            self._progress.stopped(transaction.id)
            self._publish(_stopped(transaction))

    async def stop(self, stop: TransactionStop) -> IdTagInfo | None:
        owner = await self._owners.owner(stop.transaction_id)
        if owner is None or owner.charge_point_id != stop.charge_point_id:
            # A StopTransaction names no connector: its refused readings go to connector 0,
            # which OCPP uses for the charger as a whole.
            await self._refuse(stop.charge_point_id, 0, stop.transaction_id, stop.transaction_data)
        else:
            stopped = TransactionStopped(
                stop.transaction_id,
                stop.charge_point_id,
                stop.timestamp,
                owner.connector_id,
                meter_stop_wh=stop.meter_stop,
                energy_wh=float(stop.meter_stop - owner.meter_start),
                reason=stop.reason or "Local",
            )
            if await self._store.stop(stop, self._clock.now(), (stopped,)):
                self._progress.stopped(stop.transaction_id)
                self._publish(stopped)
        if stop.id_tag is None:
            return None
        return await self._authorization.authorize(stop.id_tag, stop.charge_point_id)

    async def meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        readings: Sequence[MeterReading],
    ) -> None:
        owner = None if transaction_id is None else await self._owners.owner(transaction_id)
        if transaction_id is not None and not _runs_on(owner, charge_point_id, connector_id):
            await self._refuse(charge_point_id, connector_id, transaction_id, readings)
            transaction_id = None  # the readings still tell this connector's power
        else:
            progress: tuple[SessionProgressed, ...] = ()
            if owner is not None and transaction_id is not None and readings:
                progress = self._progress.due(transaction_id, owner, connector_id, readings)
            await self._store.add_meter_values(
                charge_point_id, connector_id, transaction_id, readings, self._clock.now(), progress
            )
            for event in progress:
                self._publish(event)
        if self._events is not None and readings:
            latest = readings[-1]
            power = import_power_w(latest)
            if power is not None:
                self._publish(
                    PowerMeasured(
                        charge_point_id,
                        connector_id,
                        transaction_id,
                        power,
                        latest.timestamp,
                        import_register_wh(latest),
                    )
                )

    async def _refuse(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int,
        readings: Sequence[MeterReading],
    ) -> None:
        """Keep the readings unattached and alert; both land in the same commit."""
        await asyncio.gather(
            self._store.add_rejected_meter_values(
                charge_point_id, connector_id, transaction_id, readings, self._clock.now()
            ),
            self._alert_refused(charge_point_id, connector_id, transaction_id),
        )

    async def _alert_refused(
        self, charge_point_id: str, connector_id: int, transaction_id: int
    ) -> None:
        owner = await self._owners.owner(transaction_id)  # in memory by now, known or not
        if owner is not None and owner.charge_point_id == charge_point_id:
            await self._alerts.raise_alert(
                AlertKey(AlertKind.CONNECTOR_MISMATCH, charge_point_id=charge_point_id),
                f"{charge_point_id} sent readings for its transaction {transaction_id} on "
                f"connector {connector_id}, but that transaction runs on connector "
                f"{owner.connector_id}; the readings were kept unattached",
                details={
                    "transaction_id": transaction_id,
                    "connector_id": connector_id,
                    "transaction_connector_id": owner.connector_id,
                },
            )
            return
        # Neither message nor details say whether the id exists or whose it is.
        await self._alerts.raise_alert(
            AlertKey(AlertKind.FOREIGN_TRANSACTION, charge_point_id=charge_point_id),
            f"{charge_point_id} named transaction {transaction_id}, which is not one of its "
            "own; its readings were kept unattached and nothing was closed",
            details={"transaction_id": transaction_id},
        )

    def _publish(self, event: object) -> None:
        if self._events is not None:
            self._events.publish(event)

    async def get(self, transaction_id: int) -> Transaction:
        transaction = await self._store.get(transaction_id)
        if transaction is None:
            raise NotFound(f"transaction {transaction_id} does not exist")
        return transaction

    async def list(
        self,
        charge_point_id: str | None,
        active: bool | None,
        limit: int,
        offset: int,
        where: SessionFilter = NO_FILTER,
        registers: bool = False,
    ) -> Page[Transaction]:
        """Newest first; `registers`: with the energy register readings that their energy
        so far and their cost are counted from (`TariffService.session_costs`)."""
        return await self._store.list(charge_point_id, active, limit, offset, where, registers)

    async def active_on(self, charge_point_ids: Sequence[str]) -> Sequence[Transaction]:
        return await self._store.active_on(charge_point_ids)

    async def charger_readings(
        self, charge_point_id: str, where: ReadingFilter, limit: int, offset: int
    ) -> Page[ChargerReading]:
        """What the charger metered outside any transaction, newest first."""
        return await self._store.charger_readings(charge_point_id, where, limit, offset)


def _stopped(transaction: Transaction) -> TransactionStopped:
    assert transaction.stopped_at is not None, "only a closed transaction tells its stop"
    return TransactionStopped(
        transaction.id,
        transaction.charge_point_id,
        transaction.stopped_at,
        transaction.connector_id,
        meter_stop_wh=transaction.meter_stop,
        energy_wh=None if transaction.energy_wh is None else float(transaction.energy_wh),
        reason=transaction.stop_reason,
    )


class _Reboots:
    """Per charger, when it last booted and which connectors reported a status since: only
    a connector's first status after a boot says what the boot left. A status later than
    WINDOW after the boot says nothing of it. Bounded: the oldest boots are dropped."""

    CAPACITY = 50_000
    WINDOW = timedelta(minutes=15)

    def __init__(self) -> None:
        self._boots: dict[str, tuple[datetime, set[int]]] = {}

    def booted(self, charge_point_id: str, at: datetime) -> None:
        self._boots.pop(charge_point_id, None)
        if len(self._boots) >= self.CAPACITY:
            del self._boots[next(iter(self._boots))]
        self._boots[charge_point_id] = (at, set())

    def first_status(
        self, charge_point_id: str, connector_id: int, now: datetime
    ) -> datetime | None:
        """The boot's instant, when this is the connector's first status since it."""
        boot = self._boots.get(charge_point_id)
        if boot is None:
            return None
        booted_at, reported = boot
        if now - booted_at > self.WINDOW:
            del self._boots[charge_point_id]
            return None
        if connector_id in reported:
            return None
        reported.add(connector_id)
        return booted_at


def _runs_on(owner: TransactionOwner | None, charge_point_id: str, connector_id: int) -> bool:
    """Its own transaction on another connector is refused too: the message contradicts
    itself, and attaching would guess which half is wrong (a wrong guess puts one
    connector's energy into another driver's session). Refusing loses nothing."""
    return (
        owner is not None
        and owner.charge_point_id == charge_point_id
        and owner.connector_id == connector_id
    )


class _ProgressPacing:
    """When each running session last told its progress: one `SessionProgressed` per
    session per interval, however often its charger sends readings (a dict look-up on the
    hot path). Bounded: a session that never stops here is dropped with the oldest."""

    CAPACITY = 50_000

    def __init__(self, interval_s: float) -> None:
        self._interval = timedelta(seconds=interval_s)
        self._last: dict[int, datetime] = {}

    def started(self, transaction_id: int, at: datetime) -> None:
        self._put(transaction_id, at)

    def stopped(self, transaction_id: int) -> None:
        self._last.pop(transaction_id, None)

    def due(
        self,
        transaction_id: int,
        owner: TransactionOwner,
        connector_id: int,
        readings: Sequence[MeterReading],
    ) -> tuple[SessionProgressed, ...]:
        latest = readings[-1]
        last = self._last.get(transaction_id)
        if last is not None and latest.timestamp - last < self._interval:
            return ()
        register = import_register_wh(latest)
        self._put(transaction_id, latest.timestamp)
        return (
            SessionProgressed(
                transaction_id,
                owner.charge_point_id,
                connector_id,
                None if register is None else register - owner.meter_start,
                import_power_w(latest),
                latest.timestamp,
            ),
        )

    def _put(self, transaction_id: int, at: datetime) -> None:
        if transaction_id not in self._last and len(self._last) >= self.CAPACITY:
            del self._last[next(iter(self._last))]
        self._last[transaction_id] = at
