"""Vendor-specific DataTransfer: stored always, answered by a registered handler if any."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ampnexus.domain.data_transfer import DataTransferRecord
from ampnexus.domain.time import Clock
from ampnexus.services.ports import DataTransferStore, Page


@dataclass(frozen=True, slots=True)
class DataTransferReply:
    status: str
    data: str | None = None


VendorHandler = Callable[[str, str | None, str | None], Awaitable[DataTransferReply]]


class DataTransferService:
    def __init__(self, store: DataTransferStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._handlers: dict[str, VendorHandler] = {}

    def register_vendor(self, vendor_id: str, handler: VendorHandler) -> None:
        """handler(charge_point_id, message_id, data) -> DataTransferReply."""
        self._handlers[vendor_id] = handler

    async def received(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: str | None
    ) -> DataTransferReply:
        handler = self._handlers.get(vendor_id)
        reply = (
            await handler(charge_point_id, message_id, data)
            if handler
            else DataTransferReply("UnknownVendorId")
        )
        await self._store.record(
            charge_point_id, "in", vendor_id, message_id, data, reply.status, self._clock.now()
        )
        return reply

    async def sent(
        self,
        charge_point_id: str,
        vendor_id: str,
        message_id: str | None,
        data: str | None,
        status: str | None,
    ) -> None:
        await self._store.record(
            charge_point_id, "out", vendor_id, message_id, data, status, self._clock.now()
        )

    async def list(self, charge_point_id: str, limit: int, offset: int) -> Page[DataTransferRecord]:
        """Both directions, newest first."""
        return await self._store.list(charge_point_id, limit, offset)
