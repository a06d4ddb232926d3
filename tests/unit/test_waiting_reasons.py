"""Why a session is planned nothing now, as the plan, the portal and plan.updated say it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ampnexus.charging.model import (
    Circuit,
    Plan,
    PlanRequest,
    Session,
    SiteSeries,
    SlotExplanation,
    SlotGrid,
)
from ampnexus.services.smart_charging.model import SessionRule, SitePlan

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def site_plan(
    power: tuple[float, ...],
    prices: tuple[float, ...] = (),
    solar: tuple[float, ...] = (0.0, 0.0),
    binding: str | None = None,
    rule: SessionRule | None = None,
) -> SitePlan:
    grid = SlotGrid(NOW, 900, len(power))
    session = Session("s1", "site", NOW, NOW + timedelta(hours=8), 10_000, 11_000)
    request = PlanRequest(
        grid,
        (Circuit("site", None, 22_000),),
        (session,),
        SiteSeries(import_price=prices, solar_w=solar),
    )
    slots = tuple(
        SlotExplanation(
            22_000, 0.0, solar[i], prices[i] if prices else None, binding if i == 0 else None
        )
        for i in range(len(power))
    )
    plan = Plan(grid, {"s1": power}, {"s1": 0.0}, "highs", 1.0, slots)
    rules = {} if rule is None else {"s1": rule}
    return SitePlan("site", NOW, request, plan, {"s1": ("CP-1", 1, 7)}, rules=rules)


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        (site_plan((7_000.0, 7_000.0)), None),  # it charges now
        (site_plan((0.0, 0.0)), None),  # nothing planned at all: it needs nothing more
        (site_plan((0.0, 7_000.0), prices=(0.30, 0.10)), "waiting_for_price"),
        (site_plan((0.0, 7_000.0), solar=(0.0, 5_000.0)), "waiting_for_solar"),
        (site_plan((0.0, 7_000.0), binding="site power"), "limit_reached"),
        # Later but no cheaper (no tariff, or the same price): the plan's own choice.
        (site_plan((0.0, 7_000.0)), "planned_later"),
        (site_plan((0.0, 7_000.0), prices=(0.20, 0.20)), "planned_later"),
        (
            site_plan(
                (0.0, 7_000.0),
                prices=(0.30, 0.10),
                rule=SessionRule(
                    "regulation_compliance",
                    blocked=((NOW, NOW + timedelta(hours=1), "peak_window"),),
                ),
            ),
            "peak_window",  # the mode comes first
        ),
    ],
)
def test_the_reason_a_session_waits(plan: SitePlan, reason: str | None) -> None:
    assert plan.waiting_reason("s1") == reason
