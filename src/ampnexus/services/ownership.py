"""Which charger and connector each transaction belongs to, without a database read per
message.

Every MeterValues and StopTransaction names a transaction, and a charger may only name its
own. Ownership never changes once a transaction starts, so it is remembered from the start
and the check on the hot path is a dictionary look-up. A transaction this process did not
see start (after a restart, or one evicted from the bounded map) is read once from the
database. A charger naming ids that do not exist costs no read per frame: ids above the
highest one issued cannot exist, and other unknown ids are remembered as unknown briefly.

Assumption: one AmpNexus node per database, which issues every transaction id and sees
every start. With several nodes, a start on another node would not be seen here: its id
could be above `_highest` or cached as unknown, and its readings refused for a while. Several
nodes would have to share starts (over the bus) or drop both shortcuts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from ampnexus.domain.transaction import TransactionOwner

# About 150 bytes an entry: 50,000 running or recent sessions in under 10 MB. A session
# evicted while it still runs costs one read, then it is back.
KNOWN_CAPACITY = 50_000
# Bounds the memory a charger inventing ids can take; each entry lives UNKNOWN_SECONDS.
UNKNOWN_CAPACITY = 10_000
UNKNOWN_SECONDS = 30.0

K = TypeVar("K")
V = TypeVar("V")


class OwnerLookup(Protocol):
    async def owner(self, transaction_id: int) -> TransactionOwner | None: ...
    async def highest_transaction_id(self) -> int: ...


class TransactionOwners:
    def __init__(
        self,
        lookup: OwnerLookup,
        *,
        known_capacity: int = KNOWN_CAPACITY,
        unknown_capacity: int = UNKNOWN_CAPACITY,
        unknown_seconds: float = UNKNOWN_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._known: dict[int, TransactionOwner] = {}
        self._unknown: dict[int, float] = {}  # id -> when "no such transaction" expires
        self._highest = 0  # the highest id issued that this process knows of
        self._highest_read = False  # until the database's is read, any id may exist
        self._known_capacity = known_capacity
        self._unknown_capacity = unknown_capacity
        self._unknown_seconds = unknown_seconds
        self._monotonic = monotonic

    def remember(self, transaction_id: int, owner: TransactionOwner) -> None:
        """A start was stored: call before its id reaches the charger."""
        self._unknown.pop(transaction_id, None)
        self._highest = max(self._highest, transaction_id)
        _put(self._known, transaction_id, owner, self._known_capacity)

    async def owner(self, transaction_id: int) -> TransactionOwner | None:
        """The owner, or None when no such transaction exists."""
        known = self._known.get(transaction_id)
        if known is not None:
            return known
        if transaction_id < 1 or self._known_unknown(transaction_id):
            return None  # ids are issued from 1 up
        if not self._highest_read:
            highest = await self._lookup.highest_transaction_id()
            self._highest = max(self._highest, highest)  # a start may have come meanwhile
            self._highest_read = True
        owner = None
        if transaction_id <= self._highest:
            owner = await self._lookup.owner(transaction_id)
        if owner is None:
            expires = self._monotonic() + self._unknown_seconds
            _put(self._unknown, transaction_id, expires, self._unknown_capacity)
        else:
            _put(self._known, transaction_id, owner, self._known_capacity)
        return owner

    def _known_unknown(self, transaction_id: int) -> bool:
        if self._highest_read and transaction_id > self._highest:
            return True
        expires = self._unknown.get(transaction_id)
        if expires is None:
            return False
        if expires > self._monotonic():
            return True
        del self._unknown[transaction_id]
        return False


def _put(entries: dict[K, V], key: K, value: V, capacity: int) -> None:
    """Insert, dropping the oldest insertion when full (cheaper than LRU bookkeeping on
    every hit; an evicted entry costs one read to come back)."""
    if key not in entries and len(entries) >= capacity:
        del entries[next(iter(entries))]
    entries[key] = value
