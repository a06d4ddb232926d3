"""Driver profiles: priority, power cap and usual session, bound to id tags."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ampnexus.domain.driver import DriverProfile
from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import DriverChanged
from ampnexus.domain.time import Clock
from ampnexus.services.ports import DriverProfileStore, EventPublisher, Page


class DriverProfileService:
    """Every change is published as DriverChanged once it is stored: plans follow, and
    the drivers cached by id tag are read again."""

    def __init__(
        self, store: DriverProfileStore, clock: Clock, events: EventPublisher | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events

    def _changed(self, profile_id: int | None) -> None:
        if self._events is not None and profile_id is not None:
            self._events.publish(DriverChanged(profile_id, self._clock.now()))

    async def create(self, profile: DriverProfile) -> DriverProfile:
        created = await self._store.add(replace(profile, created_at=self._clock.now()))
        self._changed(created.id)
        return created

    async def get(self, profile_id: int) -> DriverProfile:
        profile = await self._store.get(profile_id)
        if profile is None:
            raise NotFound(f"driver profile {profile_id} does not exist")
        return profile

    async def list(self, limit: int, offset: int) -> Page[DriverProfile]:
        return await self._store.list(limit, offset)

    async def update(self, profile_id: int, changes: dict[str, Any]) -> DriverProfile:
        profile = replace(await self.get(profile_id), **changes)
        await self._store.replace(profile)
        self._changed(profile_id)
        return await self.get(profile_id)

    async def delete(self, profile_id: int) -> None:
        if not await self._store.delete(profile_id):
            raise NotFound(f"driver profile {profile_id} does not exist")
        self._changed(profile_id)

    async def bind(self, profile_id: int, id_tag: str) -> DriverProfile:
        await self._store.bind(profile_id, id_tag)
        self._changed(profile_id)
        return await self.get(profile_id)

    async def unbind(self, profile_id: int, id_tag: str) -> None:
        await self.get(profile_id)
        if not await self._store.unbind(profile_id, id_tag):
            raise NotFound(f"id tag {id_tag!r} is not bound to driver profile {profile_id}")
        self._changed(profile_id)

    async def for_id_tag(self, id_tag: str) -> DriverProfile | None:
        return await self._store.by_id_tag(id_tag)
