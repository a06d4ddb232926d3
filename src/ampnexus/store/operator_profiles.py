"""Operators' charging profiles, in SQL: a row per profile a charger holds from an operator,
the profile itself as JSON (its shape is the domain's, written and read here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, or_, select

from ampnexus.domain.charging_profile import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RecurrencyKind,
    SchedulePeriod,
)
from ampnexus.domain.commands import ProfileFilter
from ampnexus.domain.errors import NotFound
from ampnexus.domain.operator_profile import OperatorProfile, listing_order
from ampnexus.store.database import Database
from ampnexus.store.tables import charge_points
from ampnexus.store.tables import operator_profiles as table

# The ids of one statement's IN list: far below every backend's limit on parameters.
CHUNK = 500


class SqlOperatorProfileStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, record: OperatorProfile) -> int:
        def work(conn: Connection) -> int:
            _check_known(conn, record.charge_point_id)
            replaced = conn.execute(delete(table).where(_replaced_by(record))).rowcount
            conn.execute(insert(table).values(_values(record)))
            return replaced

        return await self._db.write(work)

    async def clear(self, charge_point_id: str, which: ProfileFilter) -> int:
        mine = table.c.charge_point_id == charge_point_id
        return await self._remove(and_(mine, *_filter(which)))

    async def drop_transaction(self, charge_point_id: str, transaction_id: int) -> int:
        return await self._remove(
            and_(
                table.c.charge_point_id == charge_point_id,
                table.c.purpose == ProfilePurpose.TX.value,
                table.c.transaction_id == transaction_id,
            )
        )

    async def drop_tx_profiles(self, charge_point_id: str) -> int:
        return await self._remove(
            and_(
                table.c.charge_point_id == charge_point_id,
                table.c.purpose == ProfilePurpose.TX.value,
            )
        )

    async def for_chargers(
        self, charge_point_ids: Sequence[str]
    ) -> dict[str, list[OperatorProfile]]:
        def work(conn: Connection) -> dict[str, list[OperatorProfile]]:
            ids = list(dict.fromkeys(charge_point_ids))
            found: dict[str, list[OperatorProfile]] = {}
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                rows = conn.execute(select(table).where(table.c.charge_point_id.in_(chunk)))
                for row in rows:
                    found.setdefault(row.charge_point_id, []).append(_record(row))
            return {cp: sorted(records, key=listing_order) for cp, records in found.items()}

        return await self._db.read(work)

    async def _remove(self, where: Any) -> int:
        return await self._db.write(lambda conn: conn.execute(delete(table).where(where)).rowcount)


def _check_known(conn: Connection, charge_point_id: str) -> None:
    found = conn.scalar(select(charge_points.c.id).where(charge_points.c.id == charge_point_id))
    if found is None:
        raise NotFound(f"charge point {charge_point_id!r} is not registered")


def _replaced_by(new: OperatorProfile) -> Any:
    """The rows `OperatorProfile.replaced_by` says `new` replaces."""
    return and_(
        table.c.charge_point_id == new.charge_point_id,
        or_(
            table.c.profile_id == new.profile.id,
            and_(
                table.c.connector_id == new.connector_id,
                table.c.purpose == new.purpose.value,
                table.c.stack_level == new.stack_level,
            ),
        ),
    )


def _filter(which: ProfileFilter) -> list[Any]:
    """The conditions of `OperatorProfile.cleared_by`."""
    if which.profile_id is not None:
        return [table.c.profile_id == which.profile_id]
    conditions = []
    if which.connector_id is not None:
        conditions.append(table.c.connector_id == which.connector_id)
    if which.purpose is not None:
        conditions.append(table.c.purpose == which.purpose.value)
    if which.stack_level is not None:
        conditions.append(table.c.stack_level == which.stack_level)
    return conditions


def _values(record: OperatorProfile) -> dict[str, Any]:
    return {
        "charge_point_id": record.charge_point_id,
        "profile_id": record.profile.id,
        "connector_id": record.connector_id,
        "purpose": record.purpose.value,
        "stack_level": record.stack_level,
        "transaction_id": record.transaction_id,
        "profile": profile_json(record.profile),
        "set_at": record.set_at,
        "set_by": record.set_by,
    }


def _record(row: Row[Any]) -> OperatorProfile:
    return OperatorProfile(
        row.charge_point_id, row.connector_id, profile_of(row.profile), row.set_at, row.set_by
    )


# --- a profile as JSON -------------------------------------------------------------------------
def profile_json(profile: ChargingProfile) -> dict[str, Any]:
    schedule = profile.schedule
    return {
        "id": profile.id,
        "stack_level": profile.stack_level,
        "purpose": profile.purpose.value,
        "kind": profile.kind.value,
        "recurrency_kind": profile.recurrency_kind and profile.recurrency_kind.value,
        "valid_from": _moment_json(profile.valid_from),
        "valid_to": _moment_json(profile.valid_to),
        "transaction_id": profile.transaction_id,
        "schedule": {
            "unit": schedule.unit.value,
            "periods": [[p.start_period, p.limit, p.number_phases] for p in schedule.periods],
            "duration": schedule.duration,
            "start_schedule": _moment_json(schedule.start_schedule),
            "min_charging_rate": schedule.min_charging_rate,
        },
    }


def profile_of(stored: dict[str, Any]) -> ChargingProfile:
    schedule = stored["schedule"]
    recurrency = stored["recurrency_kind"]
    return ChargingProfile(
        id=stored["id"],
        stack_level=stored["stack_level"],
        purpose=ProfilePurpose(stored["purpose"]),
        kind=ProfileKind(stored["kind"]),
        schedule=ChargingSchedule(
            unit=ChargingRateUnit(schedule["unit"]),
            periods=tuple(
                SchedulePeriod(start, limit, phases) for start, limit, phases in schedule["periods"]
            ),
            duration=schedule["duration"],
            start_schedule=_moment_of(schedule["start_schedule"]),
            min_charging_rate=schedule["min_charging_rate"],
        ),
        recurrency_kind=None if recurrency is None else RecurrencyKind(recurrency),
        valid_from=_moment_of(stored["valid_from"]),
        valid_to=_moment_of(stored["valid_to"]),
        transaction_id=stored["transaction_id"],
    )


def _moment_json(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment_of(stored: str | None) -> datetime | None:
    return None if stored is None else datetime.fromisoformat(stored)
