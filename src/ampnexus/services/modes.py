"""Charging modes: each charger's own, or its site's default, or smart; set, checked and
recorded with who set them (ADR 0009). What a mode makes a charger do is smart charging's
part: it hears of every change as ModeChanged (a site's default as SiteChanged)."""

from __future__ import annotations

from collections.abc import Sequence

from ampnexus.domain.charge_point import ChargePoint
from ampnexus.domain.charging_mode import (
    ChargingMode,
    EffectiveMode,
    ModeChange,
    ModeSetting,
    ModeSettings,
    check_secure,
    effective_mode,
)
from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import ModeChanged
from ampnexus.domain.time import Clock
from ampnexus.services.ports import ChargePointStore, EventPublisher, ModeStore, Page, SiteStore


class ModeService:
    def __init__(
        self,
        store: ModeStore,
        charge_points: ChargePointStore,
        sites: SiteStore,
        clock: Clock,
        events: EventPublisher | None = None,
    ) -> None:
        self._store = store
        self._charge_points = charge_points
        self._sites = sites
        self._clock = clock
        self._events = events

    async def effective(self, charge_point_id: str) -> EffectiveMode:
        """The mode the charger is in: its own, else its site's default_mode, else smart."""
        charger = await self._charger(charge_point_id)
        return await self._effective(charger, await self._store.get(charge_point_id))

    async def effective_on_site(
        self, site_id: str, default_mode: ChargingMode | None, charge_point_ids: Sequence[str]
    ) -> dict[str, EffectiveMode]:
        """The effective modes of a site's chargers, read in one query (smart charging asks
        on every replan)."""
        found = await self._store.get_many(charge_point_ids)
        return {
            charger: effective_mode(charger, security, own, site_id, default_mode)
            for charger, (security, own) in found.items()
        }

    async def set(
        self,
        charge_point_id: str,
        mode: ChargingMode,
        settings: ModeSettings | None,
        changed_by: str,
    ) -> EffectiveMode:
        """Give the charger its own mode. InsecureCharger (nothing changes) for regulation
        mode on a charger that connects without authentication. Setting what is already
        set records nothing."""
        charger = await self._charger(charge_point_id)
        check_secure(charge_point_id, charger.security_profile, mode)
        setting = ModeSetting(charge_point_id, mode, settings, changed_by, self._clock.now())
        current = await self._store.get(charge_point_id)
        if setting.same_as(current):
            return await self._effective(charger, current)
        await self._store.put(setting)
        self._changed(charge_point_id, setting.mode)
        return await self._effective(charger, setting)

    async def clear(self, charge_point_id: str, changed_by: str) -> EffectiveMode:
        """Remove the charger's own mode: it follows its site's default again."""
        charger = await self._charger(charge_point_id)
        if await self._store.clear(charge_point_id, changed_by, self._clock.now()) is not None:
            self._changed(charge_point_id, None)
        return await self._effective(charger, None)

    async def history(self, charge_point_id: str, limit: int, offset: int) -> Page[ModeChange]:
        """Who changed the charger's own mode when, newest first. The trail outlives the
        charger, so a deleted one's can still be read."""
        return await self._store.history(charge_point_id, limit, offset)

    async def _effective(self, charger: ChargePoint, own: ModeSetting | None) -> EffectiveMode:
        site = None if charger.site_id is None else await self._sites.get(charger.site_id)
        return effective_mode(
            charger.id,
            charger.security_profile,
            own,
            charger.site_id,
            None if site is None else site.default_mode,
        )

    async def _charger(self, charge_point_id: str) -> ChargePoint:
        charger = await self._charge_points.get(charge_point_id)
        if charger is None:
            raise NotFound(f"charge point {charge_point_id!r} is not registered")
        return charger

    def _changed(self, charge_point_id: str, mode: ChargingMode | None) -> None:
        if self._events is not None:
            at = self._clock.now()
            self._events.publish(ModeChanged(charge_point_id, mode and mode.value, at))
