"""Charging sessions: start, meter values, stop, and reading them back."""

from __future__ import annotations

from collections.abc import Sequence

from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import PowerMeasured, TransactionStarted, TransactionStopped
from ampnexus.domain.id_tag import IdTagInfo
from ampnexus.domain.time import Clock
from ampnexus.domain.transaction import (
    MeterReading,
    Transaction,
    TransactionStart,
    TransactionStop,
    import_power_w,
    import_register_wh,
)
from ampnexus.services.authorization import AuthorizationService
from ampnexus.services.ports import EventPublisher, Page, TransactionStore


class TransactionService:
    def __init__(
        self,
        store: TransactionStore,
        authorization: AuthorizationService,
        clock: Clock,
        events: EventPublisher | None = None,
    ) -> None:
        self._store = store
        self._authorization = authorization
        self._clock = clock
        self._events = events

    async def start(self, start: TransactionStart) -> tuple[int, IdTagInfo]:
        """Every start is recorded, even with a bad tag: the charger has already begun
        (offline starts), and the answer's idTagInfo tells it whether to stop."""
        id_tag_info = await self._authorization.authorize(start.id_tag)
        transaction_id = await self._store.start(start, self._clock.now())
        self._publish(
            TransactionStarted(
                transaction_id,
                start.charge_point_id,
                start.connector_id,
                start.id_tag,
                start.timestamp,
            )
        )
        return transaction_id, id_tag_info

    async def stop(self, stop: TransactionStop) -> IdTagInfo | None:
        if await self._store.stop(stop, self._clock.now()):
            self._publish(
                TransactionStopped(stop.transaction_id, stop.charge_point_id, stop.timestamp)
            )
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

    def _publish(self, event: object) -> None:
        if self._events is not None:
            self._events.publish(event)

    async def get(self, transaction_id: int) -> Transaction:
        transaction = await self._store.get(transaction_id)
        if transaction is None:
            raise NotFound(f"transaction {transaction_id} does not exist")
        return transaction

    async def list(
        self, charge_point_id: str | None, active: bool | None, limit: int, offset: int
    ) -> Page[Transaction]:
        return await self._store.list(charge_point_id, active, limit, offset)
