"""Fake store of the charging profiles operators gave chargers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ampnexus.domain.charging_profile import ProfilePurpose
from ampnexus.domain.commands import ProfileFilter
from ampnexus.domain.errors import NotFound
from ampnexus.domain.operator_profile import OperatorProfile, listing_order
from tests.fakes.memory import Memory


class FakeOperatorProfileStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def put(self, record: OperatorProfile) -> int:
        if record.charge_point_id not in self._m.charge_points:
            raise NotFound(f"charge point {record.charge_point_id!r} is not registered")
        replaced = self._remove(lambda held: held.replaced_by(record))
        self._m.operator_profiles.append(record)
        return replaced

    async def clear(self, charge_point_id: str, which: ProfileFilter) -> int:
        return self._remove(
            lambda held: held.charge_point_id == charge_point_id and held.cleared_by(which)
        )

    async def drop_transaction(self, charge_point_id: str, transaction_id: int) -> int:
        return self._remove(
            lambda held: (
                held.charge_point_id == charge_point_id
                and held.purpose is ProfilePurpose.TX
                and held.transaction_id == transaction_id
            )
        )

    async def drop_tx_profiles(self, charge_point_id: str) -> int:
        return self._remove(
            lambda held: (
                held.charge_point_id == charge_point_id and held.purpose is ProfilePurpose.TX
            )
        )

    async def for_chargers(
        self, charge_point_ids: Sequence[str]
    ) -> dict[str, list[OperatorProfile]]:
        found: dict[str, list[OperatorProfile]] = {}
        for record in sorted(self._m.operator_profiles, key=listing_order):
            if record.charge_point_id in charge_point_ids:
                found.setdefault(record.charge_point_id, []).append(record)
        return found

    def _remove(self, gone: Callable[[OperatorProfile], bool]) -> int:
        kept = [record for record in self._m.operator_profiles if not gone(record)]
        removed = len(self._m.operator_profiles) - len(kept)
        self._m.operator_profiles[:] = kept
        return removed
