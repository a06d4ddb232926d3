"""Charging sessions: start, meter values, stop, and reading them back."""

from __future__ import annotations

from collections.abc import Sequence

from ampnexus.domain.errors import NotFound
from ampnexus.domain.id_tag import IdTagInfo
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import (
    MeterReading,
    Transaction,
    TransactionStart,
    TransactionStop,
)
from ampnexus.services.authorization import AuthorizationService
from ampnexus.services.ports import Page, TransactionStore


class TransactionService:
    def __init__(
        self, store: TransactionStore, authorization: AuthorizationService, clock: Clock
    ) -> None:
        self._store = store
        self._authorization = authorization
        self._clock = clock

    async def start(self, start: TransactionStart) -> tuple[int, IdTagInfo]:
        """Every start is recorded, even with a bad tag: the charger has already begun
        (offline starts), and the answer's idTagInfo tells it whether to stop."""
        id_tag_info = await self._authorization.authorize(start.id_tag)
        transaction_id = await self._store.start(start, self._clock.now())
        return transaction_id, id_tag_info

    async def stop(self, stop: TransactionStop) -> IdTagInfo | None:
        await self._store.stop(stop, self._clock.now())
        if stop.id_tag is None:
            return None
        return await self._authorization.authorize(stop.id_tag)

    async def meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        readings: Sequence[MeterReading],
    ) -> None:
        await self._store.add_meter_values(
            charge_point_id, connector_id, transaction_id, readings, self._clock.now()
        )

    async def get(self, transaction_id: int) -> Transaction:
        transaction = await self._store.get(transaction_id)
        if transaction is None:
            raise NotFound(f"transaction {transaction_id} does not exist")
        return transaction

    async def list(
        self, charge_point_id: str | None, active: bool | None, limit: int, offset: int
    ) -> Page[Transaction]:
        return await self._store.list(charge_point_id, active, limit, offset)
