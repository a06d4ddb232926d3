"""Smart charging keeps each site's charger modes between replans until a mode changes. A
read that a change overtakes (begun before the change committed, ended after it) must not
be kept: its chargers would be planned in their old mode until the next change."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ampnexus.domain.charging_mode import (
    ChargingMode,
    EffectiveMode,
    ModeSource,
    RegulationSettings,
)
from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.services.smart_charging.modes import ModeRules

LAYOUT = SiteLayout(Site("S", "Home", "Europe/London"), placements=(Placement("CP-1", "S"),))


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 1, 12, tzinfo=UTC)


class SlowModes:
    """The store: each read returns what was committed when it began, and the first one
    waits until `release` is set."""

    def __init__(self) -> None:
        self.mode = ChargingMode.SMART
        self.reads = 0
        self.release = asyncio.Event()

    async def effective_on_site(
        self, site_id: str, default_mode: ChargingMode | None, charge_point_ids: Sequence[str]
    ) -> Mapping[str, EffectiveMode]:
        self.reads += 1
        mode = self.mode
        if self.reads == 1:
            await self.release.wait()
        settings = RegulationSettings() if mode is ChargingMode.REGULATION_COMPLIANCE else None
        return {c: EffectiveMode(c, mode, settings, ModeSource.CHARGER) for c in charge_point_ids}


def rules(store: SlowModes) -> ModeRules:
    return ModeRules(
        modes=store,
        commands=None,  # type: ignore[arg-type]
        presence=None,  # type: ignore[arg-type]
        clock=Clock(),
        keys=None,  # type: ignore[arg-type]
    )


async def test_a_read_overtaken_by_a_mode_change_is_not_kept() -> None:
    store = SlowModes()
    modes = rules(store)
    reading = asyncio.create_task(modes.of_site(LAYOUT))
    await asyncio.sleep(0)  # the read has begun, with the old mode
    store.mode = ChargingMode.REGULATION_COMPLIANCE  # committed ...
    modes.changed("S")  # ... and announced while the read is still out
    store.release.set()
    assert (await reading)["CP-1"].mode is ChargingMode.SMART  # what it read
    assert (await modes.of_site(LAYOUT))["CP-1"].mode is ChargingMode.REGULATION_COMPLIANCE
    assert store.reads == 2


async def test_modes_are_kept_between_replans_while_nothing_changes() -> None:
    store = SlowModes()
    store.release.set()
    modes = rules(store)
    await modes.of_site(LAYOUT)
    await modes.of_site(LAYOUT)
    assert store.reads == 1
    modes.changed("S")
    await modes.of_site(LAYOUT)
    assert store.reads == 2
