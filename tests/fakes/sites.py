"""Fake stores of the planning side: sites and their layout, tariffs, series, driver
profiles and session needs."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from ampnexus.domain.driver import DriverProfile
from ampnexus.domain.errors import Conflict, Invalid, NotFound
from ampnexus.domain.needs import PastSession, SessionNeed
from ampnexus.domain.series import Point, SeriesKind
from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.domain.tariff import PricePeriod, Tariff
from ampnexus.domain.transaction import energy_wh
from ampnexus.services.ports import LayoutEdit, Page
from tests.fakes.memory import ForeignKeyViolation, Memory, StoredSeriesPoint, fold, page


class FakeSiteStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def get(self, site_id: str) -> Site | None:
        return self._m.sites.get(site_id)

    async def list(self, limit: int, offset: int) -> Page[Site]:
        return page([site for _, site in sorted(self._m.sites.items())], limit, offset)

    async def add(self, site: Site) -> None:
        if site.id in self._m.sites:
            raise Conflict(f"site {site.id!r} already exists")
        self._m.sites[site.id] = site

    async def replace(self, site: Site) -> None:
        if site.id in self._m.sites:
            self._m.sites[site.id] = replace(site, created_at=self._m.sites[site.id].created_at)

    async def delete(self, site_id: str) -> bool:
        for charge_point_id, placement in list(self._m.placements.items()):
            if placement.site_id == site_id:
                self._m.placements[charge_point_id] = Placement(charge_point_id)
        self._m.circuits.pop(site_id, None)
        for tariff_id in [t.id for t in self._m.tariffs.values() if t.site_id == site_id]:
            assert tariff_id is not None
            del self._m.tariffs[tariff_id]
            self._m.prices.pop(tariff_id, None)
        self._m.series = [p for p in self._m.series if p.site_id != site_id]
        return self._m.sites.pop(site_id, None) is not None

    async def layout(self, site_id: str) -> SiteLayout | None:
        site = self._m.sites.get(site_id)
        if site is None:
            return None
        placed = sorted(
            (p for p in self._placements() if p.site_id == site_id),
            key=lambda p: p.charge_point_id,
        )
        circuits = sorted(self._m.circuits.get(site_id, ()), key=lambda c: c.id)
        return SiteLayout(site, tuple(circuits), tuple(placed))

    async def edit_layout(self, site_id: str, edit: LayoutEdit) -> SiteLayout:
        before = await self.layout(site_id)
        if before is None:
            raise NotFound(f"site {site_id!r} does not exist")
        after = edit(before)
        # One transaction: nothing is stored when any placement names an unknown charger.
        added = set(after.placements) - set(before.placements)
        for placement in added:
            self._check_known(placement.charge_point_id)
        self._m.circuits[site_id] = after.circuits
        for placement in added:
            self._m.placements[placement.charge_point_id] = placement
        return after

    async def placement(self, charge_point_id: str) -> Placement | None:
        if charge_point_id not in self._m.charge_points:
            return None
        return self._m.placements.get(charge_point_id, Placement(charge_point_id))

    async def set_placement(self, placement: Placement) -> None:
        self._check_known(placement.charge_point_id)
        self._m.placements[placement.charge_point_id] = placement

    def _placements(self) -> builtins.list[Placement]:
        """Only chargers that exist are placed: a placement is columns of their row."""
        return [p for cp, p in self._m.placements.items() if cp in self._m.charge_points]

    def _check_known(self, charge_point_id: str) -> None:
        if charge_point_id not in self._m.charge_points:
            raise NotFound(f"charge point {charge_point_id!r} is not registered")


class FakeTariffStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def add(self, tariff: Tariff) -> Tariff:
        if tariff.site_id not in self._m.sites:
            raise ForeignKeyViolation(f"site {tariff.site_id!r}")
        stored = replace(tariff, id=self._m.next_id("tariffs"), periods=())
        self._m.tariffs[stored.id or 0] = stored
        return stored

    async def get(self, site_id: str, tariff_id: int) -> Tariff | None:
        tariff = self._m.tariffs.get(tariff_id)
        return tariff if tariff is not None and tariff.site_id == site_id else None

    async def list(self, site_id: str, limit: int, offset: int) -> Page[Tariff]:
        found = [t for _, t in sorted(self._m.tariffs.items()) if t.site_id == site_id]
        return page(found, limit, offset)

    async def delete(self, site_id: str, tariff_id: int) -> bool:
        if await self.get(site_id, tariff_id) is None:
            return False
        del self._m.tariffs[tariff_id]
        self._m.prices.pop(tariff_id, None)
        return True

    async def replace_periods(self, tariff_id: int, periods: Sequence[PricePeriod]) -> int:
        if not periods:
            return 0
        start = min(period.start for period in periods)
        end = max(period.end for period in periods)
        stored = self._m.prices.get(tariff_id, [])
        kept = [p for p in stored if not (p.start < end and p.end > start)]
        self._m.prices[tariff_id] = [*kept, *periods]
        return len(stored) - len(kept)

    async def periods(
        self,
        tariff_id: int,
        start: datetime | None,
        end: datetime | None,
        limit: int | None,
        offset: int = 0,
    ) -> Page[PricePeriod]:
        found = [
            p
            for p in self._m.prices.get(tariff_id, [])
            if (start is None or p.end > start) and (end is None or p.start < end)
        ]
        return page(sorted(found, key=lambda p: p.start), limit, offset)


class FakeSeriesStore:
    """Points are appended, never updated; of equal timestamps the newest is in force."""

    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def add(
        self, site_id: str, kind: SeriesKind, points: Sequence[Point], at: datetime
    ) -> None:
        for point in points:
            self._m.series.append(
                StoredSeriesPoint(site_id, kind, point, at, self._m.next_id("series"))
            )

    async def points(
        self,
        site_id: str,
        kind: SeriesKind,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> Page[Point]:
        newest: dict[datetime, StoredSeriesPoint] = {}
        for stored in self._of(site_id, kind):
            moment = stored.point.timestamp
            if (start is None or moment >= start) and (end is None or moment < end):
                newest[moment] = stored  # appended in id order: later replaces earlier
        ordered = [newest[moment].point for moment in sorted(newest)]
        return page(ordered, limit, offset)

    async def window(
        self, site_id: str, kind: SeriesKind, start: datetime, end: datetime
    ) -> list[Point]:
        mine = sorted(self._of(site_id, kind), key=lambda s: (s.point.timestamp, s.id))
        before = [s.point for s in mine if s.point.timestamp < start][-1:]
        inside = [s.point for s in mine if start <= s.point.timestamp < end]
        return [*before, *inside]

    def _of(self, site_id: str, kind: SeriesKind) -> list[StoredSeriesPoint]:
        return [s for s in self._m.series if s.site_id == site_id and s.kind is kind]


class FakeDriverProfileStore:
    """A binding names the tag as it spells itself; a lookup finds it by any spelling."""

    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def add(self, profile: DriverProfile) -> DriverProfile:
        spellings = self._check_bindable(None, profile.id_tags)  # a new profile owns no tag
        profile_id = self._m.next_id("driver_profiles")
        self._m.drivers[profile_id] = replace(profile, id=profile_id, id_tags=())
        for tag in spellings:
            self._m.driver_tags[tag] = profile_id
        return self._get(profile_id)

    async def get(self, profile_id: int) -> DriverProfile | None:
        return self._get(profile_id) if profile_id in self._m.drivers else None

    async def list(self, limit: int, offset: int) -> Page[DriverProfile]:
        return page([self._get(i) for i in sorted(self._m.drivers)], limit, offset)

    async def replace(self, profile: DriverProfile) -> None:
        assert profile.id is not None
        profile_id = profile.id
        if profile_id not in self._m.drivers:
            return  # an UPDATE of no row (binding would fail its foreign key first in SQL)
        kept = self._check_bindable(profile_id, profile.id_tags)
        self._m.drivers[profile_id] = replace(
            profile, id_tags=(), created_at=self._m.drivers[profile_id].created_at
        )
        for tag, owner in list(self._m.driver_tags.items()):
            if owner == profile_id and tag not in kept:
                del self._m.driver_tags[tag]
        for tag in kept:
            self._m.driver_tags[tag] = profile_id

    async def delete(self, profile_id: int) -> bool:
        if self._m.drivers.pop(profile_id, None) is None:
            return False
        for tag, owner in list(self._m.driver_tags.items()):
            if owner == profile_id:
                del self._m.driver_tags[tag]
        return True

    async def bind(self, profile_id: int, id_tag: str) -> None:
        if profile_id not in self._m.drivers:
            raise NotFound(f"driver profile {profile_id} does not exist")
        for tag in self._check_bindable(profile_id, [id_tag]):
            self._m.driver_tags[tag] = profile_id

    async def unbind(self, profile_id: int, id_tag: str) -> bool:
        tag = self._m.id_tag(id_tag)
        if tag is None or self._m.driver_tags.get(tag.id_tag) != profile_id:
            return False
        del self._m.driver_tags[tag.id_tag]
        return True

    async def by_id_tag(self, id_tag: str) -> DriverProfile | None:
        tag = self._m.id_tag(id_tag)
        profile_id = None if tag is None else self._m.driver_tags.get(tag.id_tag)
        return None if profile_id is None else self._get(profile_id)

    async def by_id_tags(self, id_tags: Sequence[str]) -> dict[str, DriverProfile]:
        found = {}
        for spelling in id_tags:
            profile = await self.by_id_tag(spelling)
            if profile is not None:
                found[fold(spelling)] = profile
        return found

    def _check_bindable(
        self, profile_id: int | None, spellings: Sequence[str]
    ) -> builtins.list[str]:
        """The tags' own spellings; Invalid for an unknown tag, Conflict for one bound to
        another profile, before anything is stored (one transaction in SQL)."""
        bound = []
        for spelling in spellings:
            tag = self._m.id_tag(spelling)
            if tag is None:
                raise Invalid(f"id tag {spelling!r} does not exist: create it first")
            owner = self._m.driver_tags.get(tag.id_tag)
            if owner is not None and owner != profile_id:
                raise Conflict(f"id tag {tag.id_tag!r} is already bound to driver profile {owner}")
            bound.append(tag.id_tag)
        return bound

    def _get(self, profile_id: int) -> DriverProfile:
        tags = tuple(tag for tag, owner in self._m.driver_tags.items() if owner == profile_id)
        return replace(self._m.drivers[profile_id], id_tags=tags)


class FakeNeedStore:
    def __init__(self, memory: Memory) -> None:
        self._m = memory

    async def put(self, need: SessionNeed) -> None:
        if need.transaction_id is not None:
            if need.transaction_id not in self._m.transactions:
                raise ForeignKeyViolation(f"transaction {need.transaction_id}")
            self._m.transaction_needs[need.transaction_id] = need
            return
        assert need.id_tag is not None
        tag = self._m.id_tag(need.id_tag)
        if tag is None or tag.id_tag != need.id_tag:  # the key is the tag's own spelling
            raise ForeignKeyViolation(f"id tag {need.id_tag!r}")
        self._m.id_tag_needs[need.id_tag] = need

    async def for_transaction(self, transaction_id: int) -> SessionNeed | None:
        return self._m.transaction_needs.get(transaction_id)

    async def for_id_tag(self, id_tag: str) -> SessionNeed | None:
        tag = self._m.id_tag(id_tag)
        return None if tag is None else self._m.id_tag_needs.get(tag.id_tag)

    async def for_transactions(self, transaction_ids: Sequence[int]) -> dict[int, SessionNeed]:
        needs = self._m.transaction_needs
        return {i: needs[i] for i in transaction_ids if i in needs}

    async def for_id_tags(self, id_tags: Sequence[str]) -> dict[str, SessionNeed]:
        found = {}
        for spelling in id_tags:
            need = await self.for_id_tag(spelling)
            if need is not None:
                found[fold(spelling)] = need
        return found

    async def histories(self, id_tags: Sequence[str], limit: int) -> dict[str, list[PastSession]]:
        found = {}
        for spelling in id_tags:
            sessions = await self.history([spelling], limit)
            if sessions:
                found[fold(spelling)] = sessions
        return found

    async def delete_for_transaction(self, transaction_id: int) -> bool:
        return self._m.transaction_needs.pop(transaction_id, None) is not None

    async def delete_for_id_tag(self, id_tag: str) -> bool:
        tag = self._m.id_tag(id_tag)
        return tag is not None and self._m.id_tag_needs.pop(tag.id_tag, None) is not None

    async def history(self, id_tags: Sequence[str], limit: int) -> list[PastSession]:
        """A charger names a tag as it likes: sessions are found by any spelling."""
        wanted = {fold(tag) for tag in id_tags}
        finished = [
            t
            for t in self._m.transactions.values()
            if fold(t.id_tag) in wanted and t.stopped_at is not None
        ]
        newest_first = sorted(finished, key=lambda t: t.started_at, reverse=True)[:limit]
        return [
            PastSession(t.started_at, t.stopped_at, energy_wh(t.meter_start, t.meter_stop) or 0)
            for t in newest_first
            if t.stopped_at is not None
        ]
