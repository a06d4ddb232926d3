"""Session needs: set through the API for a transaction or an id tag, and resolved, with
learned and site defaults, into the energy and departure a plan works with."""

from __future__ import annotations

from typing import Any

from ampnexus.charging.plausible import in_recent_past
from ampnexus.domain.errors import Conflict, NotFound
from ampnexus.domain.events import NeedChanged
from ampnexus.domain.needs import (
    LEARN_FROM_LAST,
    ResolvedNeed,
    SessionNeed,
    default_need,
    resolve_need,
)
from ampnexus.domain.site import Site
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import Transaction
from ampnexus.services.ports import (
    DriverProfileStore,
    EventPublisher,
    IdTagStore,
    NeedStore,
    TransactionStore,
)


class NeedService:
    def __init__(
        self,
        store: NeedStore,
        transactions: TransactionStore,
        id_tags: IdTagStore,
        drivers: DriverProfileStore,
        clock: Clock,
        events: EventPublisher | None = None,
    ) -> None:
        self._store = store
        self._transactions = transactions
        self._id_tags = id_tags
        self._drivers = drivers
        self._clock = clock
        self._events = events

    # --- per transaction ---------------------------------------------------------------------
    async def set_for_transaction(self, transaction_id: int, fields: dict[str, Any]) -> SessionNeed:
        transaction = await self._transaction(transaction_id)
        if not transaction.active:
            raise Conflict(f"transaction {transaction_id} has finished: it needs nothing more")
        need = SessionNeed(transaction_id=transaction_id, updated_at=self._clock.now(), **fields)
        await self._store.put(need)
        self._changed(transaction.charge_point_id)
        return need

    async def for_transaction(self, transaction_id: int) -> SessionNeed:
        await self._transaction(transaction_id)
        need = await self._store.for_transaction(transaction_id)
        if need is None:
            raise NotFound(f"transaction {transaction_id} has no need set")
        return need

    async def delete_for_transaction(self, transaction_id: int) -> None:
        transaction = await self._transaction(transaction_id)
        if not await self._store.delete_for_transaction(transaction_id):
            raise NotFound(f"transaction {transaction_id} has no need set")
        self._changed(transaction.charge_point_id)

    # --- per id tag --------------------------------------------------------------------------
    async def set_for_id_tag(self, id_tag: str, fields: dict[str, Any]) -> SessionNeed:
        spelling = await self._id_tag(id_tag)
        need = SessionNeed(id_tag=spelling, updated_at=self._clock.now(), **fields)
        await self._store.put(need)
        self._changed(None)
        return need

    async def for_id_tag(self, id_tag: str) -> SessionNeed:
        await self._id_tag(id_tag)
        need = await self._store.for_id_tag(id_tag)
        if need is None:
            raise NotFound(f"id tag {id_tag!r} has no need set")
        return need

    async def delete_for_id_tag(self, id_tag: str) -> None:
        await self._id_tag(id_tag)
        if not await self._store.delete_for_id_tag(id_tag):
            raise NotFound(f"id tag {id_tag!r} has no need set")
        self._changed(None)

    # --- for the planner ---------------------------------------------------------------------
    async def resolve(
        self, transaction: Transaction, site: Site, soc_now: float | None = None
    ) -> ResolvedNeed:
        """Energy and departure for a running session: what was said for it or its id tag,
        else the driver's default, else one learned from the driver's past sessions, else
        the site's. A departure already past while the car is still plugged in is overdue:
        the next default departure after now stands in for it."""
        said = [
            await self._store.for_transaction(transaction.id),
            await self._store.for_id_tag(transaction.id_tag),
        ]
        driver = await self._drivers.by_id_tag(transaction.id_tag)
        tags = driver.id_tags if driver else (transaction.id_tag,)
        now = self._clock.now()
        # Chargers' clocks can be absurd (year 9999): such sessions teach nothing, and local
        # times of day near the ends of the calendar cannot even be computed.
        history = [
            past
            for past in await self._store.history(tags, LEARN_FROM_LAST)
            if in_recent_past(past.arrival, past.departure, now)
        ]
        defaults = [
            *([driver.need_default] if driver else []),
            default_need(history, site.need_default, site.time_zone),
            site.need_default,
        ]
        needs = [need for need in said if need is not None]
        return resolve_need(
            transaction.started_at, site.time_zone, needs, defaults, soc_now=soc_now, now=now
        )

    def _changed(self, charge_point_id: str | None) -> None:
        """Plans follow: the charger's site, or every site for an id tag's need."""
        if self._events is not None:
            self._events.publish(NeedChanged(charge_point_id, self._clock.now()))

    async def _transaction(self, transaction_id: int) -> Transaction:
        transaction = await self._transactions.get(transaction_id)
        if transaction is None:
            raise NotFound(f"transaction {transaction_id} does not exist")
        return transaction

    async def _id_tag(self, id_tag: str) -> str:
        """The tag's own spelling: `id_tag` may name it in any case."""
        tag = await self._id_tags.get(id_tag)
        if tag is None:
            raise NotFound(f"id tag {id_tag!r} does not exist")
        return tag.id_tag
