"""Fake store of chargers' own charging modes and their audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from ampnexus.domain.charging_mode import ChangeKind, ModeChange, ModeSetting, override_change
from ampnexus.domain.errors import NotFound
from ampnexus.services.ports import Page
from tests.fakes.memory import ForeignKeyViolation, Memory, page


class FakeModeStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def get(self, charge_point_id: str) -> ModeSetting | None:
        return self._m.modes.get(charge_point_id)

    async def get_many(
        self, charge_point_ids: Sequence[str]
    ) -> dict[str, tuple[int, ModeSetting | None]]:
        return {
            cp: (self._m.charge_points[cp].security_profile, self._m.modes.get(cp))
            for cp in charge_point_ids
            if cp in self._m.charge_points
        }

    async def put(self, setting: ModeSetting) -> ModeChange:
        if setting.charge_point_id not in self._m.charge_points:
            raise NotFound(f"charge point {setting.charge_point_id!r} is not registered")
        before = self._m.modes.get(setting.charge_point_id)
        self._m.modes[setting.charge_point_id] = setting
        return self._append(
            ModeChange(
                setting.charge_point_id,
                setting.changed_by,
                setting.changed_at,
                None if before is None else before.choice,
                setting.choice,
            )
        )

    async def clear(self, charge_point_id: str, changed_by: str, at: datetime) -> ModeChange | None:
        before = self._m.modes.pop(charge_point_id, None)
        if before is None:
            return None
        return self._append(ModeChange(charge_point_id, changed_by, at, before.choice, None))

    async def history(self, charge_point_id: str, limit: int, offset: int) -> Page[ModeChange]:
        mine = [c for c in reversed(self._m.mode_history) if c.charge_point_id == charge_point_id]
        return page(mine, limit, offset)

    async def set_override(
        self, charge_point_id: str, transaction_id: int, set_by: str, at: datetime
    ) -> ModeChange | None:
        if transaction_id not in self._m.transactions:
            raise ForeignKeyViolation(f"transaction {transaction_id}")
        if transaction_id in self._m.overrides:
            return None
        self._m.overrides[transaction_id] = (set_by, at)
        kind = ChangeKind.OVERRIDE_SET
        return self._append(override_change(charge_point_id, transaction_id, set_by, at, kind))

    async def cancel_override(
        self, charge_point_id: str, transaction_id: int, cancelled_by: str, at: datetime
    ) -> ModeChange | None:
        if self._m.overrides.pop(transaction_id, None) is None:
            return None
        kind = ChangeKind.OVERRIDE_CANCELLED
        return self._append(
            override_change(charge_point_id, transaction_id, cancelled_by, at, kind)
        )

    def _append(self, change: ModeChange) -> ModeChange:
        stored = replace(change, id=self._m.next_id("charge_point_mode_history"))
        self._m.mode_history.append(stored)
        return stored
