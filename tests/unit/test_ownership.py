"""The transaction-owner map: a database read only where memory cannot answer, and a
charger inventing ids cannot make one per frame."""

from __future__ import annotations

from ampnexus.domain.transaction import TransactionOwner
from ampnexus.services.ownership import TransactionOwners

A1 = TransactionOwner("CP-A", 1)
B1 = TransactionOwner("CP-B", 1)


class Table:
    """Stands in for the transactions table and counts the reads made of it."""

    def __init__(self, owners: dict[int, TransactionOwner]) -> None:
        self.owners = owners
        self.reads: list[int | str] = []

    async def owner(self, transaction_id: int) -> TransactionOwner | None:
        self.reads.append(transaction_id)
        return self.owners.get(transaction_id)

    async def highest_transaction_id(self) -> int:
        self.reads.append("highest")
        return max(self.owners, default=0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_started_transactions_need_no_read() -> None:
    table = Table({})
    owners = TransactionOwners(table)
    owners.remember(7, A1)
    assert await owners.owner(7) == A1
    assert table.reads == []


async def test_a_transaction_from_before_a_restart_is_read_once() -> None:
    table = Table({3: B1})
    owners = TransactionOwners(table)
    for _ in range(5):
        assert await owners.owner(3) == B1
    assert table.reads == ["highest", 3]


async def test_ids_never_issued_cost_no_read_per_frame() -> None:
    table = Table({1: A1, 2: B1, 4: A1})
    clock = Clock()
    owners = TransactionOwners(table, unknown_seconds=30, monotonic=clock)
    for bogus in range(5, 105):  # above the highest: known not to exist
        assert await owners.owner(bogus) is None
    for bogus in range(-(2**31), -(2**31) + 100):  # ids are issued from 1 up
        assert await owners.owner(bogus) is None
    assert await owners.owner(0) is None
    for _ in range(100):  # a gap below it: read once, then remembered as unknown
        assert await owners.owner(3) is None
    assert table.reads == ["highest", 3]

    clock.now = 31.0  # unknown only briefly: it is read again
    assert await owners.owner(3) is None
    assert table.reads == ["highest", 3, 3]


async def test_a_start_replaces_an_unknown_answer_and_raises_the_highest() -> None:
    table = Table({1: A1})
    owners = TransactionOwners(table)
    assert await owners.owner(2) is None
    owners.remember(2, B1)
    owners.remember(3, A1)
    assert await owners.owner(2) == B1
    assert await owners.owner(3) == A1
    assert table.reads == ["highest"]


async def test_memory_is_bounded_and_an_evicted_owner_is_read_back() -> None:
    table = Table({n: A1 for n in range(1, 5)})
    owners = TransactionOwners(table, known_capacity=3, unknown_capacity=2)
    for n in range(1, 5):
        owners.remember(n, A1)
    assert 1 not in owners._known  # the oldest went
    assert await owners.owner(1) == A1
    assert table.reads == ["highest", 1]
    assert len(owners._known) == 3

    owners.remember(50, A1)
    for gap in range(10, 20):  # gaps below the highest: each read, at most 2 remembered
        await owners.owner(gap)
    assert len(owners._unknown) == 2
