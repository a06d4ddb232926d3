"""Chargers' own charging modes and their audit trail, in SQL. A mode's settings are stored
as JSON: their shape belongs to the mode, and only whole settings are read or written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select

from ampnexus.domain.charging_mode import (
    DAY_NAMES,
    ChangeKind,
    ChargingMode,
    ModeChange,
    ModeChoice,
    ModeSetting,
    ModeSettings,
    RegulationSettings,
    ScheduleSettings,
    WeeklyWindow,
    override_change,
)
from ampnexus.domain.errors import NotFound
from ampnexus.services.ports import Page
from ampnexus.store.database import Database
from ampnexus.store.tables import charge_point_mode_history as history
from ampnexus.store.tables import charge_point_modes as modes
from ampnexus.store.tables import charge_points
from ampnexus.store.tables import transaction_overrides as overrides
from ampnexus.store.upsert import conflict_insert, upsert


class SqlModeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, charge_point_id: str) -> ModeSetting | None:
        return await self._db.read(lambda conn: _current(conn, charge_point_id))

    async def get_many(
        self, charge_point_ids: Sequence[str]
    ) -> dict[str, tuple[int, ModeSetting | None]]:
        def work(conn: Connection) -> dict[str, tuple[int, ModeSetting | None]]:
            rows = conn.execute(
                select(charge_points.c.id, charge_points.c.security_profile, modes)
                .select_from(
                    charge_points.outerjoin(modes, modes.c.charge_point_id == charge_points.c.id)
                )
                .where(charge_points.c.id.in_(list(charge_point_ids)))
            )
            found: dict[str, tuple[int, ModeSetting | None]] = {}
            for row in rows:
                own = None
                if row.mode is not None:
                    own = _setting(row.id, row.mode, row.settings, row.changed_by, row.changed_at)
                found[row.id] = (row.security_profile, own)
            return found

        return await self._db.read(work)

    async def put(self, setting: ModeSetting) -> ModeChange:
        def work(conn: Connection) -> ModeChange:
            _check_known(conn, setting.charge_point_id)
            before = _current(conn, setting.charge_point_id)
            values = {
                "mode": setting.mode.value,
                "settings": settings_json(setting.settings),
                "changed_by": setting.changed_by,
                "changed_at": setting.changed_at,
            }
            upsert(conn, modes, {"charge_point_id": setting.charge_point_id}, values)
            change = ModeChange(
                setting.charge_point_id,
                setting.changed_by,
                setting.changed_at,
                None if before is None else before.choice,
                setting.choice,
            )
            return _append(conn, change)

        return await self._db.write(work)

    async def clear(self, charge_point_id: str, changed_by: str, at: datetime) -> ModeChange | None:
        def work(conn: Connection) -> ModeChange | None:
            before = _current(conn, charge_point_id)
            if before is None:
                return None
            conn.execute(delete(modes).where(modes.c.charge_point_id == charge_point_id))
            change = ModeChange(charge_point_id, changed_by, at, before.choice, None)
            return _append(conn, change)

        return await self._db.write(work)

    async def set_override(
        self, charge_point_id: str, transaction_id: int, set_by: str, at: datetime
    ) -> ModeChange | None:
        change = override_change(
            charge_point_id, transaction_id, set_by, at, ChangeKind.OVERRIDE_SET
        )

        def work(conn: Connection) -> ModeChange | None:
            added = conn.execute(
                conflict_insert(overrides, conn.dialect.name)
                .values(transaction_id=transaction_id, set_by=set_by, set_at=at)
                .on_conflict_do_nothing(index_elements=["transaction_id"])
                .returning(overrides.c.transaction_id)
            ).first()
            return None if added is None else _append(conn, change)

        return await self._db.write(work)

    async def cancel_override(
        self, charge_point_id: str, transaction_id: int, cancelled_by: str, at: datetime
    ) -> ModeChange | None:
        cancelled = ChangeKind.OVERRIDE_CANCELLED
        change = override_change(charge_point_id, transaction_id, cancelled_by, at, cancelled)

        def work(conn: Connection) -> ModeChange | None:
            mine = overrides.c.transaction_id == transaction_id
            removed = conn.execute(delete(overrides).where(mine)).rowcount
            return _append(conn, change) if removed else None

        return await self._db.write(work)

    async def history(self, charge_point_id: str, limit: int, offset: int) -> Page[ModeChange]:
        def work(conn: Connection) -> Page[ModeChange]:
            mine = history.c.charge_point_id == charge_point_id
            total = conn.scalar(select(func.count()).select_from(history).where(mine)) or 0
            rows = conn.execute(
                select(history)
                .where(mine)
                .order_by(history.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return Page([_change(row) for row in rows], total)

        return await self._db.read(work)


def _check_known(conn: Connection, charge_point_id: str) -> None:
    found = conn.scalar(select(charge_points.c.id).where(charge_points.c.id == charge_point_id))
    if found is None:
        raise NotFound(f"charge point {charge_point_id!r} is not registered")


def _current(conn: Connection, charge_point_id: str) -> ModeSetting | None:
    row = conn.execute(select(modes).where(modes.c.charge_point_id == charge_point_id)).first()
    if row is None:
        return None
    return _setting(row.charge_point_id, row.mode, row.settings, row.changed_by, row.changed_at)


def _append(conn: Connection, change: ModeChange) -> ModeChange:
    values = {
        "charge_point_id": change.charge_point_id,
        "changed_by": change.changed_by,
        "changed_at": change.changed_at,
        "kind": change.kind.value,
        "transaction_id": change.transaction_id,
        **_side("before", change.before),
        **_side("after", change.after),
    }
    change_id = conn.execute(insert(history).values(values).returning(history.c.id)).scalar_one()
    return replace(change, id=change_id)


def _side(prefix: str, choice: ModeChoice | None) -> dict[str, Any]:
    if choice is None:
        return {f"{prefix}_mode": None, f"{prefix}_settings": None}
    return {
        f"{prefix}_mode": choice.mode.value,
        f"{prefix}_settings": settings_json(choice.settings),
    }


def _change(row: Row[Any]) -> ModeChange:
    return ModeChange(
        row.charge_point_id,
        row.changed_by,
        row.changed_at,
        _choice(row.before_mode, row.before_settings),
        _choice(row.after_mode, row.after_settings),
        id=row.id,
        kind=ChangeKind(row.kind),
        transaction_id=row.transaction_id,
    )


def _choice(mode: str | None, settings: Any) -> ModeChoice | None:
    return None if mode is None else ModeChoice(ChargingMode(mode), settings_of(settings))


def _setting(
    charge_point_id: str, mode: str, settings: Any, changed_by: str, changed_at: datetime
) -> ModeSetting:
    return ModeSetting(
        charge_point_id, ChargingMode(mode), settings_of(settings), changed_by, changed_at
    )


# --- settings as JSON --------------------------------------------------------------------------
def settings_json(settings: ModeSettings | None) -> dict[str, Any] | None:
    if isinstance(settings, RegulationSettings):
        return {
            "peak_windows": [_window_json(w) for w in settings.peak_windows],
            "random_delay_max_s": settings.random_delay_max_s,
            "charger_applies_delay": settings.charger_applies_delay,
        }
    if isinstance(settings, ScheduleSettings):
        return {
            "windows": [_window_json(w) for w in settings.windows],
            "energy_wh": settings.energy_wh,
        }
    return None


def settings_of(stored: dict[str, Any] | None) -> ModeSettings | None:
    if stored is None:
        return None
    if "peak_windows" in stored:
        return RegulationSettings(
            tuple(_window_of(w) for w in stored["peak_windows"]),
            stored["random_delay_max_s"],
            stored["charger_applies_delay"],
        )
    return ScheduleSettings(tuple(_window_of(w) for w in stored["windows"]), stored["energy_wh"])


def _window_json(window: WeeklyWindow) -> dict[str, Any]:
    return {
        "days": window.day_names,
        "start": window.start.strftime("%H:%M"),
        "end": window.end.strftime("%H:%M"),
    }


def _window_of(stored: dict[str, Any]) -> WeeklyWindow:
    days = frozenset(DAY_NAMES.index(day) for day in stored["days"])
    return WeeklyWindow(
        days, time.fromisoformat(stored["start"]), time.fromisoformat(stored["end"])
    )
