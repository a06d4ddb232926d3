"""Which chargers are connected and when each was last heard from.

Kept in memory because it changes on every frame; flushed to storage in batches
so a heartbeat costs no write of its own.
"""

from __future__ import annotations

from datetime import datetime


class Presence:
    def __init__(self) -> None:
        self._connected: set[str] = set()
        self._last_seen: dict[str, datetime] = {}
        self._dirty: dict[str, datetime] = {}

    def connected(self, charge_point_id: str, at: datetime) -> None:
        self._connected.add(charge_point_id)
        self.seen(charge_point_id, at)

    def disconnected(self, charge_point_id: str) -> None:
        self._connected.discard(charge_point_id)

    def seen(self, charge_point_id: str, at: datetime) -> None:
        self._last_seen[charge_point_id] = at
        self._dirty[charge_point_id] = at

    def is_connected(self, charge_point_id: str) -> bool:
        return charge_point_id in self._connected

    def last_seen(self, charge_point_id: str) -> datetime | None:
        return self._last_seen.get(charge_point_id)

    def forget(self, charge_point_id: str) -> None:
        self._connected.discard(charge_point_id)
        self._last_seen.pop(charge_point_id, None)
        self._dirty.pop(charge_point_id, None)

    def take_dirty(self) -> dict[str, datetime]:
        dirty, self._dirty = self._dirty, {}
        return dirty
