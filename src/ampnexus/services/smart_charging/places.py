"""Where chargers are: each charger's site and bounds, and each site's layout, read once
and remembered until a placement, site or circuit changes."""

from __future__ import annotations

import contextlib

from ampnexus.charging.plausible import physical_max_w
from ampnexus.domain.errors import DomainError, NotFound
from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.services.planning_ports import SiteDirectory
from ampnexus.services.smart_charging.model import Placed


class Places:
    def __init__(self, sites: SiteDirectory) -> None:
        self._site_directory = sites
        self.placed: dict[str, Placed | None] = {}  # charger -> site (None: none), until moved
        self._layouts: dict[str, SiteLayout] = {}  # until SiteChanged
        self._site_changes = 0

    def changed(self) -> None:
        """A charger was placed, moved or removed, or a site or circuit changed."""
        self.placed.clear()
        self._layouts.clear()
        self._site_changes += 1

    def forget(self, site_id: str) -> None:
        self._layouts.pop(site_id, None)

    async def layout(self, site_id: str) -> SiteLayout:
        """Read once, until a SiteChanged: every replan needs it, few change it."""
        layout = self._layouts.get(site_id)
        if layout is None:
            changes = self._site_changes
            layout = await self._site_directory.layout(site_id)
            if changes == self._site_changes:  # else it may be older than the change
                self._layouts[site_id] = layout
        return layout

    async def place(self, charge_point_id: str) -> Placed | None:
        """Read (and remember) the charger's site and the most it can draw there."""
        placed = None
        placement = await self.placement(charge_point_id)
        if placement is not None and placement.site_id is not None:
            with contextlib.suppress(NotFound):  # the site was deleted meanwhile
                site: Site = await self._site_directory.get(placement.site_id)
                placed = Placed(site.id, physical_max_w_at(placement, site))
        self.placed[charge_point_id] = placed
        return placed

    async def placement(self, charge_point_id: str) -> Placement | None:
        try:
            placement: Placement = await self._site_directory.placement(charge_point_id)
        except DomainError:
            return None
        return placement

    async def phases(self, charge_point_id: str) -> int:
        placement = await self.placement(charge_point_id)
        return (placement.phases if placement else None) or 3


def physical_max_w_at(placement: Placement, site: Site) -> float:
    phases = len(placement.grid_phases(site.phases))
    return physical_max_w(placement.max_power_w, phases, site.voltage)
