"""The fail-safe share each charger holds with AmpNexus unreachable."""

from __future__ import annotations

from ampnexus.domain.site import Placement, Site, SiteLayout
from ampnexus.services.smart_charging import fail_safe_share_w


def test_the_fail_safe_shares_leave_room_for_the_building() -> None:
    # 36 kW, six chargers: 6 kW each alone; with a 12 kW building, 4 kW each (under 6 A on
    # three phases: nothing); with 8 kW, 28/6 = 4.67 kW each.
    site = Site("S", "s", "UTC", 36_000.0)
    placements = [Placement(f"CP-{n}", "S", phases=3, max_power_w=22_000.0) for n in range(6)]
    layout = SiteLayout(site, (), tuple(placements))
    assert fail_safe_share_w(layout, placements[0]) == 6_000.0
    assert fail_safe_share_w(layout, placements[0], building_w=12_000.0) == 0.0
    assert fail_safe_share_w(layout, placements[0], building_w=8_000.0) == 28_000.0 / 6
