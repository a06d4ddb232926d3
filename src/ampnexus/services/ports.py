"""Interfaces the services need from the outer rings (storage, protocol adapter)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from ampnexus.domain.api_key import ApiKey
from ampnexus.domain.charge_point import BootInfo, ChargePoint, Connector
from ampnexus.domain.id_tag import IdTag
from ampnexus.domain.transaction import (
    MeterReading,
    Transaction,
    TransactionStart,
    TransactionStop,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int


@dataclass(frozen=True, slots=True)
class StatusRecord:
    connector: Connector
    received_at: datetime


class ChargePointStore(Protocol):
    async def get(self, charge_point_id: str) -> ChargePoint | None: ...
    async def list(self, limit: int, offset: int) -> Page[ChargePoint]: ...
    async def add(self, charge_point: ChargePoint) -> None: ...
    async def update(self, charge_point_id: str, changes: dict[str, Any]) -> None: ...
    async def delete(self, charge_point_id: str) -> bool: ...
    async def record_boot(
        self, charge_point_id: str, boot: BootInfo, at: datetime, heartbeat_interval: int
    ) -> None: ...
    async def record_status(self, charge_point_id: str, record: StatusRecord) -> None: ...
    async def record_last_seen(self, seen: dict[str, datetime]) -> None: ...
    async def status_history(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[StatusRecord]: ...


class IdTagStore(Protocol):
    async def get(self, id_tag: str) -> IdTag | None: ...
    async def list(self, limit: int, offset: int) -> Page[IdTag]: ...
    async def add(self, tag: IdTag, at: datetime) -> None: ...
    async def replace(self, tag: IdTag) -> None: ...
    async def delete(self, id_tag: str) -> bool: ...


class TransactionStore(Protocol):
    async def start(self, start: TransactionStart, at: datetime) -> int:
        """Store a start and return its id; a replayed identical start returns the first id."""
        ...

    async def stop(self, stop: TransactionStop, at: datetime) -> bool:
        """Close a transaction; False when the charger named an unknown one."""
        ...

    async def add_meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        readings: Sequence[MeterReading],
        at: datetime,
    ) -> None: ...
    async def get(self, transaction_id: int) -> Transaction | None: ...
    async def list(
        self, charge_point_id: str | None, active: bool | None, limit: int, offset: int
    ) -> Page[Transaction]: ...


class DataTransferStore(Protocol):
    async def record(
        self,
        charge_point_id: str,
        direction: str,
        vendor_id: str,
        message_id: str | None,
        data: str | None,
        status: str | None,
        at: datetime,
    ) -> None: ...


class ApiKeyStore(Protocol):
    async def add(self, name: str, prefix: str, digest: str, at: datetime) -> ApiKey: ...
    async def find_active(self, digest: str) -> ApiKey | None: ...
    async def list(self) -> Sequence[ApiKey]: ...
    async def revoke(self, key_id: int, at: datetime) -> bool: ...


class EventPublisher(Protocol):
    def publish(self, event: object) -> None: ...


class CommandPort(Protocol):
    """Sends a CALL to a connected charger and returns its CALLRESULT payload.

    Raises ChargerNotConnected, CommandTimeout or CommandFailed (a CALLERROR).
    """

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any]) -> Any: ...

    def is_connected(self, charge_point_id: str) -> bool: ...
