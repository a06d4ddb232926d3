"""Session needs: set through the API for a transaction or an id tag, and resolved, with
learned and site defaults, into the energy and departure a plan works with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ampnexus.charging.plausible import in_recent_past
from ampnexus.domain.driver import DriverProfile
from ampnexus.domain.errors import Conflict, NotFound
from ampnexus.domain.events import DriverChanged, IdTagChanged, NeedChanged, TransactionStopped
from ampnexus.domain.needs import (
    LEARN_FROM_LAST,
    PastSession,
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

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
CACHE_MAX = 100_000  # id tags remembered; beyond, the cache starts again


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What a plan takes from a running session's driver: the need, and the driver's
    profile (None: the tag is bound to none)."""

    need: ResolvedNeed
    driver: DriverProfile | None


@dataclass(frozen=True, slots=True)
class _Known:
    drivers: dict[str, DriverProfile | None]
    history: dict[str, list[PastSession] | None]
    by_tag: dict[str, SessionNeed | None]
    by_transaction: dict[int, SessionNeed | None]


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
        self._drivers_store = drivers
        self._clock = clock
        self._events = events
        # What every replan reads for every session changes seldom: kept between replans,
        # dropped as needs are stored here and on the events that change the rest (attach).
        self._drivers: dict[str, DriverProfile | None] = {}  # by id tag in lower case
        self._history: dict[str, list[PastSession] | None] = {}  # newest finished, by tag
        self._by_tag: dict[str, SessionNeed | None] = {}
        self._by_transaction: dict[int, SessionNeed | None] = {}
        self._tag_of: dict[int, str] = {}  # transaction -> its tag, to drop on its stop
        self._generation = 0

    # --- per transaction ---------------------------------------------------------------------
    async def set_for_transaction(self, transaction_id: int, fields: dict[str, Any]) -> SessionNeed:
        transaction = await self._transaction(transaction_id)
        if not transaction.active:
            raise Conflict(f"transaction {transaction_id} has finished: it needs nothing more")
        need = SessionNeed(transaction_id=transaction_id, updated_at=self._clock.now(), **fields)
        await self._store.put(need)
        self._invalidate(lambda: self._by_transaction.pop(transaction_id, None))
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
        self._invalidate(lambda: self._by_transaction.pop(transaction_id, None))
        self._changed(transaction.charge_point_id)

    # --- per id tag --------------------------------------------------------------------------
    async def set_for_id_tag(self, id_tag: str, fields: dict[str, Any]) -> SessionNeed:
        spelling = await self._id_tag(id_tag)
        need = SessionNeed(id_tag=spelling, updated_at=self._clock.now(), **fields)
        await self._store.put(need)
        self._invalidate(lambda: self._by_tag.pop(_key(spelling), None))
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
        self._invalidate(lambda: self._by_tag.pop(_key(id_tag), None))
        self._changed(None)

    # --- for the planner ---------------------------------------------------------------------
    async def resolve(
        self, transaction: Transaction, site: Site, soc_now: float | None = None
    ) -> ResolvedNeed:
        """Energy and departure for a running session: what was said for it or its id tag,
        else the driver's default, else one learned from the driver's past sessions, else
        the site's. A departure already past while the car is still plugged in is overdue:
        the next default departure after now stands in for it."""
        known = await self._known([transaction])
        return self._facts(transaction, site, known, self._clock.now(), soc_now).need

    async def resolve_all(
        self, transactions: Sequence[Transaction], site: Site
    ) -> dict[int, SessionFacts]:
        """`resolve` for all of a site's sessions, with their drivers, in a few reads (none
        for what is cached), by transaction id."""
        known, now = await self._known(transactions), self._clock.now()
        return {t.id: self._facts(t, site, known, now) for t in transactions}

    def _facts(
        self,
        transaction: Transaction,
        site: Site,
        known: _Known,
        now: datetime,
        soc_now: float | None = None,
    ) -> SessionFacts:
        tag = _key(transaction.id_tag)
        driver = known.drivers.get(tag)
        said = [known.by_transaction.get(transaction.id), known.by_tag.get(tag)]
        tags = {_key(t) for t in driver.id_tags} if driver else {tag}
        newest = sorted(
            (past for t in tags for past in known.history.get(t) or ()),
            key=lambda past: past.arrival,
            reverse=True,
        )[:LEARN_FROM_LAST]
        # Chargers' clocks can be absurd (year 9999): such sessions teach nothing, and local
        # times of day near the ends of the calendar cannot even be computed.
        history = [past for past in newest if in_recent_past(past.arrival, past.departure, now)]
        site_default = site.need_default
        defaults = [
            *([driver.need_default] if driver else []),
            default_need(history, site_default, site.time_zone),
            site_default,
        ]
        needs = [need for need in said if need is not None]
        need = resolve_need(
            transaction.started_at, site.time_zone, needs, defaults, soc_now=soc_now, now=now
        )
        return SessionFacts(need, driver)

    async def _known(self, transactions: Sequence[Transaction]) -> _Known:
        """What resolving these sessions takes: from the cache, and one read per kind for
        what it misses. Kept only when nothing was invalidated during the reads."""
        generation = self._generation
        tags = {_key(t.id_tag) for t in transactions}
        drivers = await _through(self._drivers, tags, self._drivers_store.by_id_tags)
        bound = {_key(tag) for d in drivers.values() if d is not None for tag in d.id_tags}
        known = _Known(
            drivers=drivers,
            history=await _through(self._history, tags | bound, self._histories),
            by_tag=await _through(self._by_tag, tags, self._store.for_id_tags),
            by_transaction=await _through(
                self._by_transaction, {t.id for t in transactions}, self._store.for_transactions
            ),
        )
        if self._generation == generation:
            if len(self._history) > CACHE_MAX:  # tags come and go: bounded
                self._forget_all()
            self._drivers.update(known.drivers)
            self._history.update(known.history)
            self._by_tag.update(known.by_tag)
            self._by_transaction.update(known.by_transaction)
            self._tag_of.update({t.id: _key(t.id_tag) for t in transactions})
        return known

    async def _histories(self, tags: Sequence[str]) -> dict[str, list[PastSession]]:
        return await self._store.histories(tags, LEARN_FROM_LAST)

    # --- keeping the cache -------------------------------------------------------------------
    def attach(self, bus: Any) -> None:
        """Drop what the events say changed; needs set here are dropped as they are stored."""
        bus.subscribe(DriverChanged, lambda event: self._invalidate(self._drivers.clear))
        bus.subscribe(IdTagChanged, self._tag_changed)
        bus.subscribe(TransactionStopped, self._stopped)

    def _tag_changed(self, event: IdTagChanged) -> None:
        def drop() -> None:  # a deleted tag took its binding and its need along
            self._drivers.clear()
            self._by_tag.pop(_key(event.id_tag), None)

        self._invalidate(drop)

    def _stopped(self, event: TransactionStopped) -> None:
        """Its driver has one more past session to learn from; its own need is done."""

        def drop() -> None:
            self._by_transaction.pop(event.transaction_id, None)
            tag = self._tag_of.pop(event.transaction_id, None)
            if tag is None:
                self._history.clear()
            else:
                self._history.pop(tag, None)

        self._invalidate(drop)

    def _invalidate(self, drop: Callable[[], object]) -> None:
        self._generation += 1  # a read in flight may hold what is dropped now
        drop()

    def _forget_all(self) -> None:
        for cache in (self._drivers, self._history, self._by_tag, self._by_transaction):
            cache.clear()
        self._tag_of.clear()

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


def _key(id_tag: str) -> str:
    """Id tags are case-insensitive: cached by their lower case."""
    return id_tag.lower()


async def _through(
    cache: dict[K, V | None], keys: set[K], read: Callable[[list[K]], Awaitable[dict[K, V]]]
) -> dict[K, V | None]:
    """`keys` from the cache, the missing ones read at once (None: nothing stored)."""
    missing = [key for key in keys if key not in cache]
    found = await read(missing) if missing else {}
    return {key: cache[key] if key in cache else found.get(key) for key in keys}
