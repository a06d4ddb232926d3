""" "Charge now": the owner overrides a charger's mode for one running session (no peak
windows, no random delay) until it ends. Set and cancelled with who and when on the
charger's mode trail; smart charging hears of both as ModeChanged and replans at once."""

from __future__ import annotations

from ampnexus.domain.charging_mode import ModeChange
from ampnexus.domain.errors import Conflict, NotFound
from ampnexus.domain.events import ModeChanged
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import Transaction
from ampnexus.services.ports import EventPublisher, ModeStore, TransactionStore


class SessionEnded(Conflict):
    """An override asked for, or cancelled, on a session that has stopped."""


class OverrideService:
    def __init__(
        self,
        modes: ModeStore,
        transactions: TransactionStore,
        clock: Clock,
        events: EventPublisher | None = None,
    ) -> None:
        self._modes = modes
        self._transactions = transactions
        self._clock = clock
        self._events = events

    async def set(self, transaction_id: int, set_by: str) -> Transaction:
        """Charge now. NotFound for an unknown session, SessionEnded for a stopped one;
        setting it again records nothing."""
        session = await self._running(transaction_id)
        at = self._clock.now()
        change = await self._modes.set_override(session.charge_point_id, session.id, set_by, at)
        return await self._after(session, change)

    async def cancel(self, transaction_id: int, cancelled_by: str) -> Transaction:
        """Back to the charger's mode; nothing is recorded when the session had no override."""
        session = await self._running(transaction_id)
        at = self._clock.now()
        change = await self._modes.cancel_override(
            session.charge_point_id, session.id, cancelled_by, at
        )
        return await self._after(session, change)

    async def _running(self, transaction_id: int) -> Transaction:
        session = await self._transactions.get(transaction_id)
        if session is None:
            raise NotFound(f"transaction {transaction_id} does not exist")
        if not session.active:
            raise SessionEnded(
                f"transaction {transaction_id} stopped at {session.stopped_at:%Y-%m-%dT%H:%M:%SZ}"
                ": an override lasts only while its session runs"
            )
        return session

    async def _after(self, session: Transaction, change: ModeChange | None) -> Transaction:
        if change is not None and self._events is not None:
            own = await self._modes.get(session.charge_point_id)
            mode = None if own is None else own.mode.value
            self._events.publish(ModeChanged(session.charge_point_id, mode, change.changed_at))
        found = await self._transactions.get(session.id)
        assert found is not None  # transactions are never deleted
        return found
