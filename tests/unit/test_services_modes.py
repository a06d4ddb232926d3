"""ModeService: a charger's own mode, else its site's default, else smart; set with who and
when, refused for an insecure charger in regulation mode, every change on the trail."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ampnexus.domain.charge_point import ChargePoint, RegistrationStatus
from ampnexus.domain.charging_mode import (
    ChargingMode,
    InsecureCharger,
    ModeChoice,
    ModeSource,
    RegulationSettings,
    ScheduleSettings,
    parse_window,
)
from ampnexus.domain.errors import NotFound
from ampnexus.domain.events import ModeChanged
from ampnexus.domain.site import Placement, Site
from ampnexus.services.modes import ModeService
from tests.fakes import Fakes

REGULATION = ChargingMode.REGULATION_COMPLIANCE
NIGHTS = ScheduleSettings((parse_window(["mon", "tue"], "23:00", "07:00"),), energy_wh=20_000.0)


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    now = fakes.clock.now()
    for charge_point_id, profile in (("CP-1", 1), ("CP-OPEN", 0)):
        charger = ChargePoint(charge_point_id, profile, RegistrationStatus.ACCEPTED, created_at=now)
        await fakes.charge_points.add(charger)
    return fakes


@pytest.fixture
def modes(fakes: Fakes) -> ModeService:
    return ModeService(fakes.modes, fakes.charge_points, fakes.sites, fakes.clock, fakes.events)


async def test_a_charger_without_a_mode_is_smart(modes: ModeService) -> None:
    effective = await modes.effective("CP-1")
    assert (effective.mode, effective.source, effective.own) == (
        ChargingMode.SMART,
        ModeSource.DEFAULT,
        None,
    )


async def test_a_mode_set_is_kept_with_who_and_when_and_published(
    fakes: Fakes, modes: ModeService
) -> None:
    settings = RegulationSettings(random_delay_max_s=1200)
    effective = await modes.set("CP-1", REGULATION, settings, "site-owner")
    assert (effective.mode, effective.settings, effective.source) == (
        REGULATION,
        settings,
        ModeSource.CHARGER,
    )
    assert effective.own is not None
    assert (effective.own.changed_by, effective.own.changed_at) == ("site-owner", fakes.clock.now())
    assert await modes.effective("CP-1") == effective
    assert fakes.events.of(ModeChanged) == [
        ModeChanged("CP-1", "regulation_compliance", fakes.clock.now())
    ]


async def test_every_change_is_on_the_trail_newest_first(fakes: Fakes, modes: ModeService) -> None:
    await modes.set("CP-1", ChargingMode.SCHEDULE, NIGHTS, "ann")
    fakes.clock.advance(minutes=5)
    await modes.set("CP-1", ChargingMode.USER_CONTROLLED, None, "ben")
    await modes.set("CP-1", ChargingMode.USER_CONTROLLED, None, "cy")  # no change: not recorded
    fakes.clock.advance(minutes=5)
    await modes.clear("CP-1", "dee")
    await modes.clear("CP-1", "eve")  # nothing to remove: not recorded
    trail = await modes.history("CP-1", 10, 0)
    assert trail.total == 3
    user, nights = (
        ModeChoice(ChargingMode.USER_CONTROLLED),
        ModeChoice(ChargingMode.SCHEDULE, NIGHTS),
    )
    assert [(c.changed_by, c.before, c.after) for c in trail.items] == [
        ("dee", user, None),
        ("ben", nights, user),
        ("ann", None, nights),
    ]
    assert trail.items[0].changed_at - trail.items[2].changed_at == timedelta(minutes=10)
    assert [e.mode for e in fakes.events.of(ModeChanged)] == ["schedule", "user_controlled", None]
    assert (await modes.effective("CP-1")).source is ModeSource.DEFAULT


async def test_a_charger_follows_its_sites_default_until_it_has_its_own(
    fakes: Fakes, modes: ModeService
) -> None:
    await fakes.sites.add(Site("depot", "Depot", "Europe/London", default_mode=REGULATION))
    await fakes.sites.set_placement(Placement("CP-1", "depot"))
    by_site = await modes.effective("CP-1")
    assert (by_site.mode, by_site.source, by_site.site_id) == (REGULATION, "site", "depot")
    assert by_site.settings == RegulationSettings()  # the Regulations' defaults
    await modes.set("CP-1", ChargingMode.PLUG_AND_CHARGE, None, "ann")
    assert (await modes.effective("CP-1")).source is ModeSource.CHARGER


async def test_an_insecure_charger_is_refused_regulation_mode_and_nothing_changes(
    fakes: Fakes, modes: ModeService
) -> None:
    await modes.set("CP-OPEN", ChargingMode.USER_CONTROLLED, None, "ann")
    fakes.events.clear()
    with pytest.raises(InsecureCharger, match="security profile 0"):
        await modes.set("CP-OPEN", REGULATION, RegulationSettings(), "ann")
    assert (await modes.effective("CP-OPEN")).mode is ChargingMode.USER_CONTROLLED
    assert (await modes.history("CP-OPEN", 10, 0)).total == 1
    assert fakes.events.published == []


async def test_an_insecure_charger_on_a_regulation_site_charges_as_smart_and_says_why(
    fakes: Fakes, modes: ModeService
) -> None:
    await fakes.sites.add(Site("depot", "Depot", "Europe/London", default_mode=REGULATION))
    await fakes.sites.set_placement(Placement("CP-OPEN", "depot"))
    effective = await modes.effective("CP-OPEN")
    assert effective.mode is ChargingMode.SMART
    assert effective.note is not None and "security profile 0" in effective.note


async def test_an_unknown_charger_has_no_mode(modes: ModeService) -> None:
    with pytest.raises(NotFound, match="GHOST"):
        await modes.effective("GHOST")
    with pytest.raises(NotFound, match="GHOST"):
        await modes.set("GHOST", ChargingMode.SMART, None, "ann")
    with pytest.raises(NotFound, match="GHOST"):
        await modes.clear("GHOST", "ann")


async def test_the_trail_outlives_the_charger(fakes: Fakes, modes: ModeService) -> None:
    await modes.set("CP-1", ChargingMode.USER_CONTROLLED, None, "ann")
    await fakes.charge_points.delete("CP-1")
    assert await fakes.modes.get("CP-1") is None
    assert (await modes.history("CP-1", 10, 0)).total == 1
