"""Reservations (OCPP 1.6 Reservation profile, §5.13): an operator holds a connector, or any
connector of a charger (0), for an id tag and its group until an expiry date.

The charger keeps the reservation and refuses other tags on a reserved connector; the CSMS
keeps the record, answers a StartTransaction in the same terms (a tag of another group on a
reserved connector is Invalid), closes the reservation when a transaction uses it, when the
charger drops it (its connector Faulted or Unavailable) or at its expiry, and tells smart
charging, which keeps room for the driver to come.

Expiry costs no read per reservation: every read counts an active reservation past its
expiry as expired, and one timer, set to the soonest expiry, stores them in one statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, Protocol

from ampnexus.domain.commands import Answer
from ampnexus.domain.errors import ChargerNotConnected, Conflict, DomainError, Invalid, NotFound
from ampnexus.domain.events import ConnectorStatusChanged
from ampnexus.domain.id_tag import AuthorizationStatus, IdTagInfo
from ampnexus.domain.reservation import (
    TERMINATING_STATUSES,
    CancelStatus,
    NewReservation,
    Reservation,
    ReservationChanged,
    ReservationFilter,
    ReservationState,
    ReserveStatus,
)
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import TransactionStart
from ampnexus.services.authorization import ID_TAG_MAX, AuthorizationService
from ampnexus.services.charge_points import ChargePointService
from ampnexus.services.ports import EventPublisher, Page

log = logging.getLogger(__name__)

# The longest the expiry timer sleeps: a reservation stored by another process is still
# expired within this long.
EXPIRY_CHECK_MAX_S = 60.0


class ReservationStore(Protocol):
    async def add(self, new: NewReservation, at: datetime) -> Reservation: ...
    async def get(self, reservation_id: int) -> Reservation | None: ...
    async def answered(self, reservation_id: int, answer: ReserveStatus) -> None: ...
    async def end(
        self,
        reservation_id: int,
        state: ReservationState,
        reason: str,
        at: datetime,
        answer: ReserveStatus | None = None,
        transaction_id: int | None = None,
    ) -> Reservation | None:
        """Closed if still active; None if it no longer was."""
        ...

    async def active_on(
        self, charge_point_ids: Sequence[str], now: datetime
    ) -> Sequence[Reservation]: ...
    async def list(
        self, where: ReservationFilter, now: datetime, limit: int, offset: int
    ) -> Page[Reservation]: ...
    async def expire(self, now: datetime) -> Sequence[Reservation]: ...
    async def next_expiry(self) -> datetime | None: ...
    async def reserved_chargers(self, now: datetime) -> set[str]:
        """The chargers holding a reservation in force now."""
        ...


class ReservationCommands(Protocol):
    """ReserveNow and CancelReservation, as the charger's protocol speaks them."""

    async def reserve_now(
        self,
        charge_point_id: str,
        reservation_id: int,
        connector_id: int,
        id_tag: str,
        parent_id_tag: str | None,
        expires_at: datetime,
    ) -> Answer[ReserveStatus]: ...

    async def cancel_reservation(
        self, charge_point_id: str, reservation_id: int
    ) -> Answer[CancelStatus]: ...


class ReservationService:
    def __init__(
        self,
        store: ReservationStore,
        commands: ReservationCommands,
        charge_points: ChargePointService,
        authorization: AuthorizationService,
        clock: Clock,
        events: EventPublisher | None = None,
    ) -> None:
        self._store = store
        self._commands = commands
        self._charge_points = charge_points
        self._authorization = authorization
        self._clock = clock
        self._events = events
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()  # a new reservation may expire before the timer's next
        self._timer: asyncio.Task[None] | None = None
        self._reserved: set[str] | None = None  # chargers holding a reservation (None: read)
        self._reservation_changes = 0  # reservations made or ended: a read they overtook

    # --- the operator's side ------------------------------------------------------------------
    async def reserve(
        self,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        expires_at: datetime,
        parent_id_tag: str | None = None,
    ) -> Reservation:
        """Stored, then sent as ReserveNow; the charger's answer is kept with it (anything
        but Accepted leaves it rejected). An id tag that may not charge there is refused;
        the parent id tag is the tag's own unless given."""
        now = self._clock.now()
        _check(connector_id, id_tag, parent_id_tag, expires_at, now)
        await self._charge_points.get(charge_point_id)  # 404 before anything else
        info = await self._authorization.authorize(id_tag, charge_point_id)
        if info.status is not AuthorizationStatus.ACCEPTED:
            raise Invalid(f"id tag {id_tag!r} may not charge here ({info.status.value})")
        await self._no_other_on(charge_point_id, connector_id, now)
        if not self._charge_points.is_connected(charge_point_id):
            raise ChargerNotConnected(f"charge point {charge_point_id!r} is not connected")
        new = NewReservation(
            charge_point_id, connector_id, id_tag, parent_id_tag or info.parent_id_tag, expires_at
        )
        # Stored before it is sent: its id is the reservationId, and a StartTransaction
        # naming it may arrive before the answer is read here.
        reservation = await self._store.add(new, now)
        self._reserved_changed()
        try:
            answer = await self._commands.reserve_now(
                charge_point_id,
                reservation.id,
                connector_id,
                new.id_tag,
                new.parent_id_tag,
                expires_at,
            )
        except DomainError as error:
            await self._end(reservation, ReservationState.REJECTED, f"no answer: {error}")
            raise
        status = answer.status
        if status is ReserveStatus.ACCEPTED:
            await self._store.answered(reservation.id, status)
            self._changed(reservation, ReservationState.ACTIVE)
            self._wake.set()
        else:
            reason = f"the charger answered {status.value}"
            await self._end(reservation, ReservationState.REJECTED, reason, answer=status)
        return await self.get(reservation.id)

    async def cancel(self, reservation_id: int) -> tuple[Reservation, CancelStatus]:
        """CancelReservation. Rejected means the charger holds no such reservation: it then
        holds nothing either way, and the reservation is closed too (reason says which)."""
        reservation = await self.get(reservation_id)
        state = reservation.state_at(self._clock.now())
        if state is not ReservationState.ACTIVE:
            raise Conflict(f"reservation {reservation_id} is {state.value}: nothing to cancel")
        answer = await self._commands.cancel_reservation(
            reservation.charge_point_id, reservation_id
        )
        reason = (
            "cancelled by the operator"
            if answer.status is CancelStatus.ACCEPTED
            else "cancelled; the charger held no such reservation (it answered Rejected)"
        )
        await self._end(reservation, ReservationState.CANCELLED, reason)
        return await self.get(reservation_id), answer.status

    async def get(self, reservation_id: int) -> Reservation:
        reservation = await self._store.get(reservation_id)
        if reservation is None:
            raise NotFound(f"reservation {reservation_id} does not exist")
        return reservation

    async def list(self, where: ReservationFilter, limit: int, offset: int) -> Page[Reservation]:
        """Newest first."""
        return await self._store.list(where, self._clock.now(), limit, offset)

    async def active_on(self, charge_point_ids: Sequence[str]) -> Sequence[Reservation]:
        """The chargers' reservations in force now (smart charging keeps room for them)."""
        return await self._store.active_on(charge_point_ids, self._clock.now())

    async def _no_other_on(self, charge_point_id: str, connector_id: int, now: datetime) -> None:
        held = await self._store.active_on([charge_point_id], now)
        taken = next((r for r in held if r.connector_id == connector_id), None)
        if taken is not None:
            raise Conflict(
                f"connector {connector_id} of {charge_point_id} is already reserved "
                f"(reservation {taken.id}, until {taken.expires_at.isoformat()})"
            )

    # --- the charger's side -------------------------------------------------------------------
    async def admit(
        self, start: TransactionStart, info: IdTagInfo
    ) -> tuple[IdTagInfo, Reservation | None]:
        """A StartTransaction against the charger's reservations: the answer it gets, and
        the reservation the transaction uses, if any (the one it names, else one of its tag's
        group covering the connector). A tag of another group on a reserved connector is
        Invalid: the charger should have refused it (§5.13). A reservation of connector 0
        refuses nobody here: the charger keeps one of its connectors free."""
        if start.charge_point_id not in await self._reserved_chargers():
            return info, None  # the common case, answered from memory: a start reads nothing
        if start.reservation_id is not None:
            named = await self._store.get(start.reservation_id)
            if (
                named is not None
                and named.charge_point_id == start.charge_point_id
                and named.state is ReservationState.ACTIVE  # its clock may be behind ours
            ):
                return info, named
        held = await self._store.active_on([start.charge_point_id], self._clock.now())
        covering = sorted(
            (r for r in held if r.covers(start.connector_id)), key=lambda r: r.connector_id == 0
        )
        if not covering:
            return info, None
        own = next((r for r in covering if r.admits(start.id_tag, info.parent_id_tag)), None)
        if own is not None:
            return info, own
        reserved = covering[0].connector_id != 0
        if reserved and info.status is AuthorizationStatus.ACCEPTED:
            return IdTagInfo(AuthorizationStatus.INVALID, parent_id_tag=info.parent_id_tag), None
        return info, None

    async def used(self, reservation: Reservation, transaction_id: int) -> None:
        reason = f"transaction {transaction_id} started with it"
        await self._end(reservation, ReservationState.USED, reason, transaction_id=transaction_id)

    def attach(self, bus: Any) -> None:
        bus.subscribe(ConnectorStatusChanged, self._status_changed)

    def _status_changed(self, event: ConnectorStatusChanged) -> None:
        if event.status in TERMINATING_STATUSES:
            self._spawn(self._dropped(event))

    async def _dropped(self, event: ConnectorStatusChanged) -> None:
        """The charger terminates its reservations on a connector that becomes Faulted or
        Unavailable (connector 0: all of them); those made after the report are kept."""
        held = await self._store.active_on([event.charge_point_id], self._clock.now())
        for reservation in held:
            if reservation.created_at > event.at:
                continue
            if event.connector_id in (0, reservation.connector_id):
                reason = f"connector {event.connector_id} reported {event.status}"
                await self._end(reservation, ReservationState.CANCELLED, reason)

    # --- expiry -------------------------------------------------------------------------------
    async def expire_due(self) -> int:
        """Store as expired the reservations whose expiry date has passed; how many."""
        expired = await self._store.expire(self._clock.now())
        for reservation in expired:
            self._changed(reservation, ReservationState.EXPIRED)
        return len(expired)

    def start(self) -> None:
        self._timer = asyncio.create_task(self._expire_on_time())

    async def _expire_on_time(self) -> None:
        while True:
            try:
                self._wake.clear()  # before the read: a reservation made during it wakes us
                soonest = await self._store.next_expiry()
                delay = EXPIRY_CHECK_MAX_S
                if soonest is not None:
                    delay = (soonest - self._clock.now()).total_seconds()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(max(delay, 0.0), EXPIRY_CHECK_MAX_S)):
                        await self._wake.wait()
                await self.expire_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not expire reservations; trying again")
                await asyncio.sleep(EXPIRY_CHECK_MAX_S)

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._timer] if self._timer else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- helpers ------------------------------------------------------------------------------
    async def _end(
        self,
        reservation: Reservation,
        state: ReservationState,
        reason: str,
        answer: ReserveStatus | None = None,
        transaction_id: int | None = None,
    ) -> None:
        ended = await self._store.end(
            reservation.id, state, reason, self._clock.now(), answer, transaction_id
        )
        if ended is not None:
            self._changed(ended, state)

    async def _reserved_chargers(self) -> set[str]:
        """The chargers holding a reservation, read again only after one was made or ended
        (a read that a change overtook is not kept). It may hold one whose reservation has
        just expired: `admit` then reads what is in force."""
        known = self._reserved
        if known is None:
            changes = self._reservation_changes
            known = await self._store.reserved_chargers(self._clock.now())
            if changes == self._reservation_changes:
                self._reserved = known
        return known

    def _reserved_changed(self) -> None:
        self._reservation_changes += 1
        self._reserved = None

    def _changed(self, reservation: Reservation, state: ReservationState) -> None:
        self._reserved_changed()
        if self._events is not None:
            self._events.publish(
                ReservationChanged(
                    reservation.id,
                    reservation.charge_point_id,
                    reservation.connector_id,
                    state,
                    self._clock.now(),
                )
            )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reservation update failed", exc_info=task.exception())


def _check(
    connector_id: int,
    id_tag: str,
    parent_id_tag: str | None,
    expires_at: datetime,
    now: datetime,
) -> None:
    if connector_id < 0:
        raise Invalid("connector id must not be negative (0 reserves any connector)")
    if not 1 <= len(id_tag) <= ID_TAG_MAX:
        raise Invalid(f"id tag must be 1 to {ID_TAG_MAX} characters")
    if parent_id_tag is not None and not 1 <= len(parent_id_tag) <= ID_TAG_MAX:
        raise Invalid(f"parent id tag must be 1 to {ID_TAG_MAX} characters")
    if expires_at.tzinfo is None:
        raise Invalid("expiry must name its time zone (e.g. end in Z for UTC)")
    if expires_at <= now:
        raise Invalid("expiry must be in the future")
