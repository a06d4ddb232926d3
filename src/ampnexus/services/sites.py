"""Sites, their fuse tree of circuits, and where chargers are placed in it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ampnexus.domain.errors import Invalid, NotFound
from ampnexus.domain.events import SiteChanged
from ampnexus.domain.site import (
    Circuit,
    Placement,
    Site,
    SiteLayout,
    add_circuit,
    place,
    remove_circuit,
    replace_circuit,
)
from ampnexus.domain.time import Clock
from ampnexus.services.ports import EventPublisher, Page, SiteStore


class SiteService:
    """Every change a plan depends on is published as SiteChanged, once it is stored."""

    def __init__(
        self, store: SiteStore, clock: Clock, events: EventPublisher | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._events = events

    def _changed(self, *site_ids: str | None) -> None:
        if self._events is None:
            return
        for site_id in dict.fromkeys(site_ids):  # once each, in order
            if site_id is not None:
                self._events.publish(SiteChanged(site_id, self._clock.now()))

    # --- sites -------------------------------------------------------------------------------
    async def create(self, site: Site) -> Site:
        site = replace(site, created_at=self._clock.now())
        await self._store.add(site)
        return site

    async def get(self, site_id: str) -> Site:
        site = await self._store.get(site_id)
        if site is None:
            raise NotFound(f"site {site_id!r} does not exist")
        return site

    async def list(self, limit: int, offset: int) -> Page[Site]:
        return await self._store.list(limit, offset)

    async def update(self, site_id: str, changes: dict[str, Any]) -> Site:
        site = replace(await self.get(site_id), **changes)
        await self._store.replace(site)
        self._changed(site_id)
        return site

    async def delete(self, site_id: str) -> None:
        """The site goes with its circuits, tariffs and series; its chargers are unplaced."""
        if not await self._store.delete(site_id):
            raise NotFound(f"site {site_id!r} does not exist")
        self._changed(site_id)  # its chargers are on no site now

    async def layout(self, site_id: str) -> SiteLayout:
        layout = await self._store.layout(site_id)
        if layout is None:
            raise NotFound(f"site {site_id!r} does not exist")
        return layout

    # --- circuits ----------------------------------------------------------------------------
    async def circuit(self, site_id: str, circuit_id: str) -> Circuit:
        circuit = (await self.layout(site_id)).circuit(circuit_id)
        if circuit is None:
            raise NotFound(f"site {site_id!r} has no circuit {circuit_id!r}")
        return circuit

    async def add_circuit(self, circuit: Circuit) -> Circuit:
        await self._store.edit_layout(circuit.site_id, lambda layout: add_circuit(layout, circuit))
        self._changed(circuit.site_id)
        return circuit

    async def update_circuit(
        self, site_id: str, circuit_id: str, changes: dict[str, Any]
    ) -> Circuit:
        def edit(layout: SiteLayout) -> SiteLayout:
            current = layout.circuit(circuit_id)
            if current is None:
                raise NotFound(f"site {site_id!r} has no circuit {circuit_id!r}")
            return replace_circuit(layout, replace(current, **changes))

        layout = await self._store.edit_layout(site_id, edit)
        changed = layout.circuit(circuit_id)
        assert changed is not None
        self._changed(site_id)
        return changed

    async def delete_circuit(self, site_id: str, circuit_id: str) -> None:
        await self._store.edit_layout(site_id, lambda layout: remove_circuit(layout, circuit_id))
        self._changed(site_id)

    # --- chargers ----------------------------------------------------------------------------
    async def place(self, placement: Placement) -> Placement:
        """Put a charger on a site (and circuit), or on none; checked against the site's
        circuits in the same transaction that stores it."""
        site_id = placement.site_id
        before = await self._store.placement(placement.charge_point_id)
        if site_id is None:
            await self._store.set_placement(placement)
        elif await self._store.get(site_id) is None:
            raise Invalid(f"site {site_id!r} does not exist")
        else:
            await self._store.edit_layout(site_id, lambda layout: place(layout, placement))
        self._changed(before.site_id if before else None, site_id)  # left one, joined another
        return placement

    async def placement(self, charge_point_id: str) -> Placement:
        placement = await self._store.placement(charge_point_id)
        if placement is None:
            raise NotFound(f"charge point {charge_point_id!r} is not registered")
        return placement
