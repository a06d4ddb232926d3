"""A site's demand-response events in a real browser: a real OpenADR VTN (openleadr's
`OpenADRServer` on localhost) sends an event; the site's page lists it (signal, what it
asks, when in the site's time zone, the answer, its status), the plan chart's cap keeps to
it, and a second event appears without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from ampnexus.app import AmpNexus
from tests.browser.conftest import ADMIN, SCREENSHOTS, screenshot, sign_in
from tests.browser.test_portal_access import axe_violations, fits_width
from tests.browser.test_portal_sessions import chart_data, ok
from tests.integration.test_smart_charging import eventually
from tests.support.charger import charger
from tests.support.vtn import serving_vtn

pytestmark = [
    pytest.mark.settings(replan_interval=3600.0),  # only the events reshape the plan
    pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey"),
]

SLOT = timedelta(minutes=15)
ZONE = ZoneInfo("Europe/Paris")
WAIT_S = 20.0


def next_slot(after: timedelta) -> datetime:
    start = datetime.now(UTC) + after
    return start - timedelta(seconds=start.timestamp() % SLOT.total_seconds(), microseconds=0)


async def test_a_sites_page_lists_its_events_and_its_plan_keeps_to_them(
    server: AmpNexus, portal: str, page: Page, api: httpx.AsyncClient
) -> None:
    site = {"id": "depot", "name": "Depot", "time_zone": "Europe/Paris", "grid_limit_kw": 22}
    await ok(await api.post("/sites", json=site))
    await ok(await api.post("/charge-points", json={"id": "CP-DR", "security_profile": 0}))
    await ok(await api.put("/charge-points/CP-DR", json={"site_id": "depot", "phases": 3}))
    async with (
        serving_vtn() as vtn,
        charger(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", "CP-DR") as cp,
    ):
        cp.configuration["NumberOfConnectors"] = ("1", True)  # no EV expected beside it
        await cp.boot()
        await cp.status(1, "Charging")
        await cp.start_transaction(1, "FLEET-1", 0)
        program = {"id": "flex", "vtn_url": vtn.url, "ven_name": "depot", "site_ids": ["depot"]}
        await ok(
            await api.post("/demand-response/programs", json={**program, "poll_interval_s": 1})
        )
        start = next_slot(SLOT)
        level = vtn.add("SIMPLE", "level", 2, start, timedelta(hours=1))
        await eventually(lambda: _answered(api, 1), within=WAIT_S)

        await sign_in(page, portal, *ADMIN)
        await page.goto(f"{portal}/sites/depot")
        section = page.locator("#site-demand-response")
        row = section.get_by_role("row", name=f"flex {level}")
        await expect(row).to_contain_text("SIMPLE level")
        local = start.astimezone(ZONE)
        until = (start + timedelta(hours=1)).astimezone(ZONE)
        when = f"{local:%Y-%m-%d %H:%M}\u2013{until:%H:%M}"
        await expect(row).to_contain_text(f"{when}: level 2: sheds 60 % of the flexible EV load")
        await expect(row).to_contain_text("opted in (participating)")
        await expect(row).to_contain_text("shapes the plan")

        # The chart's cap is the plan's: lowered in the event's slots, the site's elsewhere.
        await expect(page.locator("#plan-chart canvas")).to_be_visible()
        labels = await page.evaluate(
            "() => document.getElementById('plan-chart')._spec.series.map(s => s.label)"
        )
        data = await chart_data(page, "plan-chart")
        times, cap = data[0], data[labels.index("Cap") + 1]
        during = [c for t, c in zip(times, cap, strict=True) if _within(t, start)]
        outside = [c for t, c in zip(times, cap, strict=True) if not _within(t, start)]
        assert len(during) == 4 and outside, (times, cap)
        assert max(c for c in during if c is not None) < 22.0 and set(outside) == {22.0}

        # A second event, while the page is open: its part reloads with it.
        later = start + timedelta(hours=2)
        dispatch = vtn.add("LOAD_DISPATCH", "setpoint", 5.0, later, timedelta(minutes=30))
        await expect(section.get_by_role("row", name=f"flex {dispatch}")).to_contain_text(
            "EV load at most 5 kW", timeout=WAIT_S * 1000
        )
        assert await axe_violations(page) == []
        await screenshot(page, "site-demand-response")
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await fits_width(page)
        await section.scroll_into_view_if_needed()
        await page.screenshot(path=str(SCREENSHOTS / "site-demand-response-phone.png"))


def _within(timestamp: float | None, start: datetime) -> bool:
    """Whether the chart's slot (its start, in seconds) is one of the event's hour."""
    assert timestamp is not None
    at = datetime.fromtimestamp(timestamp, UTC)
    return start <= at < start + timedelta(hours=1)


async def _answered(api: httpx.AsyncClient, count: int) -> bool:
    events = (await api.get("/demand-response/events")).json()["items"]
    return len(events) >= count and all(e["opt"] == "optIn" for e in events)
