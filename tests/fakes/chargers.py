"""Fake stores of the charger side: charge points, id tags, transactions, data transfers,
API keys and alerts. Each keeps what its SQL store enforces and the services rely on."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from itertools import groupby
from typing import Any

from ampnexus.domain.alert import Alert, AlertKey, AlertKind, Severity
from ampnexus.domain.api_key import ApiKey, ApiKeyScope
from ampnexus.domain.charge_point import BootInfo, ChargePoint
from ampnexus.domain.data_transfer import DataTransferRecord, Direction
from ampnexus.domain.errors import Conflict
from ampnexus.domain.id_tag import IdTag
from ampnexus.domain.transaction import (
    DEFAULT_UNITS,
    NO_FILTER,
    ChargerReading,
    LeftOpen,
    MeterReading,
    ReadingFilter,
    SampledValue,
    SessionFilter,
    Transaction,
    TransactionOwner,
    TransactionStart,
    TransactionStop,
    import_register_wh,
)
from ampnexus.services.feed import Announce
from ampnexus.services.ports import Page, StatusRecord
from tests.fakes.memory import Memory, StoredReading, fold, page

_CHARGE_POINT_CHANGES = frozenset(
    {"description", "registration_status", "security_profile", "password_hash"}
)


class FakeChargePointStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def get(self, charge_point_id: str) -> ChargePoint | None:
        stored = self._m.charge_points.get(charge_point_id)
        return None if stored is None else self._full(stored)

    async def list(self, limit: int, offset: int) -> Page[ChargePoint]:
        ordered = [self._full(cp) for _, cp in sorted(self._m.charge_points.items())]
        return page(ordered, limit, offset)

    async def add(self, charge_point: ChargePoint) -> None:
        if charge_point.id in self._m.charge_points:
            raise Conflict(f"charge point {charge_point.id!r} is already registered")
        self._m.charge_points[charge_point.id] = replace(
            charge_point, connectors=(), site_id=None, circuit_id=None
        )

    async def update(self, charge_point_id: str, changes: dict[str, Any]) -> None:
        unknown = set(changes) - _CHARGE_POINT_CHANGES
        assert not unknown, f"the SQL store has no such columns to update: {unknown}"
        stored = self._m.charge_points.get(charge_point_id)
        if stored is not None:
            self._m.charge_points[charge_point_id] = replace(stored, **changes)

    async def delete(self, charge_point_id: str) -> bool:
        if self._m.charge_points.pop(charge_point_id, None) is None:
            return False
        self._m.placements.pop(charge_point_id, None)
        self._m.modes.pop(charge_point_id, None)  # ON DELETE CASCADE; its trail stays
        self._m.operator_profiles[:] = [  # ON DELETE CASCADE
            p for p in self._m.operator_profiles if p.charge_point_id != charge_point_id
        ]
        for key in [key for key in self._m.connectors if key[0] == charge_point_id]:
            del self._m.connectors[key]
        return True  # its status history stays, as in SQL (no foreign key)

    async def record_boot(
        self, charge_point_id: str, boot: BootInfo, at: datetime, heartbeat_interval: int
    ) -> None:
        stored = self._m.charge_points.get(charge_point_id)
        if stored is None:
            return  # an UPDATE of no row
        self._m.charge_points[charge_point_id] = replace(
            stored,
            vendor=boot.vendor,
            model=boot.model,
            serial_number=boot.serial_number,
            firmware_version=boot.firmware_version,
            charge_box_serial_number=boot.charge_box_serial_number,
            iccid=boot.iccid,
            imsi=boot.imsi,
            meter_type=boot.meter_type,
            meter_serial_number=boot.meter_serial_number,
            last_boot=at,
            last_seen=at,
        )

    async def record_status(
        self, charge_point_id: str, record: StatusRecord, events: Sequence[object] = ()
    ) -> None:
        self._m.status_history.append((charge_point_id, record))
        self._m.feed.extend(events)
        connector = record.connector
        self._m.connectors[(charge_point_id, connector.connector_id)] = connector

    async def record_last_seen(self, seen: dict[str, datetime]) -> None:
        for charge_point_id, at in seen.items():
            stored = self._m.charge_points.get(charge_point_id)
            if stored is not None:
                self._m.charge_points[charge_point_id] = replace(stored, last_seen=at)

    async def status_history(
        self, charge_point_id: str, limit: int, offset: int
    ) -> Page[StatusRecord]:
        newest_first = [r for cp, r in reversed(self._m.status_history) if cp == charge_point_id]
        return page(newest_first, limit, offset)

    def _full(self, stored: ChargePoint) -> ChargePoint:
        connectors = tuple(
            connector
            for (cp, _), connector in sorted(self._m.connectors.items())
            if cp == stored.id
        )
        placement = self._m.placements.get(stored.id)
        return replace(
            stored,
            connectors=connectors,
            site_id=placement.site_id if placement else None,
            circuit_id=placement.circuit_id if placement else None,
        )


class FakeIdTagStore:
    """One tag per spelling in any case; it keeps the spelling it was created with."""

    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def get(self, id_tag: str) -> IdTag | None:
        return self._m.id_tag(id_tag)

    async def list(self, limit: int, offset: int) -> Page[IdTag]:
        ordered = sorted(self._m.id_tags.values(), key=lambda tag: tag.id_tag)
        return page(ordered, limit, offset)

    async def add(self, tag: IdTag, at: datetime) -> None:
        if self._m.id_tag(tag.id_tag) is not None:
            raise Conflict(f"id tag {tag.id_tag!r} already exists")
        self._m.id_tags[fold(tag.id_tag)] = tag

    async def replace(self, tag: IdTag) -> None:
        stored = self._m.id_tag(tag.id_tag)
        if stored is not None and stored.id_tag == tag.id_tag:  # SQL matches the exact spelling
            self._m.id_tags[fold(tag.id_tag)] = tag

    async def delete(self, id_tag: str) -> bool:
        return self._m.delete_id_tag(id_tag)


class FakeTransactionStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory
        self._received: dict[int, datetime] = {}  # created_at, by transaction id

    async def start(
        self, start: TransactionStart, at: datetime, announce: Announce[int] | None = None
    ) -> int:
        for transaction in self._m.transactions.values():
            if _start_key(transaction) == (
                start.charge_point_id,
                start.connector_id,
                start.id_tag,
                start.meter_start,
                start.timestamp,
            ):
                return transaction.id  # a replayed start: the unique key finds the first
        transaction_id = self._m.next_id("transactions")
        self._m.transactions[transaction_id] = Transaction(
            id=transaction_id,
            charge_point_id=start.charge_point_id,
            connector_id=start.connector_id,
            id_tag=start.id_tag,
            meter_start=start.meter_start,
            started_at=start.timestamp,
            started_remotely=start.started_remotely,
            reservation_id=start.reservation_id,
        )
        self._received[transaction_id] = at
        if announce is not None:
            self._m.feed.extend(announce(transaction_id))
        return transaction_id

    async def stop(
        self, stop: TransactionStop, at: datetime, events: Sequence[object] = ()
    ) -> bool:
        transaction = self._m.transactions.get(stop.transaction_id)
        if transaction is None or transaction.charge_point_id != stop.charge_point_id:
            return False
        if not transaction.active:
            return True  # a replayed stop: already recorded, nothing changes
        self._m.transactions[transaction.id] = replace(
            transaction,
            stopped_at=stop.timestamp,
            meter_stop=stop.meter_stop,
            stop_reason=stop.reason or "Local",
            stop_id_tag=stop.id_tag,
        )
        self._keep(
            stop.charge_point_id,
            transaction.connector_id,
            transaction.id,
            None,
            stop.transaction_data,
            at,
        )
        self._m.feed.extend(events)
        return True

    async def add_meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        readings: Sequence[MeterReading],
        at: datetime,
        events: Sequence[object] = (),
    ) -> None:
        self._keep(charge_point_id, connector_id, transaction_id, None, readings, at)
        self._m.feed.extend(events)

    async def add_rejected_meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        claimed_transaction_id: int,
        readings: Sequence[MeterReading],
        at: datetime,
    ) -> None:
        self._keep(charge_point_id, connector_id, None, claimed_transaction_id, readings, at)

    async def close_left_open(
        self, left: LeftOpen, announce: Announce[builtins.list[Transaction]] | None = None
    ) -> builtins.list[Transaction]:
        closed = []
        for t in sorted(self._m.transactions.values(), key=lambda t: t.id):
            if not self._left_open(t, left):
                continue
            stopped_at, meter_stop = left.fallback_at, t.meter_start
            registers = self._register_readings(t.id)
            register = import_register_wh(registers[-1]) if registers else None
            if register is not None:
                stopped_at, meter_stop = (
                    registers[-1].timestamp,
                    max(t.meter_start, round(register)),
                )
            done = replace(
                t,
                stopped_at=max(t.started_at, stopped_at),
                meter_stop=meter_stop,
                stop_reason=left.reason,
                stop_detail=left.detail,
            )
            self._m.transactions[t.id] = done
            closed.append(self._shown(done))
        if announce is not None:
            self._m.feed.extend(announce(closed))
        return closed

    def _left_open(self, t: Transaction, left: LeftOpen) -> bool:
        received = self._received.get(t.id)
        return (
            t.active
            and (t.charge_point_id, t.connector_id) == (left.charge_point_id, left.connector_id)
            and (left.other_than is None or t.id != left.other_than)
            and (left.started_by is None or t.started_at <= left.started_by)
            and (
                left.received_before is None
                or (received is not None and received < left.received_before)
            )
        )

    async def charger_readings(
        self, charge_point_id: str, where: ReadingFilter, limit: int, offset: int
    ) -> Page[ChargerReading]:
        found = [
            (index, ChargerReading(r.connector_id, r.reading.timestamp, sample, r.received_at))
            for index, r in enumerate(self._m.readings)
            if r.charge_point_id == charge_point_id
            and r.transaction_id is None
            and r.rejected_id is None
            and (where.connector_id is None or r.connector_id == where.connector_id)
            and (where.since is None or r.reading.timestamp >= where.since)
            and (where.until is None or r.reading.timestamp < where.until)
            for sample in r.reading.sampled_values
        ]
        # Newest first; within an instant, in the order stored (as the SQL ids run).
        ordered = sorted(found, key=lambda item: (-item[1].timestamp.timestamp(), item[0]))
        return page([reading for _, reading in ordered], limit, offset)

    async def owner(self, transaction_id: int) -> TransactionOwner | None:
        transaction = self._m.transactions.get(transaction_id)
        if transaction is None:
            return None
        return TransactionOwner(
            transaction.charge_point_id, transaction.connector_id, transaction.meter_start
        )

    async def highest_transaction_id(self) -> int:
        return max(self._m.transactions, default=0)

    async def get(self, transaction_id: int) -> Transaction | None:
        transaction = self._m.transactions.get(transaction_id)
        if transaction is None:
            return None
        return replace(self._shown(transaction), meter_values=self._readings_of(transaction_id))

    async def list(
        self,
        charge_point_id: str | None,
        active: bool | None,
        limit: int,
        offset: int,
        where: SessionFilter = NO_FILTER,
        registers: bool = False,
    ) -> Page[Transaction]:
        found = [
            t
            for t in self._m.transactions.values()
            if (charge_point_id is None or t.charge_point_id == charge_point_id)
            and (active is None or t.active == active)
            and self._matches(t, where)
        ]
        shown = [
            replace(self._shown(t), meter_values=self._register_readings(t.id))
            if registers
            else self._shown(t)
            for t in sorted(found, key=lambda t: -t.id)
        ]
        return page(shown, limit, offset)

    def _matches(self, t: Transaction, where: SessionFilter) -> bool:
        placement = self._m.placements.get(t.charge_point_id)
        site = placement.site_id if placement is not None else None
        return (
            (where.site_id is None or site == where.site_id)
            and (where.id_tag is None or t.id_tag == where.id_tag)
            and (where.since is None or t.started_at >= where.since)
            and (where.until is None or t.started_at < where.until)
            and (where.before_id is None or t.id < where.before_id)
        )

    async def active_on(self, charge_point_ids: Sequence[str]) -> Sequence[Transaction]:
        wanted = set(charge_point_ids)
        found = [
            t for t in self._m.transactions.values() if t.active and t.charge_point_id in wanted
        ]
        return [self._shown(t) for t in sorted(found, key=lambda t: -t.id)]

    async def finished_at_site(self, site_id: str, since: datetime) -> Sequence[Transaction]:
        def placed_on_site(charge_point_id: str) -> bool:
            placement = self._m.placements.get(charge_point_id)
            known = charge_point_id in self._m.charge_points
            return known and placement is not None and placement.site_id == site_id

        found = [
            t
            for t in self._m.transactions.values()
            if placed_on_site(t.charge_point_id)
            and t.started_at >= since
            and t.stopped_at is not None
            and t.meter_stop is not None
        ]
        return [self._shown(t) for t in sorted(found, key=lambda t: (t.started_at, t.id))]

    async def energy_sessions(
        self, charge_point_ids: Sequence[str], since: datetime, until: datetime
    ) -> Sequence[Transaction]:
        found = [
            t
            for t in self._m.transactions.values()
            if t.charge_point_id in charge_point_ids
            and t.started_at < until
            and (t.stopped_at is None or t.stopped_at > since)
        ]
        return [
            replace(self._shown(t), meter_values=self._register_readings(t.id))
            for t in sorted(found, key=lambda t: (t.started_at, t.id))
        ]

    # --- what the tests read back (the SQL store has no such reads) ----------------------------
    def rejected(self, charge_point_id: str) -> builtins.list[StoredReading]:
        """Readings kept unattached because they named a transaction not the charger's."""
        return [
            r
            for r in self._m.readings
            if r.charge_point_id == charge_point_id and r.rejected_id is not None
        ]

    def readings(self, charge_point_id: str) -> builtins.list[StoredReading]:
        return [r for r in self._m.readings if r.charge_point_id == charge_point_id]

    def _keep(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        rejected_id: int | None,
        readings: Sequence[MeterReading],
        at: datetime,
    ) -> None:
        for reading in readings:
            # The SQL store fills in OCPP's default unit where a sample names none.
            samples = tuple(
                replace(s, unit=s.unit or DEFAULT_UNITS.get(s.measurand))
                for s in reading.sampled_values
            )
            self._m.readings.append(
                StoredReading(
                    charge_point_id,
                    connector_id,
                    transaction_id,
                    rejected_id,
                    replace(reading, sampled_values=samples),
                    at,
                )
            )

    def _shown(self, transaction: Transaction) -> Transaction:
        """As the SQL store reads it: whether it is overridden comes from its own table."""
        return replace(transaction, charge_now=transaction.id in self._m.overrides)

    def _register_readings(self, transaction_id: int) -> tuple[MeterReading, ...]:
        """One reading per total import register sample (a row each in SQL), in time order
        and, within an instant, in the order stored."""
        samples = [
            MeterReading(r.reading.timestamp, (SampledValue(s.value, s.measurand, s.unit),))
            for r in self._m.readings
            if r.transaction_id == transaction_id
            for s in r.reading.sampled_values
            if s.measurand == "Energy.Active.Import.Register" and s.phase is None
        ]
        return tuple(sorted(samples, key=lambda reading: reading.timestamp))

    def _readings_of(self, transaction_id: int) -> tuple[MeterReading, ...]:
        """In time order; readings of the same instant come back as one, as SQL rows do."""
        rows = sorted(
            (r.reading for r in self._m.readings if r.transaction_id == transaction_id),
            key=lambda reading: reading.timestamp,
        )
        return tuple(
            MeterReading(timestamp, tuple(s for r in group for s in r.sampled_values))
            for timestamp, group in groupby(rows, key=lambda reading: reading.timestamp)
        )


def _start_key(t: Transaction) -> tuple[str, int, str, int, datetime]:
    return (t.charge_point_id, t.connector_id, t.id_tag, t.meter_start, t.started_at)


class FakeDataTransferStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def record(
        self,
        charge_point_id: str,
        direction: str,
        vendor_id: str,
        message_id: str | None,
        data: str | None,
        status: str | None,
        at: datetime,
    ) -> None:
        self._m.data_transfers.append(
            {
                "charge_point_id": charge_point_id,
                "direction": direction,
                "vendor_id": vendor_id,
                "message_id": message_id,
                "data": data,
                "status": status,
                "received_at": at,
            }
        )

    async def list(self, charge_point_id: str, limit: int, offset: int) -> Page[DataTransferRecord]:
        records = [
            DataTransferRecord(
                id=index + 1,
                charge_point_id=charge_point_id,
                direction=Direction(str(row["direction"])),
                vendor_id=str(row["vendor_id"]),
                message_id=row["message_id"],  # type: ignore[arg-type]
                data=row["data"],  # type: ignore[arg-type]
                status=row["status"],  # type: ignore[arg-type]
                at=row["received_at"],  # type: ignore[arg-type]
            )
            for index, row in enumerate(self._m.data_transfers)
            if row["charge_point_id"] == charge_point_id
        ]
        return page(records[::-1], limit, offset)


class FakeApiKeyStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def add(
        self, name: str, scope: ApiKeyScope, prefix: str, digest: str, at: datetime
    ) -> ApiKey:
        if any(stored == digest for _, stored in self._m.api_keys.values()):
            raise Conflict("an API key with this digest exists")  # the column is unique
        key = ApiKey(self._m.next_id("api_keys"), name, prefix, at, scope=scope)
        self._m.api_keys[key.id] = (key, digest)
        return key

    async def find_active(self, digest: str) -> ApiKey | None:
        return next(
            (key for key, stored in self._m.api_keys.values() if stored == digest and key.active),
            None,
        )

    async def list(self) -> Sequence[ApiKey]:
        return [key for _, (key, _) in sorted(self._m.api_keys.items())]

    async def revoke(self, key_id: int, at: datetime) -> bool:
        found = self._m.api_keys.get(key_id)
        if found is None or not found[0].active:
            return False
        self._m.api_keys[key_id] = (replace(found[0], revoked_at=at), found[1])
        return True


class FakeAlertStore:
    """One open alert per key, counted while it stays open."""

    def __init__(self, memory: Memory) -> None:
        self._m = memory
        self.writes = 0  # raise_alert calls: what coalescing saves

    async def raise_alert(
        self,
        key: AlertKey,
        severity: Severity,
        message: str,
        details: dict[str, Any],
        at: datetime,
        occurrences: int = 1,
        announce: Announce[Alert] | None = None,
    ) -> Alert:
        self.writes += 1
        alert = self._open(key)
        if alert is None:
            alert = Alert(
                self._m.next_id("alerts"), key, severity, message, at, at, occurrences, details
            )
        else:
            alert = replace(
                alert,
                severity=severity,
                message=message,
                details=details,
                count=alert.count + occurrences,
                last_raised_at=at,
            )
        self._m.alerts[alert.id] = alert
        if announce is not None:
            self._m.feed.extend(announce(alert))
        return alert

    async def resolve(self, key: AlertKey, at: datetime) -> bool:
        alert = self._open(key)
        if alert is None:
            return False
        self._m.alerts[alert.id] = replace(alert, resolved_at=at)
        return True

    async def resolve_id(self, alert_id: int, at: datetime) -> Alert | None:
        alert = self._m.alerts.get(alert_id)
        if alert is not None and alert.open:
            alert = self._m.alerts[alert_id] = replace(alert, resolved_at=at)
        return alert

    async def get(self, alert_id: int) -> Alert | None:
        return self._m.alerts.get(alert_id)

    async def list(
        self,
        open_only: bool | None,
        kind: AlertKind | None,
        charge_point_id: str | None,
        site_id: str | None,
        limit: int,
        offset: int,
    ) -> Page[Alert]:
        found = [
            a
            for a in self._m.alerts.values()
            if (open_only is None or a.open == open_only)
            and (kind is None or a.key.kind is kind)
            and (charge_point_id is None or a.key.charge_point_id == charge_point_id)
            and (site_id is None or a.key.site_id == site_id)
        ]
        newest_first = sorted(found, key=lambda a: (a.last_raised_at, a.id), reverse=True)
        return page(newest_first, limit, offset)

    def _open(self, key: AlertKey) -> Alert | None:
        return next((a for a in self._m.alerts.values() if a.key == key and a.open), None)
