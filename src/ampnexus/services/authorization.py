"""Id tags: the operator's list and the decision whether one may charge."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.events import IdTagAdded, IdTagChanged
from ampnexus.domain.id_tag import AuthorizationStatus, IdTag, IdTagInfo, authorize, own_id_tag
from ampnexus.domain.time import Clock
from ampnexus.services.ports import EventPublisher, IdTagStore, Page

ID_TAG_MAX = 20  # OCPP IdToken is CiString20
# Authorize, StartTransaction and StopTransaction all look a tag up: keep answers briefly.
# Changes made here take effect at once; changes made elsewhere within this many seconds.
CACHE_SECONDS = 30.0


class AuthorizationService:
    def __init__(
        self, store: IdTagStore, clock: Clock, events: EventPublisher | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events
        self._cache: dict[str, tuple[float, IdTag | None]] = {}

    async def authorize(self, id_tag: str, charge_point_id: str | None = None) -> IdTagInfo:
        """Whether `id_tag` may charge at `charge_point_id` (a charger's own tag may only
        there; None: at no charger in particular, so never with such a tag)."""
        return authorize(await self._cached(id_tag), self._clock.now(), charge_point_id)

    async def own_tag(self, charge_point_id: str) -> str:
        """The charger's own id tag, created on first need: Accepted, valid on it alone. An
        operator may block it like any tag. Conflict if the name is taken by another tag
        (an operator's, or another charger's by a 68-bit chance), which is then not used."""
        name = own_id_tag(charge_point_id)
        tag = await self._store.get(name)
        if tag is None:
            tag = IdTag(
                name,
                description=f"{charge_point_id}'s own tag: plug & charge starts with it",
                charge_point_id=charge_point_id,
            )
            try:
                await self._store.add(tag, self._clock.now())
            except Conflict:  # made at the same moment for another plug-in: that one will do
                tag = await self.get(name)
            self._cache.clear()  # it may be cached as unknown
        if tag.charge_point_id != charge_point_id:
            raise Conflict(
                f"id tag {tag.id_tag!r}, {charge_point_id}'s own tag, exists and is not "
                "restricted to it: rename or delete it for plug & charge to work"
            )
        return tag.id_tag

    async def _cached(self, id_tag: str) -> IdTag | None:
        now = time.monotonic()
        key = _cache_key(id_tag)
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        tag = await self._store.get(id_tag)
        if len(self._cache) > 100_000:  # bounded: unknown tags must not grow it forever
            self._cache.clear()
        self._cache[key] = (now, tag)
        return tag

    async def add(self, tag: IdTag) -> IdTag:
        _check(tag)
        existing = await self._store.get(tag.id_tag)
        if existing is not None:
            raise Conflict(_exists(tag.id_tag, existing.id_tag))
        await self._store.add(tag, self._clock.now())
        self._cache.clear()  # every spelling of it may be cached as unknown
        if self._events is not None:
            self._events.publish(IdTagAdded(tag.id_tag, self._clock.now()))
        return tag

    async def get(self, id_tag: str) -> IdTag:
        tag = await self._store.get(id_tag)
        if tag is None:
            raise NotFound(f"id tag {id_tag!r} does not exist")
        return tag

    async def list(self, limit: int, offset: int) -> Page[IdTag]:
        return await self._store.list(limit, offset)

    async def update(self, id_tag: str, changes: dict[str, Any]) -> IdTag:
        tag = await self.get(id_tag)
        if "status" in changes:
            changes = {**changes, "status": AuthorizationStatus(changes["status"])}
        updated = replace(tag, **changes)
        _check(updated)
        await self._store.replace(updated)
        self._cache.clear()  # operators change tags rarely; every spelling must see it at once
        self._changed(updated.id_tag)
        return updated

    async def delete(self, id_tag: str) -> None:
        self._cache.clear()
        if not await self._store.delete(id_tag):
            raise NotFound(f"id tag {id_tag!r} does not exist")
        self._changed(id_tag)

    def _changed(self, id_tag: str) -> None:
        """Once stored: caches of drivers and needs by tag drop it (a deleted tag took its
        binding and need with it)."""
        if self._events is not None:
            self._events.publish(IdTagChanged(id_tag, self._clock.now()))


def _cache_key(id_tag: str) -> str:
    """Id tags are case-insensitive (CiString20). Only ASCII is folded here: beyond it SQLite
    and PostgreSQL fold differently, and a shared key could hand out another tag's answer."""
    return id_tag.lower() if id_tag.isascii() else id_tag


def _exists(wanted: str, existing: str) -> str:
    if wanted == existing:
        return f"id tag {existing!r} already exists"
    return f"id tag {existing!r} already exists (id tags compare case-insensitively)"


def _check(tag: IdTag) -> None:
    if not 1 <= len(tag.id_tag) <= ID_TAG_MAX:
        raise Invalid(f"id tag must be 1 to {ID_TAG_MAX} characters")
    if tag.parent_id_tag is not None and not 1 <= len(tag.parent_id_tag) <= ID_TAG_MAX:
        raise Invalid(f"parent id tag must be 1 to {ID_TAG_MAX} characters")
    if tag.status is AuthorizationStatus.CONCURRENT_TX:
        raise Invalid("ConcurrentTx is an answer, not a status an id tag can have")
