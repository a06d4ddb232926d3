"""Tariffs of a site, their dynamic prices, and per-slot prices for a plan."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ampnexus.domain.errors import Conflict, NotFound
from ampnexus.domain.series import Slots
from ampnexus.domain.tariff import (
    Direction,
    PricePeriod,
    Tariff,
    TariffKind,
    check_periods,
    current_tariff,
    parse_agile_csv,
    price_at,
    prices,
)
from ampnexus.domain.time import Clock
from ampnexus.services.ports import Page, SiteStore, TariffStore

TARIFFS_PER_SITE = 1000  # read at once when choosing the tariff in force


class TariffService:
    def __init__(self, store: TariffStore, sites: SiteStore, clock: Clock) -> None:
        self._store = store
        self._sites = sites
        self._clock = clock

    async def create(self, tariff: Tariff) -> Tariff:
        await self._site_zone(tariff.site_id)
        return await self._store.add(replace(tariff, created_at=self._clock.now()))

    async def get(self, site_id: str, tariff_id: int) -> Tariff:
        await self._site_zone(site_id)
        tariff = await self._store.get(site_id, tariff_id)
        if tariff is None:
            raise NotFound(f"site {site_id!r} has no tariff {tariff_id}")
        return tariff

    async def list(self, site_id: str, limit: int, offset: int) -> Page[Tariff]:
        await self._site_zone(site_id)
        return await self._store.list(site_id, limit, offset)

    async def delete(self, site_id: str, tariff_id: int) -> None:
        await self.get(site_id, tariff_id)
        await self._store.delete(site_id, tariff_id)

    async def set_prices(
        self, site_id: str, tariff_id: int, periods: Sequence[PricePeriod]
    ) -> tuple[int, int]:
        """Store dynamic prices, replacing the stored ones within the span they cover:
        (stored, replaced)."""
        tariff = await self.get(site_id, tariff_id)
        if tariff.kind is not TariffKind.DYNAMIC:
            raise Conflict(
                f"tariff {tariff_id} is {tariff.kind}: only dynamic tariffs take price periods"
            )
        check_periods(periods)
        replaced = await self._store.replace_periods(tariff_id, periods)
        return len(periods), replaced

    async def import_csv(self, site_id: str, tariff_id: int, text: str) -> tuple[int, int]:
        """Prices from a CSV in the Octopus Agile format, its local times in the site's zone."""
        zone = await self._site_zone(site_id)
        # A year of half hours takes about half a second: off the event loop.
        periods = await asyncio.to_thread(parse_agile_csv, text, zone)
        return await self.set_prices(site_id, tariff_id, periods)

    async def periods(
        self,
        site_id: str,
        tariff_id: int,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> Page[PricePeriod]:
        await self.get(site_id, tariff_id)
        return await self._store.periods(tariff_id, start, end, limit, offset)

    async def slot_prices(
        self, site_id: str, grid: Slots
    ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(import, export) per slot of `grid` under the tariff in force at its start; None
        when the site has no tariff."""
        zone = await self._site_zone(site_id)
        found = await self._store.list(site_id, TARIFFS_PER_SITE, 0)
        tariff = current_tariff(found.items, grid.start)
        if tariff is None:
            return None
        end = grid.start + timedelta(seconds=grid.slot_seconds * grid.count)
        loaded = await self._store.periods(tariff.id or 0, grid.start, end, None)
        tariff = replace(tariff, periods=tuple(loaded.items))
        return (
            prices(tariff, grid, zone, Direction.IMPORT),
            prices(tariff, grid, zone, Direction.EXPORT),
        )

    async def price_of(
        self, site_id: str, since: datetime, until: datetime
    ) -> Callable[[datetime], float] | None:
        """The import price per kWh at any moment of [since, until) under the tariff in
        force then (what a session cost); None when the site has no tariff."""
        zone = await self._site_zone(site_id)
        found = (await self._store.list(site_id, TARIFFS_PER_SITE, 0)).items
        if not found:
            return None
        loaded = {}
        for tariff in found:
            periods = await self._store.periods(tariff.id or 0, since, until, None)
            loaded[tariff.id] = replace(tariff, periods=tuple(periods.items))
        tariffs = list(loaded.values())

        def price(moment: datetime) -> float:
            tariff = current_tariff(tariffs, moment) or min(tariffs, key=_validity)
            return price_at(tariff, moment, zone)

        return price

    async def _site_zone(self, site_id: str) -> str:
        site = await self._sites.get(site_id)
        if site is None:
            raise NotFound(f"site {site_id!r} does not exist")
        return site.time_zone


def _validity(tariff: Tariff) -> datetime:
    """Before any tariff was in force, the earliest one stands in (a session older than
    the site's first tariff still gets a cost)."""
    return tariff.valid_from or datetime.min.replace(tzinfo=UTC)
